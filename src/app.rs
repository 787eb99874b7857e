//! Building the application: context, migrations, listener (zero2prod's `Application::build`,
//! so tests can bind port 0).

use std::net::TcpListener;
use std::sync::{Arc, RwLock};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::api::{self, AppState, Metrics};
use crate::cache::{Cache, MemoryCache, RedisCache};
use crate::config::Config;
use crate::crypto::DataKeys;
use crate::service::sync::{self, SyncSetup};
use crate::service::{keys, Clock, Ctx, Db};
use crate::store;
use crate::sync::platform::{HttpPlatform, Platform};
use std::time::Duration;

/// Connects, migrates, loads the catalog and the cache: everything but the listener.
pub fn build_ctx(config: &Config, clock: Clock) -> anyhow::Result<Ctx> {
    let rules = crate::rules::load::load_dir(&config.rules_dir).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!(
            "the rule files in {} are not valid ({} problems; `creditgate rules check` lists them):\n{}",
            config.rules_dir.display(),
            errors.len(),
            lines.join("\n")
        )
    })?;

    let backend = store::backend_of(&config.database_url).map_err(anyhow::Error::msg)?;
    let keys = data_keys(config, backend)?;
    let pool =
        store::connect(&config.database_url, config.db_pool_size).map_err(anyhow::Error::msg)?;
    {
        let mut conn = pool.get().context("no database connection")?;
        let applied = crate::service::upgrade::migrate(&mut conn, &keys, clock.stamp())
            .map_err(anyhow::Error::msg)?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied migrations");
        }
        crate::service::checks::keep_rule_set(&mut conn, &rules, clock.stamp())
            .map_err(anyhow::Error::msg)?;
        if let Some(key) = &config.admin_key {
            keys::ensure_admin_key(&mut conn, key.expose(), clock.stamp())
                .map_err(anyhow::Error::msg)?;
        }
    }
    let cache: Arc<dyn Cache> = match &config.redis_url {
        Some(url) => Arc::new(RedisCache::new(url).map_err(anyhow::Error::msg)?),
        None => Arc::new(MemoryCache::new(100_000)),
    };
    tracing::info!(
        database = %store::redact_url(&config.database_url),
        cache = cache.kind(),
        rules = %rules.version,
        rules_digest = %rules.digest,
        "context ready"
    );
    Ok(Ctx {
        db: Db::new(pool, backend, &config.database_url),
        cache,
        cache_prefix: config.cache_prefix.clone(),
        rules: Arc::new(RwLock::new(Arc::new(rules))),
        rules_dir: config.rules_dir.clone(),
        keys: Arc::new(keys),
        report_numbers: Default::default(),
        sync_runner: Default::default(),
        writer: Default::default(),
        rate_limit_per_minute: config.rate_limit_per_minute,
        failed_auth_per_minute: config.failed_auth_per_minute,
        webhook_allow: Arc::new(config.webhook_allow.clone()),
        bulk_retention_days: config.bulk_retention_days,
        local_counters: Arc::new(MemoryCache::new(1)),
        registration_sources: Arc::new(config.registration_sources.clone()),
        memos: Arc::new(crate::service::signals::Memos::new(
            config.profile_cache_entries,
        )),
        clock,
    })
}

/// The keys for natural persons' ID numbers: from `CREDITGATE_DATA_KEY`; on the embedded
/// SQLite default without it, from a key file beside the database file (made on first start,
/// readable by the owner only), so the demo runs with no set-up. PostgreSQL needs the variable.
pub fn data_keys(config: &Config, backend: store::Backend) -> anyhow::Result<DataKeys> {
    if let Some(k) = &config.data_key {
        return DataKeys::parse(k.expose()).map_err(|e| anyhow::anyhow!("{e}"));
    }
    if backend != store::Backend::Sqlite {
        anyhow::bail!(
            "CREDITGATE_DATA_KEY is required with PostgreSQL: natural persons' ID numbers are stored encrypted under it; make one with `openssl rand -hex 32` and keep it outside the database"
        );
    }
    let db = std::path::Path::new(store::sqlite_path(&config.database_url));
    let file = db.with_file_name("creditgate.key");
    if let Ok(text) = std::fs::read_to_string(&file) {
        return DataKeys::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()));
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    write_private(&file, &key).with_context(|| format!("cannot write {}", file.display()))?;
    tracing::warn!(
        file = %file.display(),
        "made a data key for ID numbers beside the SQLite file; set CREDITGATE_DATA_KEY in production and keep the key apart from the data"
    );
    DataKeys::parse(&key).map_err(|e| anyhow::anyhow!("{e}"))
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(text.as_bytes())
}

