//! Test harness: the real application on port 0, against a fresh SQLite file or a fresh
//! PostgreSQL database, with a fixed clock; helpers that speak HTTP as a client would.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use creditgate::app::Application;
use creditgate::config::{Config, Secret};
use creditgate::service::Clock;
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn postgres_admin_url() -> String {
    std::env::var("CREDITGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("CREDITGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The data key of every test process (CLI and app), so they read each other's ID numbers.
pub const TEST_DATA_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// The fixed "now" of every test: 2026-11-24T08:30:00Z (16:30 in Beijing).
pub fn test_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T08:30:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Asserts that `v` is an RFC 3339 time, to the second, read from the test's clock: the clock
/// starts at `test_now()` and runs on with real time.
pub fn assert_clock_time(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    assert!(
        s.ends_with('Z') && s.len() == 20,
        "whole seconds in UTC: {s}"
    );
    let t = DateTime::parse_from_rfc3339(s).expect("RFC 3339");
    let since = t.with_timezone(&Utc) - test_now();
    assert!(
        since >= chrono::TimeDelta::zero() && since < chrono::TimeDelta::minutes(10),
        "{s} is not the test clock's time (from {})",
        test_now()
    );
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path: PathBuf = dir.path().join("creditgate.db");
                TestDb {
                    url: format!("sqlite://{}", path.display()),
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!("cg_test_{}", ulid::Ulid::new().to_string().to_lowercase());
                let admin = postgres_admin_url();
                let mut conn = diesel::PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is needed for the tests: {e}")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                TestDb {
                    url: format!("{base}/{name}"),
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut conn) = diesel::PgConnection::establish(&postgres_admin_url()) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_key: String,
    pub db_url: String,
    /// The database, when the app owns it (dropped with the app).
    _db: Option<TestDb>,
    pub config: Config,
    /// The app's clock, for what a test writes beside it.
    pub clock: Clock,
}

#[derive(Default)]
pub struct Options {
    pub redis: Option<String>,
    pub max_body_bytes: Option<usize>,
    /// Rule files other than the shipped ones.
    pub rules_dir: Option<PathBuf>,
    /// Requests per key per minute.
    pub rate_limit: Option<u64>,
    /// The provincial platform (URL, shared secret in hex): the sync worker runs beside the app.
    pub provincial: Option<(String, String)>,
    /// `CREDITGATE_SYNC_STALE_AFTER`, seconds.
    pub sync_stale_after: Option<u64>,
    /// A clock of the test's own (default: the shared test clock).
    pub clock: Option<Clock>,
    /// `CREDITGATE_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// `CREDITGATE_TRUSTED_PROXIES`.
    pub trusted_proxies: Option<String>,
}

/// The application on a database the test prepared itself (with the CLI, say); no admin key.
pub async fn spawn_on(db: &TestDb) -> TestApp {
    start(db.url.clone(), None, Options::default(), test_clock()).await
}

/// [`spawn_on`] with options (rule files of its own, say).
pub async fn spawn_on_with(db: &TestDb, opts: Options) -> TestApp {
    let clock = opts.clock.clone().unwrap_or_else(test_clock);
    start(db.url.clone(), None, opts, clock).await
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Options::default()).await
}

pub async fn spawn_app_with(backend: Backend, opts: Options) -> TestApp {
    let db = TestDb::new(backend);
    let clock = opts.clock.clone().unwrap_or_else(test_clock);
    start(db.url.clone(), Some(db), opts, clock).await
}

/// The clock of the tests' world, one per test process (so that the instances of a test agree):
/// it starts at `test_now()` and runs on.
fn test_clock() -> Clock {
    static CLOCK: std::sync::OnceLock<Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(|| Clock::starting_at(test_now())).clone()
}

async fn start(database_url: String, db: Option<TestDb>, opts: Options, clock: Clock) -> TestApp {
    let admin_key = format!("cg_test_admin_{}", ulid::Ulid::new());
    let mut config = Config {
        bind: "127.0.0.1:0".into(),
        database_url: database_url.clone(),
        redis_url: opts.redis,
        rules_dir: opts
            .rules_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")),
        admin_key: Some(Secret::new(admin_key.clone())),
        cache_prefix: format!("cgtest:{}", ulid::Ulid::new()),
        db_pool_size: 4,
        data_key: Some(Secret::new(TEST_DATA_KEY)),
        ..Config::default()
    };
    if let Some(n) = opts.rate_limit {
        config.rate_limit_per_minute = n;
    }
    if let Some(n) = opts.max_body_bytes {
        config.max_body_bytes = n;
    }
    if let Some((url, secret)) = opts.provincial {
        config.provincial_url = Some(url);
        // The simulator speaks plain HTTP here (tests/tls.rs has HTTPS).
        config.provincial_insecure = true;
        config.provincial_secret = Some(Secret::new(secret));
        config.provincial_timeout_secs = 5;
        // One round at start; the test decides about the rest.
        config.sync_interval_secs = 3600;
    }
    // Webhook targets of the tests: a made-up HTTPS host, and receivers the tests start on
    // the loopback over plain HTTP.
    config.webhook_allow =
        creditgate::domain::webhook::AllowList::parse("hooks.example.test, 127.0.0.1:*", true)
            .expect("allow list");
    config.public_url = opts.public_url.clone();
    if let Some(p) = &opts.trusted_proxies {
        config.trusted_proxies =
            creditgate::api::client::TrustedProxies::parse(p).expect("proxies");
    }
    if let Some(n) = opts.sync_stale_after {
        config.sync_stale_after_secs = n;
    }
    let app = Application::build(&config, clock.clone())
        .await
        .expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        base,
        client: reqwest::Client::new(),
        admin_key,
        db_url: database_url,
        _db: db,
        config,
        clock,
    };
    // As a server behind a load balancer is only sent requests once ready.
    app.listening().await;
    app
}

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    pub text: String,
}

