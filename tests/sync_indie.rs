//! `creditgate sync --once` against an independent provincial platform
//! (`tests/indie_platform/platform.py`, written from `docs/provincial-protocol.md` alone, not
//! from the client or its simulator), on both backends. Each test states what the document
//! says and checks it where a user sees it: the exit status and output of the command, the
//! admin view `GET /api/v1/admin/sync`, officers' profiles and checks, and what the platform
//! itself saw (`GET /state`: requests, pages asked for, pushes, and any breach of the document
//! by the client, such as a reused nonce or a plain ID number in a pushed id).
//!
//! The admin view says `off` on a server without a platform configured, so it is read from a
//! server configured with the platform (`CityServer`) after the command's runs; the platform
//! holds that server's own sync round unanswered (`POST /control/hold`), so the view shows
//! what the command left.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use creditgate::app::Application;
use creditgate::config::{Config, Secret};
use creditgate::service::Clock;
use serde_json::{json, Value};

/// The shared secret: 32 random bytes, as the document's "Signing" says.
const SECRET_HEX: &str = "8f3a61c2d94e07b5a1c6e2f09d8b4a7351e6c0f2a9d84b17c3e5f60a2b9d1e47";
/// The city's key id at the platform (the README's default).
const KEY_ID: &str = "city";
/// Small pages, so that a feed of 30 changes takes several.
const PAGE_SIZE: &str = "5";
/// An ID number (the harness's legal representative's), inside some record ids.
const ID_NUMBER: &str = "110101199003070011";
/// A Fujian pilot-era code (2015): structurally valid, legally valid, but its GB 32100 check
/// character is `M` where the formula gives `1`.
const PILOT: &str = "91350100M0001TGQXM";
/// The same code mistyped (X→Y): fails the check too, and the city holds no subject by it.
const PILOT_MISTYPED: &str = "91350100M0001TGQYM";

// ---------------------------------------------------------------------------------------------
// The independent platform as a child of the test.