/// The provincial platform of the configuration (the signed HTTP adapter); none while
/// `CREDITGATE_PROVINCIAL_URL` is unset.
pub fn platform(config: &Config) -> anyhow::Result<Option<Arc<dyn Platform>>> {
    let Some(url) = &config.provincial_url else {
        return Ok(None);
    };
    let secret = config.provincial_secret.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "CREDITGATE_PROVINCIAL_SECRET is required with CREDITGATE_PROVINCIAL_URL: the secret shared with the platform, in hex"
        )
    })?;
    let secret = parse_shared_secret(secret.expose())
        .map_err(|e| anyhow::anyhow!("CREDITGATE_PROVINCIAL_SECRET: {e}"))?;
    check_platform_url(url, config.provincial_insecure).map_err(anyhow::Error::msg)?;
    let ca = match &config.provincial_ca {
        None => None,
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            anyhow::anyhow!(
                "CREDITGATE_PROVINCIAL_CA: cannot read {}: {e}",
                path.display()
            )
        })?),
    };
    let p = HttpPlatform::new(
        url,
        &config.provincial_key_id,
        secret,
        Duration::from_secs(config.provincial_timeout_secs),
        ca.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    Ok(Some(Arc::new(p)))
}

/// Pushed records carry ID numbers: the platform is reached over `https://` only, unless
/// `CREDITGATE_PROVINCIAL_INSECURE=1` allows `http://` (the simulator, tests).
pub fn check_platform_url(url: &str, insecure: bool) -> Result<(), String> {
    if url.starts_with("https://") || (insecure && url.starts_with("http://")) {
        return Ok(());
    }
    if url.starts_with("http://") {
        return Err(format!(
            "CREDITGATE_PROVINCIAL_URL {url} is plain HTTP, which would carry ID numbers in clear: use https:// (with CREDITGATE_PROVINCIAL_CA for a private CA), or set CREDITGATE_PROVINCIAL_INSECURE=1 for the simulator"
        ));
    }
    Err(format!(
        "CREDITGATE_PROVINCIAL_URL {url} is not an https:// address"
    ))
}

/// A shared secret of the provincial protocol: hex, 16 bytes or more.
pub fn parse_shared_secret(text: &str) -> Result<Vec<u8>, String> {
    hex::decode(text.trim())
        .ok()
        .filter(|s| s.len() >= 16)
        .ok_or_else(|| "must be at least 16 bytes in hex (openssl rand -hex 32)".to_string())
}

pub fn sync_setup(config: &Config) -> SyncSetup {
    SyncSetup {
        url: config.provincial_url.clone(),
        stale_after: Duration::from_secs(config.sync_stale_after_secs),
    }
}

pub struct Application {
    port: u16,
    server: Server,
    /// Tells the sync worker to stop when the server has stopped.
    stop: tokio::sync::watch::Sender<bool>,
    worker: Option<tokio::task::JoinHandle<()>>,
    /// The watch-list delivery worker, stopped with the sync worker.
    deliverer: tokio::task::JoinHandle<()>,
    /// The bulk-check runner, stopped likewise (a chunk in its transaction is finished).
    bulk: tokio::task::JoinHandle<()>,
    /// The impact-analysis runner, stopped likewise (a page in its transaction is finished).
    impact: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Builds the server on `config.bind` (port 0 picks a free port).
    pub async fn build(config: &Config, clock: Clock) -> anyhow::Result<Application> {
        let cfg = config.clone();
        let ctx = tokio::task::spawn_blocking(move || build_ctx(&cfg, clock)).await??;
        Self::with_ctx(config, ctx)
    }

