//! The harness of the tests against the independent provincial platform
//! (`tests/indie_platform/platform.py`): starting it on a scenario, running `creditgate sync
//! --once` against it, and reading what the city and the platform saw.
#![allow(dead_code)]

use super::common::*;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use creditgate::app::Application;
use creditgate::config::{Config, Secret};
use creditgate::service::Clock;
use serde_json::{json, Value};

/// The shared secret: 32 random bytes, as the document's "Signing" says.
pub const SECRET_HEX: &str = "8f3a61c2d94e07b5a1c6e2f09d8b4a7351e6c0f2a9d84b17c3e5f60a2b9d1e47";
/// The city's key id at the platform (the README's default).
pub const KEY_ID: &str = "city";
/// Small pages, so that a feed of 30 changes takes several.
pub const PAGE_SIZE: &str = "5";
/// An ID number (the harness's legal representative's), inside some record ids.
pub const ID_NUMBER: &str = "110101199003070011";
/// A Fujian pilot-era code (2015): structurally valid, legally valid, but its GB 32100 check
/// character is `M` where the formula gives `1`.
pub const PILOT: &str = "91350100M0001TGQXM";
/// The same code mistyped (X→Y): fails the check too, and the city holds no subject by it.
pub const PILOT_MISTYPED: &str = "91350100M0001TGQYM";

// ---------------------------------------------------------------------------------------------
// The independent platform as a child of the test.

pub struct IndiePlatform {
    pub base: String,
    pub child: Child,
    pub client: reqwest::Client,
    pub _dir: tempfile::TempDir,
}

impl IndiePlatform {
    /// Starts `platform.py` on a free port with `scenario`, knowing the key id `key_id`.
    pub fn start(scenario: &Value, key_id: &str) -> IndiePlatform {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("scenario.json");
        std::fs::write(&file, serde_json::to_vec_pretty(scenario).unwrap()).unwrap();
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/indie_platform/platform.py"
            ))
            .args(["--port", "0", "--secret", SECRET_HEX, "--key-id", key_id])
            .arg("--scenario")
            .arg(file.as_os_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts tests/indie_platform/platform.py");
        let mut line = String::new();
        let read = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        let base = match (read, line.trim().strip_prefix("listening on ")) {
            (Ok(_), Some(base)) => base.to_string(),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the independent platform did not start: {line:?}");
            }
        };
        IndiePlatform {
            base,
            child,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// What the platform saw (`GET /state`, unsigned).
    pub async fn state(&self) -> Value {
        self.client
            .get(format!("{}/state", self.base))
            .send()
            .await
            .expect("GET /state")
            .json()
            .await
            .expect("state as JSON")
    }

    /// From now on, protocol requests are held unanswered.
    pub async fn hold(&self) {
        let resp = self
            .client
            .post(format!("{}/control/hold", self.base))
            .send()
            .await
            .expect("POST /control/hold");
        assert!(resp.status().is_success());
    }
}

impl Drop for IndiePlatform {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scenario file's content.
pub fn scenario(cursor_style: &str, changes: Vec<Value>, faults: Value, reject: &[&str]) -> Value {
    json!({
        "cursor_style": cursor_style,
        "page_limit_default": 500,
        "changes": changes,
        "faults": faults,
        "reject_push_ids": reject,
    })
}

/// An upsert of the feed; the record carries the change's id and version.
pub fn upsert(source: &str, id: &str, version: i64, mut record: Value) -> Value {
    record["source_record_id"] = json!(id);
    record["version"] = json!(version);
    json!({"op": "upsert", "source_code": source, "source_record_id": id,
           "version": version, "record": record})
}

pub fn removal(source: &str, id: &str, version: i64) -> Value {
    json!({"op": "remove", "source_code": source, "source_record_id": id, "version": version})
}

/// `n` upserts of version 1, one record per subject.
pub fn plain_feed(source: &str, n: u32, first_subject: u32) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let id = format!("{source}-{i}");
            upsert(source, &id, 1, penalty(&id, &code(first_subject + i)))
        })
        .collect()
}

