//! Configuration from the environment (API.md "Running it").

use std::fmt;
use std::path::PathBuf;

/// A secret that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub rules_dir: PathBuf,
    pub admin_key: Option<Secret>,
    pub provincial_url: Option<String>,
    /// `CREDITGATE_PROVINCIAL_KEY_ID`: the city's key id at the platform (default `city`).
    pub provincial_key_id: String,
    /// `CREDITGATE_PROVINCIAL_SECRET`: the shared secret, hex (at least 16 bytes).
    pub provincial_secret: Option<Secret>,
    /// `CREDITGATE_PROVINCIAL_CA`: a PEM file of CA certificates the platform's certificate may
    /// chain to, besides the Mozilla roots compiled in (a government network's own CA).
    pub provincial_ca: Option<PathBuf>,
    /// `CREDITGATE_PROVINCIAL_INSECURE=1`: allow an `http://` platform (the simulator, tests).
    /// Without it only `https://` is accepted: pushed records carry ID numbers.
    pub provincial_insecure: bool,
    /// `CREDITGATE_SYNC_INTERVAL`: seconds between sync runs beside the server.
    pub sync_interval_secs: u64,
    /// `CREDITGATE_SYNC_STALE_AFTER`: seconds after the last successful pull at which `/readyz`
    /// reports the provincial data as stale.
    pub sync_stale_after_secs: u64,
    /// `CREDITGATE_PROVINCIAL_TIMEOUT`: seconds one request to the platform may take.
    pub provincial_timeout_secs: u64,
    pub max_body_bytes: usize,
    pub db_pool_size: u32,
    /// Subject profiles held in process without Redis (`service::signals`).
    pub profile_cache_entries: usize,
    pub cache_prefix: String,
    /// `CREDITGATE_DATA_KEY`: 64 hex characters, the master key for natural persons' ID numbers.
    pub data_key: Option<Secret>,
    /// `CREDITGATE_RATE_LIMIT`: requests per key per minute; 0 turns the limit off.
    pub rate_limit_per_minute: u64,
    /// `CREDITGATE_AUTH_FAILURES`: failed authentications one client address may make in a
    /// minute (per instance) before it is answered 429 without a key lookup; 0 turns it off.
    pub failed_auth_per_minute: u64,
    /// `CREDITGATE_REGISTRATION_SOURCES`: the source codes of the registration authorities,
    /// comma-separated (default `SCJG`, the market regulator). Under 一数一源 only their records
    /// (and records pulled from the provincial platform) set a subject's name, kind and legal
    /// representative; a record from anyone else carries the names it gives but does not change
    /// the subject.
    pub registration_sources: Vec<String>,
    /// `CREDITGATE_PUBLIC_URL`: the address people reach the service at (`https://credit.example.gov.cn`),
    /// for the verify link in a printed report's QR code. Unset: the address the request came to.
    pub public_url: Option<String>,
    /// `CREDITGATE_PDF_FONT`: a CJK font file (OTF, TTF or TTC; `PATH#INDEX` for a collection)
    /// for printed reports, such as Debian's `NotoSansCJK-Regular.ttc#2`. Unset: the embedded Noto
    /// Sans SC subset (GB 2312 and ASCII); characters outside it print as boxes.
    pub pdf_font: Option<String>,
    /// `CREDITGATE_TRUSTED_PROXIES`: reverse proxies (IP addresses) whose `X-Forwarded-For`
    /// and `X-Forwarded-Proto` are believed; unset: none, the TCP peer is the client.
    pub trusted_proxies: crate::api::client::TrustedProxies,
    /// `CREDITGATE_WEBHOOK_ALLOW` (host patterns a webhook may be sent to; none by default) and
    /// `CREDITGATE_WEBHOOK_INSECURE` (`1`: `http://` targets too).
    pub webhook_allow: crate::domain::webhook::AllowList,
    /// `CREDITGATE_BULK_RETENTION_DAYS`: days a bulk-check job and its result are kept after
    /// submission (1 to 366; the reports of its lines are kept as any report).
    pub bulk_retention_days: u32,
    /// `CREDITGATE_AUDIT_CHECKPOINTS`: a directory outside the database where the sealer writes
    /// signed checkpoints of the access-log chain (`service::audit::checkpoint`); unset: none.
    pub audit_checkpoints: Option<PathBuf>,
    /// `CREDITGATE_AUDIT_CHECKPOINT_SECONDS`: how often (10 to 86,400 s).
    pub audit_checkpoint_seconds: u64,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/creditgate.db";

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            database_url: DEFAULT_DATABASE_URL.into(),
            redis_url: None,
            rules_dir: PathBuf::from("rules"),
            admin_key: None,
            provincial_url: None,
            provincial_key_id: "city".into(),
            provincial_secret: None,
            provincial_ca: None,
            provincial_insecure: false,
            sync_interval_secs: 60,
            // The platform publishes daily (REFERENCE.md §8); a day and a margin.
            sync_stale_after_secs: 26 * 3600,
            provincial_timeout_secs: 30,
            // 1000 records of a few KiB each fit well below this.
            max_body_bytes: 8 * 1024 * 1024,
            db_pool_size: 8,
            profile_cache_entries: 10_000,
            cache_prefix: "cg".into(),
            data_key: None,
            // 100 requests a second on average per key: far above a person's use, and a
            // runaway client is stopped.
            rate_limit_per_minute: 6000,
            failed_auth_per_minute: 30,
            registration_sources: vec!["SCJG".into()],
            public_url: None,
            pdf_font: None,
            trusted_proxies: Default::default(),
            webhook_allow: Default::default(),
            bulk_retention_days: 7,
            audit_checkpoints: None,
            audit_checkpoint_seconds: 60,
        }
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl Config {
    /// Reads `CREDITGATE_*` variables over the defaults; names the variable that is wrong.
    pub fn from_env() -> Result<Config, String> {
        let mut c = Config::default();
        if let Some(v) = var("CREDITGATE_BIND") {
            c.bind = v;
        }
        if let Some(v) = var("CREDITGATE_DATABASE_URL") {
            c.database_url = v;
        }
        c.redis_url = var("CREDITGATE_REDIS_URL");
        if let Some(v) = var("CREDITGATE_RULES_DIR") {
            c.rules_dir = PathBuf::from(v);
        }
        c.admin_key = var("CREDITGATE_ADMIN_KEY").map(Secret::new);
        c.provincial_url = var("CREDITGATE_PROVINCIAL_URL");
        c.data_key = var("CREDITGATE_DATA_KEY").map(Secret::new);
        if let Some(v) = var("CREDITGATE_PROVINCIAL_KEY_ID") {
            c.provincial_key_id = v;
        }
        c.provincial_secret = var("CREDITGATE_PROVINCIAL_SECRET").map(Secret::new);
        c.provincial_ca = var("CREDITGATE_PROVINCIAL_CA").map(PathBuf::from);
        c.provincial_insecure = match var("CREDITGATE_PROVINCIAL_INSECURE").as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(v) => {
                return Err(format!(
                    "CREDITGATE_PROVINCIAL_INSECURE is 1 (allow http:// for the platform) or 0, found '{v}'"
                ))
            }
        };
        for (name, slot) in [
            ("CREDITGATE_SYNC_INTERVAL", &mut c.sync_interval_secs),
            ("CREDITGATE_SYNC_STALE_AFTER", &mut c.sync_stale_after_secs),
            (
                "CREDITGATE_PROVINCIAL_TIMEOUT",
                &mut c.provincial_timeout_secs,
            ),
        ] {
            if let Some(v) = var(name) {
                *slot = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("{name} must be a positive number of seconds, found '{v}'")
                })?;
            }
        }
        if let Some(v) = var("CREDITGATE_MAX_BODY_BYTES") {
            c.max_body_bytes = v.parse().map_err(|_| {
                format!("CREDITGATE_MAX_BODY_BYTES must be a number of bytes, found '{v}'")
            })?;
        }
        if let Some(v) = var("CREDITGATE_DB_POOL_SIZE") {
            c.db_pool_size = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("CREDITGATE_DB_POOL_SIZE must be a positive number, found '{v}'")
            })?;
        }
        if let Some(v) = var("CREDITGATE_PROFILE_CACHE") {
            c.profile_cache_entries = v.parse().map_err(|_| {
                format!("CREDITGATE_PROFILE_CACHE must be a number of profiles (0: none held), found '{v}'")
            })?;
        }
        if let Some(v) = var("CREDITGATE_RATE_LIMIT") {
            c.rate_limit_per_minute = v.parse().map_err(|_| {
                format!("CREDITGATE_RATE_LIMIT must be a number of requests per minute (0: off), found '{v}'")
            })?;
        }
        if let Some(v) = var("CREDITGATE_AUTH_FAILURES") {
            c.failed_auth_per_minute = v.parse().map_err(|_| {
                format!("CREDITGATE_AUTH_FAILURES must be a number of failed authentications per address per minute (0: off), found '{v}'")
            })?;
        }
        if let Some(v) = var("CREDITGATE_REGISTRATION_SOURCES") {
            c.registration_sources = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = var("CREDITGATE_PUBLIC_URL") {
            let ok = (v.starts_with("https://") || v.starts_with("http://"))
                && !v.contains(['?', '#', ' ']);
            if !ok {
                return Err(format!("CREDITGATE_PUBLIC_URL must be an http(s) address without query, such as https://credit.example.gov.cn, found '{v}'"));
            }
            c.public_url = Some(v.trim_end_matches('/').to_string());
        }
        c.pdf_font = var("CREDITGATE_PDF_FONT");
        let insecure = var("CREDITGATE_WEBHOOK_INSECURE").is_some_and(|v| v == "1" || v == "true");
        c.webhook_allow = crate::domain::webhook::AllowList::parse(
            &var("CREDITGATE_WEBHOOK_ALLOW").unwrap_or_default(),
            insecure,
        )
        .map_err(|e| format!("CREDITGATE_WEBHOOK_ALLOW: {e}"))?;
        if let Some(v) = var("CREDITGATE_BULK_RETENTION_DAYS") {
            c.bulk_retention_days = v
                .parse()
                .ok()
                .filter(|d| (1..=366).contains(d))
                .ok_or_else(|| {
                    format!("CREDITGATE_BULK_RETENTION_DAYS must be a number of days from 1 to 366, found '{v}'")
                })?;
        }
        c.audit_checkpoints = var("CREDITGATE_AUDIT_CHECKPOINTS").map(PathBuf::from);
        if let Some(v) = var("CREDITGATE_AUDIT_CHECKPOINT_SECONDS") {
            c.audit_checkpoint_seconds = v
                .parse()
                .ok()
                .filter(|d| (10..=86_400).contains(d))
                .ok_or_else(|| {
                    format!("CREDITGATE_AUDIT_CHECKPOINT_SECONDS must be a number of seconds from 10 to 86400, found '{v}'")
                })?;
        }
        if let Some(v) = var("CREDITGATE_TRUSTED_PROXIES") {
            c.trusted_proxies = crate::api::client::TrustedProxies::parse(&v)?;
        }
        if let Some(v) = var("CREDITGATE_CACHE_PREFIX") {
            c.cache_prefix = v;
        }
        crate::store::backend_of(&c.database_url)
            .map_err(|e| format!("CREDITGATE_DATABASE_URL: {e}"))?;
        Ok(c)
    }
}