impl TestApp {
    pub async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Answer {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        Self::answer(req.send().await.expect("request")).await
    }

    pub async fn post_raw(&self, path: &str, key: Option<&str>, body: Vec<u8>) -> Answer {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        Self::answer(req.send().await.expect("request")).await
    }

    /// A request of any method with a JSON body (`put`, `delete` and the like).
    pub async fn send(&self, method: &str, path: &str, key: Option<&str>, body: &Value) -> Answer {
        self.send_raw(method, path, key, serde_json::to_vec(body).unwrap())
            .await
    }

    /// The same with a body as it is (JSON or not).
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        self.send_typed(method, path, key, body, "application/json")
            .await
    }

    /// A body of the media type given (a CSV or XLSX upload).
    pub async fn send_typed(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Vec<u8>,
        content_type: &str,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        Self::answer(req.send().await.expect("request")).await
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Answer {
        self.post_raw(path, key, serde_json::to_vec(body).unwrap())
            .await
    }

    pub async fn batch(&self, key: &str, records: Vec<Value>) -> Answer {
        self.post(
            "/api/v1/records/batch",
            Some(key),
            &json!({ "records": records }),
        )
        .await
    }

    pub async fn subject(&self, key: &str, uscc: &str) -> Answer {
        self.get(
            &format!("/api/v1/subjects/{uscc}?purpose=资格审查"),
            Some(key),
        )
        .await
    }

    /// The stored history of a record (no API shows it yet), oldest first.
    pub async fn versions(&self, record_id: &str) -> Vec<creditgate::store::records::VersionRow> {
        let url = self.db_url.clone();
        let id = record_id.to_string();
        tokio::task::spawn_blocking(move || {
            let pool = creditgate::store::connect(&url, 1).expect("db");
            let mut conn = pool.get().expect("conn");
            creditgate::store::records::versions(&mut conn, &id).expect("versions")
        })
        .await
        .unwrap()
    }

    /// A second instance on this app's database (its own admin key, pool and caches, the same
    /// clock), as behind a load balancer.
    pub async fn twin(&self) -> TestApp {
        start(
            self.db_url.clone(),
            None,
            Options::default(),
            self.clock.clone(),
        )
        .await
    }

    /// Waits until the instance listens for other instances' changes (the metric
    /// `creditgate_signals_listening`; `/readyz` would keep its answer for a second): before
    /// that it caches nothing, and a test of its caches would pass without testing them.
    pub async fn listening(&self) {
        let ok = comes_true(std::time::Duration::from_secs(5), || async {
            self.get("/metrics", None)
                .await
                .text
                .lines()
                .any(|l| l == "creditgate_signals_listening 1")
        })
        .await;
        assert!(ok, "the signal listener did not connect");
    }

    /// `POST /api/v1/checks`.
    pub async fn check(&self, key: &str, body: Value) -> Answer {
        self.post("/api/v1/checks", Some(key), &body).await
    }

    /// A new key made the way an operator would (the service's own key creation).
    pub async fn key(&self, org: &str, role: &str) -> String {
        let url = self.db_url.clone();
        let org = org.to_string();
        let role = creditgate::domain::Role::parse(role).expect("role");
        let at = self.clock.stamp();
        tokio::task::spawn_blocking(move || {
            let pool = creditgate::store::connect(&url, 1).expect("db");
            let mut conn = pool.get().expect("conn");
            creditgate::service::keys::create_key_blocking(&mut conn, &org, None, role, None, at)
                .expect("key")
                .key
        })
        .await
        .unwrap()
    }
}