struct IndiePlatform {
    base: String,
    child: Child,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl IndiePlatform {
    /// Starts `platform.py` on a free port with `scenario`, knowing the key id `key_id`.
    fn start(scenario: &Value, key_id: &str) -> IndiePlatform {
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
    async fn state(&self) -> Value {
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
    async fn hold(&self) {
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
fn scenario(cursor_style: &str, changes: Vec<Value>, faults: Value, reject: &[&str]) -> Value {
    json!({
        "cursor_style": cursor_style,
        "page_limit_default": 500,
        "changes": changes,
        "faults": faults,
        "reject_push_ids": reject,
    })
}

/// An upsert of the feed; the record carries the change's id and version.
fn upsert(source: &str, id: &str, version: i64, mut record: Value) -> Value {
    record["source_record_id"] = json!(id);
    record["version"] = json!(version);
    json!({"op": "upsert", "source_code": source, "source_record_id": id,
           "version": version, "record": record})
}

fn removal(source: &str, id: &str, version: i64) -> Value {
    json!({"op": "remove", "source_code": source, "source_record_id": id, "version": version})
}

/// `n` upserts of version 1, one record per subject.
fn plain_feed(source: &str, n: u32, first_subject: u32) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let id = format!("{source}-{i}");
            upsert(source, &id, 1, penalty(&id, &code(first_subject + i)))
        })
        .collect()
}

/// Nothing the platform saw breaks the document (nonces reused or not 32 hex characters,
/// cursors it never gave, plain ID numbers in pushed ids, …).
fn assert_no_violations(state: &Value) {
    let v = state["violations"].as_array().expect("violations");
    assert!(
        v.is_empty(),
        "the platform saw the client break the document: {v:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The city: the command line, and a server for the admin view.

struct SyncRun {
    success: bool,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl SyncRun {
    fn output(&self) -> String {
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
fn migrate(db: &TestDb) {
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
async fn sync_once(
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
async fn sync_ok(db: &TestDb, platform: &IndiePlatform) -> SyncRun {
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
struct CityServer {
    base: String,
    admin_key: String,
    client: reqwest::Client,
}

impl CityServer {
    async fn start(db: &TestDb, platform: &IndiePlatform) -> CityServer {
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
    async fn sync_view(&self) -> Value {
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

fn count(view: &Value, what: &str) -> i64 {
    view["counts"][what]
        .as_i64()
        .unwrap_or_else(|| panic!("counts.{what} in the admin view: {view:#}"))
}

/// The records of `source` in a profile.
fn records_of<'a>(profile: &'a Value, source: &str) -> Vec<&'a Value> {
    profile["records"]
        .as_array()
        .unwrap_or_else(|| panic!("records in {profile}"))
        .iter()
        .filter(|r| r["source_code"] == source)
        .collect()
}

/// Local records made through the API by the provider `SCJG` (origin local): what the round
/// pushes. One id holds an ID number, which the city keeps (and pushes) as a pseudonym.
async fn make_local_records(app: &TestApp, extra: Vec<Value>) -> usize {
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
fn received(state: &Value) -> Vec<(String, String, i64)> {
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
fn assert_received_once(state: &Value, expected: &[&str]) {
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

/// The document (lines 74–94): changes follow "an opaque cursor", oldest first; the city asks
/// for the page after the cursor it holds and stores the page's `next_cursor`. The platform's
/// cursors here are `c1` … `c30`, not zero-padded, so `"c10" < "c7"` and `"c10" < "c5"` as
/// strings: a client that orders cursors would refuse the page c6–c10 ("next_cursor lies before
/// the cursor asked for") or reorder it. The page c6–c10 also holds FY-7 at version 1 (c7) and
/// at version 2 (c10): taken in the platform's order, both apply (none skipped).
/// An id with an ID number is kept under its pseudonym, and a later version finds it
/// (lines 102–106). A second round applies nothing new.
async fn opaque_cursors_are_never_ordered(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    const FY: &str = "PROV-FY";
    let id_of = |i: u32| {
        if i == 3 {
            format!("FY-3|{ID_NUMBER}")
        } else {
            format!("FY-{i}")
        }
    };
    let rec = |i: u32| penalty(&id_of(i), &code(100 + i));
    let mut changes = Vec::new();
    for i in 1..=9 {
        changes.push(upsert(FY, &id_of(i), 1, rec(i))); // c1 … c9
    }
    let mut newer = rec(7);
    newer["fine_amount"] = json!("3000000.00");
    changes.push(upsert(FY, &id_of(7), 2, newer)); // c10
    for i in 10..=26 {
        changes.push(upsert(FY, &id_of(i), 1, rec(i))); // c11 … c27
    }
    changes.push(upsert(FY, &id_of(3), 2, rec(3))); // c28
    changes.push(removal(FY, &id_of(1), 2)); // c29
    changes.push(upsert(FY, &id_of(27), 1, rec(27))); // c30
    assert_eq!(changes.len(), 30);
    let platform = IndiePlatform::start(&scenario("short", changes, json!([]), &[]), KEY_ID);

    sync_ok(&db, &platform).await;
    let first = platform.state().await;
    assert_no_violations(&first);
    let limits = first["pull_limits"].as_array().unwrap();
    assert!(
        limits.iter().all(|l| l.as_u64() == Some(5)),
        "--page-size 5 asks for 5: {limits:?}"
    );
    assert!(
        first["pages_served"].as_u64().unwrap() >= 6,
        "30 changes in pages of 5: {first:#}"
    );
    let afters = first["pull_afters"].as_array().unwrap();
    for want in ["c5", "c10", "c15", "c20", "c25"] {
        assert!(
            afters.iter().any(|a| a == want),
            "the city asked for the page after {want} (the cursor it was given): {afters:?}"
        );
    }

    // Nothing new: the second round asks after c30 and applies nothing.
    sync_ok(&db, &platform).await;
    let second = platform.state().await;
    assert_no_violations(&second);
    let later = &second["pull_afters"].as_array().unwrap()[afters.len()..];
    assert!(
        !later.is_empty() && later.iter().all(|a| a == "c30"),
        "the second round asks after the stored cursor c30: {later:?}"
    );
    assert!(received(&second).is_empty(), "no local records to push");

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(view["cursor"], "c30", "{view:#}");
    assert_eq!(
        (count(&view, "upserts"), count(&view, "removals")),
        (29, 1),
        "every change applied once, over both rounds: {view:#}"
    );
    assert_eq!(
        count(&view, "skipped"),
        0,
        "no change was skipped: the page c6–c10 was taken in the platform's order (FY-7 v1 at \
         c7 before v2 at c10; as strings \"c10\" < \"c7\"): {view:#}"
    );
    assert_eq!(count(&view, "rejected"), 0, "{view:#}");
    assert!(
        view["remaining"].is_null() || view["remaining"] == 0,
        "{view:#}"
    );

    // What an officer sees: every record at its last version.
    let app = spawn_on(&db).await;
    let officer = app.key("CGZX", "officer").await;
    for i in 1..=27u32 {
        let a = app.subject(&officer, &code(100 + i)).await;
        assert_eq!(a.status, 200, "subject {i}: {}", a.text);
        let held = records_of(&a.body, FY);
        if i == 1 {
            assert!(
                held.iter()
                    .all(|r| r["status"] == "revoked" && r["version"] == 2),
                "FY-1 was removed at version 2: {held:?}"
            );
            continue;
        }
        assert_eq!(held.len(), 1, "subject {i}: {}", a.text);
        let r = held[0];
        let version = if i == 3 || i == 7 { 2 } else { 1 };
        assert_eq!(r["version"], version, "FY-{i}: {r}");
        assert_eq!(r["status"], "active", "FY-{i}: {r}");
        assert_eq!(r["origin"], "provincial", "FY-{i}: {r}");
        let id = r["source_record_id"].as_str().unwrap();
        if i == 3 {
            assert!(
                id.starts_with("FY-3|pid-") && !id.contains(ID_NUMBER),
                "kept under its pseudonym: {id}"
            );
        } else {
            assert_eq!(id, format!("FY-{i}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// b. Pilot-era codes.

/// The document (lines 97–98, 134–135): an upsert carries a record in the shape of the batch
/// API; a change that fails validation is counted as rejected. A pilot-era code fails the
/// GB 32100 check character but is a lawful code: the project decided that the city holds such a
/// record and lets officers reach it, the subject marked `checksum_warning` (openapi:
/// "The code failed the GB 32100 check but was accepted from the provincial platform"), and
/// that a mistyped code the city does not hold is still refused (422, naming `uscc`).
async fn pilot_era_codes_are_held_and_reachable(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let mut pilot = penalty("FJ-2026-1", PILOT);
    pilot["subject"]["name"] = json!("福州市试点示例有限公司");
    let changes = vec![
        upsert("PROV-SCJG", "FJ-2026-1", 1, pilot),
        upsert(
            "PROV-SCJG",
            "FJ-2026-2",
            1,
            penalty("FJ-2026-2", &code(301)),
        ),
        upsert(
            "PROV-FY",
            "FY-2026-3",
            1,
            list_entry("FY-2026-3", &code(302), "court.dishonest_debtor"),
        ),
    ];
    let platform = IndiePlatform::start(&scenario("padded", changes, json!([]), &[]), KEY_ID);
    sync_ok(&db, &platform).await;
    assert_no_violations(&platform.state().await);

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(view["cursor"], "c_000003", "{view:#}");
    assert_eq!(
        (count(&view, "upserts"), count(&view, "rejected")),
        (3, 0),
        "the pilot-era record is held, not refused (last_reject: {})",
        view["last_reject"]
    );

    let app = spawn_on(&db).await;
    let officer = app.key("CGZX", "officer").await;
    let profile = app.subject(&officer, PILOT).await;
    assert_eq!(profile.status, 200, "{}", profile.text);
    assert_eq!(
        profile.body["subject"]["checksum_warning"], true,
        "{}",
        profile.text
    );
    assert!(
        records_of(&profile.body, "PROV-SCJG")
            .iter()
            .any(|r| r["source_record_id"] == "FJ-2026-1"),
        "the record is shown: {}",
        profile.text
    );

    let report = app.check(&officer, procurement(PILOT)).await;
    assert_eq!(report.status, 201, "{}", report.text);
    assert!(
        measures(&report.body).contains(&"procurement.major_violation.large_fine".to_string()),
        "the record's fine of 2,500,000 yuan bars the subject: {}",
        report.text
    );
    assert_eq!(report.body["verdict"], "prohibited", "{}", report.text);

    let valid = app.subject(&officer, &code(301)).await;
    assert_eq!(valid.status, 200, "{}", valid.text);
    assert_eq!(valid.body["subject"]["checksum_warning"], false);

    let mistyped = app.subject(&officer, PILOT_MISTYPED).await;
    assert_eq!(mistyped.status, 422, "{}", mistyped.text);
    assert!(mistyped.text.contains("uscc"), "{}", mistyped.text);
}

// ---------------------------------------------------------------------------------------------
// c. 401s: the ones that fail the check are discarded and retried, a signed one stops.

/// The document (lines 60–72): every answer is signed; "the client discards an answer that
/// fails the check and retries". A 401 without signature headers (a proxy or impostor in the
/// way) and a 401 whose signature does not verify are such answers, however they call
/// themselves: the round goes on and holds everything. Each retry is a new request with a new
/// nonce (line 43: "never reused").
async fn a_401_failing_the_check_is_discarded_and_retried(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let platform = IndiePlatform::start(
        &scenario(
            "short",
            plain_feed("PROV-FY", 12, 500),
            json!([{"kind": "unsigned_401", "times": 2},
                   {"kind": "badly_signed_401", "times": 2}]),
            &[],
        ),
        KEY_ID,
    );
    let run = sync_ok(&db, &platform).await;
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(
        state["faults_injected"],
        json!({"unsigned_401": 2, "badly_signed_401": 2}),
        "{state:#}\n{}",
        run.output()
    );
    assert_eq!(
        state["refusals"],
        json!({}),
        "no genuine refusal: {state:#}"
    );

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(view["cursor"], "c12", "{view:#}");
    assert_eq!(count(&view, "upserts"), 12, "{view:#}");
    assert_eq!(count(&view, "rejected"), 0, "{view:#}");
}

/// The document (lines 56–58, 136–138): the platform refuses an unknown key id with a 401
/// `unknown_key` — signed, so genuine — and "a refused key or signature is not retried". The
/// platform knows another key id than the city's: the round stops at once, `sync --once` exits
/// non-zero within seconds having sent one request, and the admin view names `unknown_key`.
async fn a_signed_refusal_stops_the_round(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let platform = IndiePlatform::start(
        &scenario("short", plain_feed("PROV-FY", 5, 600), json!([]), &[]),
        "province-other",
    );
    let run = sync_once(&db, &platform, KEY_ID, Duration::from_secs(30)).await;
    assert!(
        !run.success,
        "a refused key fails the round:\n{}",
        run.output()
    );
    assert!(
        run.took < Duration::from_secs(10),
        "stopped within seconds, not after retries:\n{}",
        run.output()
    );
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("unknown_key"),
        "the operator is told why:\n{}",
        run.output()
    );
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(state["refusals"]["unknown_key"], 1, "{state:#}");
    assert_eq!(
        state["requests"], 1,
        "a refused key is not retried: {state:#}"
    );

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    let last_error = view["last_error"].as_str().unwrap_or("");
    assert!(
        last_error.contains("unknown_key"),
        "last_error names the refusal: {view:#}"
    );
    assert!(view["cursor"].is_null(), "{view:#}");
    assert_eq!(count(&view, "upserts"), 0, "{view:#}");
}

// ---------------------------------------------------------------------------------------------
// d. Status after a retried round.

/// The document (lines 72, 136–138): a failed request is retried; the round that then
/// completes has succeeded. The admin view's status is `ok` (openapi: `ok`, `stale`,
/// `failing`), not `failing`, though the discarded answer may still show as the last error.
async fn a_round_that_retried_ends_ok(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let platform = IndiePlatform::start(
        &scenario(
            "short",
            plain_feed("PROV-FY", 8, 700),
            json!([{"kind": "unsigned_401", "times": 1}]),
            &[],
        ),
        KEY_ID,
    );
    sync_ok(&db, &platform).await;
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(state["faults_injected"]["unsigned_401"], 1, "{state:#}");

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(view["status"], "ok", "{view:#}");
    assert!(!view["last_success_at"].is_null(), "{view:#}");
    assert_eq!(view["cursor"], "c8", "{view:#}");
    assert_eq!(count(&view, "upserts"), 8, "{view:#}");
}

// ---------------------------------------------------------------------------------------------
// e. Push.

/// The document (lines 109–125): a round pushes every local record (origin not `provincial`)
/// the platform has not confirmed; the platform answers per item. The project decided that a
/// record the platform refused (`rejected`) is not sent again every round, only when its version
/// changes (the document is silent: see the report). Over two rounds the refused record is sent
/// once, the others once each, under pseudonyms where their ids hold ID numbers (lines
/// 105–106), and the provincial records are not pushed back. The admin view counts the refused
/// record once (`push_rejected` counts records, not attempts).
async fn a_refused_push_is_sent_once_per_version(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let app = spawn_on(&db).await;
    let local = make_local_records(&app, vec![penalty("CF-REJ", &code(405))]).await;
    assert_eq!(local, 5);
    let platform = IndiePlatform::start(
        &scenario(
            "short",
            plain_feed("PROV-FY", 6, 800),
            json!([]),
            &["CF-REJ"],
        ),
        KEY_ID,
    );
    sync_ok(&db, &platform).await;
    sync_ok(&db, &platform).await;
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(
        state["push_attempts_by_id"]["SCJG|CF-REJ|1"], 1,
        "the refused record was sent once over two rounds: {:#}",
        state["push_attempts_by_id"]
    );
    let attempts = state["push_attempts_by_id"].as_object().unwrap();
    assert_eq!(attempts.len(), local, "{attempts:#?}");
    assert!(
        attempts.values().all(|n| n == 1),
        "each local record sent once: {attempts:#?}"
    );
    assert_received_once(&state, &["CF-1", "CF-2", "CF-3", "CF-4|pid-*"]);

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(count(&view, "push_rejected"), 1, "{view:#}");
    assert_eq!(count(&view, "pushed"), 4, "{view:#}");
    assert_eq!(count(&view, "upserts"), 6, "{view:#}");
}

/// The document (lines 116–120): the platform takes a batch idempotently by (source code,
/// source record id, version); "an answer lost on the way (a timeout, a broken connection) means
/// the batch is sent again and answered `duplicate`", and "the city marks a record pushed at a
/// version once the platform answered `accepted` or `duplicate` for it". The platform takes the
/// first batch and closes the connection without answering: the city sends it again in the same
/// round, the platform holds each record once at its version, the admin view counts every
/// delivered record as pushed and none pending, and a second round sends nothing.
async fn a_lost_push_answer_counts_as_pushed(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let app = spawn_on(&db).await;
    let local = make_local_records(&app, Vec::new()).await;
    let platform = IndiePlatform::start(
        &scenario(
            "padded",
            plain_feed("PROV-FY", 3, 900),
            json!([{"kind": "lose_push_answer", "times": 1}]),
            &[],
        ),
        KEY_ID,
    );
    sync_ok(&db, &platform).await;
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(state["faults_left"]["lose_push_answer"], 0, "{state:#}");
    assert_received_once(&state, &["CF-1", "CF-2", "CF-3", "CF-4|pid-*"]);
    let attempts = state["push_attempts_by_id"].as_object().unwrap();
    assert_eq!(attempts.len(), local, "{attempts:#?}");
    assert!(
        attempts.values().all(|n| n == 2),
        "the batch whose answer was lost was sent again, once: {attempts:#?}"
    );

    sync_ok(&db, &platform).await;
    let again = platform.state().await;
    assert_eq!(
        again["push_attempts_by_id"], state["push_attempts_by_id"],
        "a second round sends nothing"
    );
    assert_received_once(&again, &["CF-1", "CF-2", "CF-3", "CF-4|pid-*"]);

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(
        count(&view, "pushed"),
        local as i64,
        "every record the platform took counts as pushed (push_duplicates: {}): {view:#}",
        view["counts"]["push_duplicates"]
    );
    assert_eq!(count(&view, "push_pending"), 0, "{view:#}");
    assert_eq!(count(&view, "push_rejected"), 0, "{view:#}");
}

on_both_backends!(
    opaque_cursors_are_never_ordered,
    pilot_era_codes_are_held_and_reachable,
    a_401_failing_the_check_is_discarded_and_retried,
    a_signed_refusal_stops_the_round,
    a_round_that_retried_ends_ok,
    a_refused_push_is_sent_once_per_version,
    a_lost_push_answer_counts_as_pushed,
);