    pub fn with_ctx(config: &Config, ctx: Ctx) -> anyhow::Result<Application> {
        // The set this server checks with, in the rule history (nothing new when it is the last
        // set activated).
        {
            let mut conn = ctx.db.pool().get().context("no database connection")?;
            crate::service::rules::activate(
                &mut conn,
                &ctx.rules(),
                ctx.clock.stamp(),
                crate::service::rules::Activation::Startup,
            )
            .map_err(anyhow::Error::msg)?;
        }
        let listener = TcpListener::bind(&config.bind)
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let port = listener.local_addr()?.port();
        // Seals new access-log entries into the chain; one sealer at a time across instances.
        crate::service::audit::spawn_sealer(
            ctx.clone(),
            std::time::Duration::from_millis(500),
            config.audit_checkpoints.clone().map(|d| {
                (
                    d,
                    std::time::Duration::from_secs(config.audit_checkpoint_seconds),
                )
            }),
        );
        // Keeps this server's in-process callers, grants and agreements true to the database.
        crate::service::signals::spawn_listener(
            ctx.db.clone(),
            &ctx.memos,
            Duration::from_millis(100),
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        // The provincial sync beside the server; one runner at a time across instances.
        let worker = platform(config)?.map(|p| {
            tracing::info!(
                url = config.provincial_url.as_deref().unwrap_or_default(),
                interval_s = config.sync_interval_secs,
                "provincial sync on"
            );
            sync::spawn_worker(
                ctx.clone(),
                p,
                sync::Settings::default(),
                Duration::from_secs(config.sync_interval_secs),
                stopped,
            )
        });
        // Watch-list events to their targets; one deliverer at a time across instances.
        let sender =
            crate::hooks::Sender::new(Duration::from_secs(10)).map_err(anyhow::Error::msg)?;
        let deliverer = crate::service::watchlists::worker::spawn(
            ctx.clone(),
            sender,
            Default::default(),
            stop.subscribe(),
        );
        // Bulk-check jobs; one runner at a time across instances.
        let bulk = crate::service::bulk_checks::worker::spawn(ctx.clone(), stop.subscribe());
        // Impact analyses of candidate rule sets; one runner at a time across instances.
        let impact = crate::service::impact::jobs::spawn(ctx.clone(), stop.subscribe());
        let pdf_font = crate::console::pdf::ReportFont::load(config.pdf_font.as_deref())
            .map_err(anyhow::Error::msg)
            .context("CREDITGATE_PDF_FONT")?;
        let state = web::Data::new(AppState {
            ctx,
            metrics: Metrics::new().context("metrics registry")?,
            max_body_bytes: config.max_body_bytes,
            public_url: config.public_url.clone(),
            proxies: config.trusted_proxies.clone(),
            pdf_font,
            sync: sync_setup(config),
            readiness: Default::default(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(from_fn(api::gate::gate))
                .wrap(from_fn(api::observe))
                .wrap(tracing_actix_web::TracingLogger::default())
                .configure(crate::console::configure)
                .configure(api::configure)
        })
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            stop,
            worker,
            deliverer,
            bulk,
            impact,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server stops (SIGINT, SIGTERM), then stops the sync worker: a page in
    /// its transaction is finished, a request in flight is dropped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let r = self.server.await;
        let _ = self.stop.send(true);
        if let Some(w) = self.worker {
            if tokio::time::timeout(Duration::from_secs(30), w)
                .await
                .is_err()
            {
                tracing::warn!("the sync worker did not stop within 30 s");
            }
        }
        if tokio::time::timeout(Duration::from_secs(15), self.deliverer)
            .await
            .is_err()
        {
            tracing::warn!("the webhook delivery worker did not stop within 15 s");
        }
        if tokio::time::timeout(Duration::from_secs(15), self.bulk)
            .await
            .is_err()
        {
            tracing::warn!("the bulk-check runner did not stop within 15 s");
        }
        if tokio::time::timeout(Duration::from_secs(15), self.impact)
            .await
            .is_err()
        {
            tracing::warn!("the impact-analysis runner did not stop within 15 s");
        }
        r
    }
}