/// How long a change made through one instance (or the command line) may take to reach the
/// others' in-process caches: a revoked key, a grant, an agreement (issue #14: within a second).
pub const SPREAD: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether `probe` comes true within `limit` (asked every 20 ms).
pub async fn comes_true<F, Fut>(limit: std::time::Duration, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if probe().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The command line as an operator runs it on the database `db_url`: the shipped rules, the
/// test data key, warnings only; no Redis, configured admin key or platform from outside.
/// Makes `org` a providing organisation of the database: a provider key, as an operator makes it
/// (`creditgate import --source` takes providers only).
pub fn make_provider(db_url: &str, org: &str) {
    let out = creditgate_cli(db_url)
        .args(["keys", "create", "--org", org, "--role", "provider"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn creditgate_cli(db_url: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_creditgate"));
    c.env("CREDITGATE_DATABASE_URL", db_url)
        .env(
            "CREDITGATE_RULES_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
        )
        .env("CREDITGATE_LOG", "warn")
        .env("CREDITGATE_DATA_KEY", TEST_DATA_KEY)
        .env_remove("CREDITGATE_REDIS_URL")
        .env_remove("CREDITGATE_ADMIN_KEY")
        .env_remove("CREDITGATE_PROVINCIAL_INSECURE")
        .env_remove("CREDITGATE_PROVINCIAL_CA");
    c
}

/// A procurement check of `uscc` with a purpose and a reference.
pub fn procurement(uscc: &str) -> Value {
    json!({"scenario": "procurement", "subject": {"uscc": uscc},
           "purpose": "政府采购资格审查", "reference": "ZFCG-2026-0457"})
}

/// The measure ids of a check report's findings.
pub fn measures(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["measure_id"].as_str().unwrap().to_string())
        .collect()
}

/// The per-item statuses of a batch answer, in order.
pub fn statuses(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

/// A valid penalty record; change fields with `json` merges in the test.
pub fn penalty(id: &str, uscc: &str) -> Value {
    json!({
        "source_record_id": id,
        "kind": "penalty",
        "subject": {"uscc": uscc, "name": "北京示例科技有限公司", "kind": "legal_person",
                    "legal_rep": {"name": "张三", "id_number": "110101199003070011"}},
        "decision_no": "京市监罚〔2026〕12号",
        "decision_date": "2026-03-01",
        "severity": "serious",
        "penalty_types": ["fine"],
        "fine_amount": "2500000.00",
        "authority": {"name": "北京市市场监督管理局", "uscc": "11110000MB0000000U"},
        "sharing_class": "unconditional",
        "open_class": "open",
        "status": "active",
        "version": 1,
        "details": {"CF_WFXW": "虚假宣传"}
    })
}

pub fn list_entry(id: &str, uscc: &str, list: &str) -> Value {
    json!({
        "source_record_id": id,
        "kind": "list_entry",
        "list_code": list,
        "subject": {"uscc": uscc, "name": "上海示例贸易有限公司", "kind": "legal_person"},
        "decision_no": "(2025)京01执123号",
        "decision_date": "2025-06-01",
        "valid_from": "2025-06-01",
        "sharing_class": "unconditional",
        "open_class": "open"
    })
}

/// A valid code for test subject `n` (GB 32100 and GB 11714 check characters computed).
pub fn code(n: u32) -> String {
    creditgate::domain::uscc::compose("91", "110105", &format!("MA{n:06}"))
        .expect("valid code")
        .as_str()
        .to_string()
}

/// Runs each listed test function once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await })*
        }
    };
}

/// A TCP forwarder that a test can cut and restore, to take a real server (Redis) away from the
/// application and bring it back without touching the server itself.
pub struct CutProxy {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    live: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CutProxy {
    pub async fn start(target: &str) -> CutProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let live = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let target = target.to_string();
        let (up2, live2) = (up.clone(), live.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound); // refused: closed at once
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                live2.lock().unwrap().push(task);
            }
        });
        CutProxy { port, up, live }
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for t in self.live.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A clock the test moves on by hand (minutes), from the tests' "now".
pub fn movable_clock() -> (Clock, Arc<AtomicI64>) {
    let offset = Arc::new(AtomicI64::new(0));
    let o = offset.clone();
    let start = std::time::Instant::now();
    let clock = Clock::from_fn(move || {
        test_now()
            + chrono::TimeDelta::from_std(start.elapsed()).unwrap_or_default()
            + chrono::TimeDelta::minutes(o.load(Ordering::SeqCst))
    });
    (clock, offset)
}