/// Nothing the platform saw breaks the document (nonces reused or not 32 hex characters,
/// cursors it never gave, plain ID numbers in pushed ids, …).
pub fn assert_no_violations(state: &Value) {
    let v = state["violations"].as_array().expect("violations");
    assert!(
        v.is_empty(),
        "the platform saw the client break the document: {v:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The city: the command line, and a server for the admin view.

pub struct SyncRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl SyncRun {
    pub fn output(&self) -> String {
        format!(
            "exit {}, {:?}\n--- stdout\n{}\n--- stderr\n{}",
            if self.success { "0" } else { "non-zero" },
            self.took,
            self.stdout,
            self.stderr
        )
    }
}

/// `creditgate migrate` on the test database.
pub fn migrate(db: &TestDb) {
    let out = creditgate_cli(&db.url)
        .arg("migrate")
        .output()
        .expect("creditgate migrate");
    assert!(
        out.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `creditgate sync --once --page-size 5` against the platform, configured through the
/// environment the README names; killed (and the test failed) after `limit`.
pub async fn sync_once(
    db: &TestDb,
    platform: &IndiePlatform,
    key_id: &str,
    limit: Duration,
) -> SyncRun {
    let (url, base, key_id) = (db.url.clone(), platform.base.clone(), key_id.to_string());
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let child = creditgate_cli(&url)
            .args(["sync", "--once", "--page-size", PAGE_SIZE])
            .env("CREDITGATE_PROVINCIAL_URL", base.as_str())
            .env("CREDITGATE_PROVINCIAL_SECRET", SECRET_HEX)
            .env("CREDITGATE_PROVINCIAL_KEY_ID", key_id.as_str())
            .env("CREDITGATE_PROVINCIAL_INSECURE", "1")
            .env("CREDITGATE_PROVINCIAL_TIMEOUT", "5")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("creditgate sync --once starts");
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let (out, timed_out) = match rx.recv_timeout(limit) {
            Ok(out) => (out.expect("sync's output"), false),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                (rx.recv().expect("the killed run").expect("output"), true)
            }
        };
        let run = SyncRun {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: started.elapsed(),
        };
        assert!(
            !timed_out,
            "`creditgate sync --once` was still running after {limit:?} (killed):\n{}",
            run.output()
        );
        run
    })
    .await
    .expect("the sync run")
}

/// A run that must succeed: exit 0 and a report on standard output.
pub async fn sync_ok(db: &TestDb, platform: &IndiePlatform) -> SyncRun {
    let run = sync_once(db, platform, KEY_ID, Duration::from_secs(40)).await;
    assert!(run.success, "sync --once failed:\n{}", run.output());
    assert!(
        !run.stdout.trim().is_empty(),
        "sync --once prints what it did:\n{}",
        run.output()
    );
    run
}

/// A server configured with the platform, for the admin view (a server without one says
/// `off`). Its own sync round is held by the platform, so it changes nothing.
pub struct CityServer {
    pub base: String,
    pub admin_key: String,
    pub client: reqwest::Client,
}

impl CityServer {
    pub async fn start(db: &TestDb, platform: &IndiePlatform) -> CityServer {
        platform.hold().await;
        let admin_key = format!("cg_test_admin_{}", ulid::Ulid::new());
        let config = Config {
            bind: "127.0.0.1:0".into(),
            database_url: db.url.clone(),
            rules_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules"),
            admin_key: Some(Secret::new(admin_key.clone())),
            cache_prefix: format!("cgtest:{}", ulid::Ulid::new()),
            db_pool_size: 4,
            data_key: Some(Secret::new(TEST_DATA_KEY)),
            provincial_url: Some(platform.base.clone()),
            provincial_insecure: true,
            provincial_secret: Some(Secret::new(SECRET_HEX)),
            provincial_timeout_secs: 300,
            sync_interval_secs: 3600,
            ..Config::default()
        };
        // The system clock, as the command line's: the view's lag compares its times.
        let app = Application::build(&config, Clock::system())
            .await
            .expect("the server builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        // Its round at start reaches the platform and waits there.
        let _ = comes_true(Duration::from_secs(5), || async {
            platform.state().await["held"].as_u64().unwrap_or(0) >= 1
        })
        .await;
        CityServer {
            base,
            admin_key,
            client: reqwest::Client::new(),
        }
    }

    /// `GET /api/v1/admin/sync` with the admin key.
    pub async fn sync_view(&self) -> Value {
        let resp = self
            .client
            .get(format!("{}/api/v1/admin/sync", self.base))
            .bearer_auth(&self.admin_key)
            .send()
            .await
            .expect("GET /api/v1/admin/sync");
        let a = TestApp::answer(resp).await;
        assert_eq!(a.status, 200, "GET /api/v1/admin/sync: {}", a.text);
        a.body
    }
}

pub fn count(view: &Value, what: &str) -> i64 {
    view["counts"][what]
        .as_i64()
        .unwrap_or_else(|| panic!("counts.{what} in the admin view: {view:#}"))
}

/// The records of `source` in a profile.
pub fn records_of<'a>(profile: &'a Value, source: &str) -> Vec<&'a Value> {
    profile["records"]
        .as_array()
        .unwrap_or_else(|| panic!("records in {profile}"))
        .iter()
        .filter(|r| r["source_code"] == source)
        .collect()
}

/// Local records made through the API by the provider `SCJG` (origin local): what the round
/// pushes. One id holds an ID number, which the city keeps (and pushes) as a pseudonym.
pub async fn make_local_records(app: &TestApp, extra: Vec<Value>) -> usize {
    let provider = app.key("SCJG", "provider").await;
    let mut records = vec![
        penalty("CF-1", &code(401)),
        penalty("CF-2", &code(402)),
        list_entry("CF-3", &code(403), "court.dishonest_debtor"),
        penalty(&format!("CF-4|{ID_NUMBER}"), &code(404)),
    ];
    records.extend(extra);
    let n = records.len();
    let a = app.batch(&provider, records).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let results = a.body["results"].as_array().expect("results");
    assert_eq!(results.len(), n, "{}", a.text);
    assert!(
        results.iter().all(|r| r["status"] != "rejected"),
        "{}",
        a.text
    );
    n
}

/// The pushed items the platform took: `(source, id, version)`.
pub fn received(state: &Value) -> Vec<(String, String, i64)> {
    state["received"]
        .as_array()
        .expect("received")
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
                r[2].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The local records arrived each exactly once, at version 1, and nothing else: the ids
/// `CF-1` … `CF-4|pid-…` (never the plain ID number), none of the provincial ones.
pub fn assert_received_once(state: &Value, expected: &[&str]) {
    let mut got = received(state);
    got.sort();
    let ids: Vec<&str> = got.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(got.len(), expected.len(), "received: {got:?}");
    for ((src, id, version), want) in got.iter().zip(expected) {
        assert_eq!(src, "SCJG", "only local records are pushed: {got:?}");
        assert_eq!(*version, 1, "{got:?}");
        if let Some(prefix) = want.strip_suffix('*') {
            assert!(
                id.starts_with(prefix) && id.len() == prefix.len() + 20 && !id.contains(ID_NUMBER),
                "the id with an ID number is pushed under its pseudonym: {id}"
            );
        } else {
            assert_eq!(id, want, "{ids:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// a. Opaque cursors.