/// The app on a clock the test moves on by hand (minutes to add, from the tests' "now").
pub async fn spawn_with_movable_clock(b: Backend) -> (TestApp, Arc<AtomicI64>) {
    let (clock, minutes) = movable_clock();
    let app = spawn_app_with(
        b,
        Options {
            clock: Some(clock),
            ..Default::default()
        },
    )
    .await;
    (app, minutes)
}

/// Copies a folder and everything in it (the shipped rules, to edit a copy).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A folder as a zip archive, its files under `prefix` (the rules folder, as an admin uploads
/// it for an impact analysis).
pub fn zip_dir(dir: &std::path::Path, prefix: &str) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut out);
        for (rel, body) in files_of(dir) {
            z.start_file(
                format!("{prefix}{rel}"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            std::io::Write::write_all(&mut z, &body).unwrap();
        }
        z.finish().unwrap();
    }
    out.into_inner()
}

/// A folder as an uncompressed tar archive, its files under `prefix`.
pub fn tar_dir(dir: &std::path::Path, prefix: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (rel, body) in files_of(dir) {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("{prefix}{rel}"), body.as_slice())
            .unwrap();
    }
    b.into_inner().unwrap()
}

/// Every file under `dir`, by its path relative to it (`/`-separated), in path order.
fn files_of(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Lowers the procurement fine threshold of the rules folder `dir` (a copy of the shipped
/// rules) from 2,000,000 to 500,000 yuan: the candidate of the rule-governance tests.
pub fn lower_fine_threshold(dir: &std::path::Path) {
    let scen = dir.join("scenarios/procurement.yaml");
    let text = std::fs::read_to_string(&scen).unwrap();
    assert!(text.contains("fine_at_least: \"2000000.00\""));
    std::fs::write(
        &scen,
        text.replace(
            "fine_at_least: \"2000000.00\"",
            "fine_at_least: \"500000.00\"",
        ),
    )
    .unwrap();
}
