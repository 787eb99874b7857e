//! The provincial sync against the simulator, on both backends: a full sync converges exactly
//! (the city's provincial records equal the simulator's, counted and compared by digest), also
//! with 30% of requests faulted; runners killed with SIGKILL at random points lose and repeat
//! nothing; SIGTERM stops a runner cleanly; two runners at once never both apply a page; pushes
//! arrive exactly once. `sync_server.rs` has the sync beside the server.

mod common;
mod sync_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use creditgate::service::sync::{self, RunnerLock, Settings};
use creditgate::sync::sim::{Fault, FaultPlan};
use rand::Rng;
use serde_json::json;
use sync_support::*;

async fn a_full_sync_converges_exactly(b: Backend) {
    let db = TestDb::new(b);
    let ctx = ctx_for(&db).await;
    let local = local_records(&ctx, 150).await;
    let sim = SimHandle::start(21, full_size(), FaultPlan::default()).await;
    let started = std::time::Instant::now();
    let r = round(&ctx, &sim, Duration::from_secs(20)).await;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{b:?}: {} changes applied in {secs:.1} s ({:.0}/s, debug build), {} pushed",
        r.upserts + r.removals,
        (r.upserts + r.removals) as f64 / secs,
        r.pushed
    );
    assert_eq!((r.retries, r.pushed as u64), (0, local));
    assert_converged(&ctx, &sim).await;
    assert_pushed_once(&ctx, &sim, local).await;

    // Nothing new: a second round applies and pushes nothing.
    let again = round(&ctx, &sim, Duration::from_secs(20)).await;
    assert_eq!(
        (again.pages, again.upserts, again.removals, again.pushed),
        (0, 0, 0, 0),
        "{again:?}"
    );
    assert_converged(&ctx, &sim).await;
    assert_eq!(
        sim.stats().await.deliveries,
        local,
        "no record pushed twice"
    );
}

async fn thirty_percent_faults_still_converge(b: Backend) {
    let db = TestDb::new(b);
    let ctx = ctx_for(&db).await;
    let local = local_records(&ctx, 150).await;
    let sim = SimHandle::start(
        22,
        full_size(),
        FaultPlan {
            rate: 0.3,
            kinds: Fault::ALL.to_vec(),
            latency_ms: 50,
            // Longer than the client waits.
            hang_ms: 1_500,
        },
    )
    .await;
    let r = round(&ctx, &sim, Duration::from_secs(1)).await;
    let stats = sim.stats().await;
    eprintln!("{b:?}: {r:?}; injected {:?}", stats.injected);
    let injected: u64 = stats.injected.values().sum();
    assert!(injected > 0 && r.retries > 0, "{:?}", stats.injected);
    if stats.requests >= 200 {
        let share = injected as f64 / stats.requests as f64;
        assert!((0.2..0.4).contains(&share), "{share} of requests faulted");
    }
    assert_converged(&ctx, &sim).await;
    assert_pushed_once(&ctx, &sim, local).await;
    let s = sync::status(&ctx, &setup(&sim.base)).await.unwrap();
    assert!(s.last_error.is_some(), "the faults show as the last error");
}

/// Each fault alone, on most requests (a small feed in small pages): the round survives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_alone_is_survived() {
    for fault in Fault::ALL {
        let db = TestDb::new(Backend::Sqlite);
        let ctx = ctx_for(&db).await;
        let local = local_records(&ctx, 60).await;
        let sim = SimHandle::start(
            30,
            3_000,
            FaultPlan {
                rate: 0.6,
                kinds: vec![fault],
                latency_ms: 20,
                hang_ms: 700,
            },
        )
        .await;
        let (_tx, mut stop) = tokio::sync::watch::channel(false);
        let settings = Settings {
            page_size: 100,
            push_batch: 20,
            ..fast()
        };
        let r = sync::run_round(
            &ctx,
            &sim.platform(Duration::from_millis(400)),
            &settings,
            &mut stop,
            &mut (),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", fault.name()));
        let stats = sim.stats().await;
        let n = stats.injected.get(fault.name()).copied().unwrap_or(0);
        assert!(n >= 5, "{}: injected {n} times", fault.name());
        if !matches!(fault, Fault::Latency | Fault::Duplicate) {
            assert!(r.retries > 0, "{}: {r:?}", fault.name());
        }
        assert_converged(&ctx, &sim).await;
        assert_pushed_once(&ctx, &sim, local).await;
    }
}

/// `creditgate sync --once` as a child process, killed with SIGKILL after `kill_after` (or run
/// to its end): whether it ended by itself, and its standard output.
fn run_sync_child(db_url: &str, sim: &str, kill_after: Option<Duration>) -> (bool, String) {
    let mut child = creditgate_cli(db_url)
        .args(["sync", "--once", "--page-size", "250"])
        .env("CREDITGATE_PROVINCIAL_URL", sim)
        .env("CREDITGATE_PROVINCIAL_INSECURE", "1")
        .env("CREDITGATE_PROVINCIAL_SECRET", SECRET_HEX)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(after) = kill_after {
        let deadline = std::time::Instant::now() + after;
        while std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            let _ = child.wait();
            return (false, String::new());
        }
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "sync --once failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (true, stdout)
}

async fn killed_runners_lose_and_repeat_nothing(b: Backend) {
    let db = TestDb::new(b);
    let ctx = ctx_for(&db).await;
    let local = local_records(&ctx, 100).await;
    let sim = SimHandle::start(23, 30_000, FaultPlan::default()).await;
    let mut kills = 0;
    let mut rng = rand::thread_rng();
    for _ in 0..6 {
        let after = Duration::from_millis(rng.gen_range(300..2000));
        let base = sim.base.clone();
        let db_url = db.url.clone();
        let (ended, _) =
            tokio::task::spawn_blocking(move || run_sync_child(&db_url, &base, Some(after)))
                .await
                .unwrap();
        if !ended {
            kills += 1;
        }
        let s = sync::status(&ctx, &setup(&sim.base)).await.unwrap();
        eprintln!("{b:?}: after a kill at {after:?}: cursor {:?}", s.cursor);
    }
    assert!(kills >= 3, "the runner was killed mid-way ({kills} kills)");
    // To the end, as often as it takes (a killed runner's lock may take a moment to go).
    let mut done = false;
    for _ in 0..10 {
        let base = sim.base.clone();
        let db_url = db.url.clone();
        let (_, out) = tokio::task::spawn_blocking(move || run_sync_child(&db_url, &base, None))
            .await
            .unwrap();
        if out.starts_with("sync: ") {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(done, "a run completed");
    assert_converged(&ctx, &sim).await;
    assert_pushed_once(&ctx, &sim, local).await;
}

/// `creditgate sync` (a round every interval) stops on SIGTERM within moments, mid-feed, with
/// exit status 0; the next run goes on from the cursor to the same end.
async fn sigterm_stops_the_runner_cleanly(b: Backend) {
    sigterm_stops_cleanly(b, &["sync", "--page-size", "200"]).await;
}

/// The same for the worker beside the server: SIGTERM stops the server, then its worker, promptly
/// and mid-feed; the next run converges.
async fn sigterm_stops_the_server_worker_cleanly(b: Backend) {
    sigterm_stops_cleanly(b, &["serve"]).await;
}

async fn sigterm_stops_cleanly(b: Backend, args: &[&str]) {
    let db = TestDb::new(b);
    let ctx = ctx_for(&db).await;
    let sim = SimHandle::start(
        28,
        20_000,
        FaultPlan {
            rate: 0.5,
            kinds: vec![Fault::Latency],
            latency_ms: 300,
            hang_ms: 1_000,
        },
    )
    .await;
    let child = Command::new(env!("CARGO_BIN_EXE_creditgate"))
        .args(args)
        .env("CREDITGATE_DATABASE_URL", &db.url)
        .env("CREDITGATE_BIND", "127.0.0.1:0")
        .env("CREDITGATE_SYNC_INTERVAL", "1")
        .env(
            "CREDITGATE_RULES_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
        )
        .env("CREDITGATE_LOG", "warn")
        .env("CREDITGATE_DATA_KEY", TEST_DATA_KEY)
        .env("CREDITGATE_PROVINCIAL_URL", &sim.base)
        .env("CREDITGATE_PROVINCIAL_INSECURE", "1")
        .env("CREDITGATE_PROVINCIAL_SECRET", SECRET_HEX)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Some pages in, then SIGTERM.
    let mut begun = false;
    for _ in 0..400 {
        let s = sync::status(&ctx, &setup(&sim.base)).await.unwrap();
        if s.counts.pages >= 3 {
            begun = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(begun, "{args:?} began to sync");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped promptly"
    );
    let s = sync::status(&ctx, &setup(&sim.base)).await.unwrap();
    assert!(s.remaining.unwrap_or(0) > 0, "stopped mid-feed: {s:?}");
    sim.set_faults(json!({"rate": 0.0})).await;
    let base = sim.base.clone();
    let db_url = db.url.clone();
    tokio::task::spawn_blocking(move || run_sync_child(&db_url, &base, None))
        .await
        .unwrap();
    assert_converged(&ctx, &sim).await;
}

async fn two_runners_never_both_apply(b: Backend) {
    let db = TestDb::new(b);
    // Two instances: two pools, two in-process locks. They run their rounds at once, without
    // the runner lock, so only the cursor claim of each page's transaction keeps them apart.
    let (one, two) = (ctx_for(&db).await, ctx_for(&db).await);
    let sim = SimHandle::start(24, 20_000, FaultPlan::default()).await;
    let (a, b2) = tokio::join!(
        round(&one, &sim, Duration::from_secs(20)),
        round(&two, &sim, Duration::from_secs(20))
    );
    eprintln!("{b:?}: one {a:?}\ntwo {b2:?}");
    assert_eq!(
        a.upserts + a.removals + a.skipped + b2.upserts + b2.removals + b2.skipped,
        20_000,
        "each change went through exactly one runner's transaction"
    );
    assert_converged(&one, &sim).await;

    if b == Backend::Postgres {
        // Across instances the advisory lock lets one runner in at a time.
        let held = RunnerLock::try_acquire(&one).await.unwrap().expect("free");
        assert!(RunnerLock::try_acquire(&two).await.unwrap().is_none());
        let base = sim.base.clone();
        let db_url = db.url.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_creditgate"))
                .args(["sync", "--once"])
                .env("CREDITGATE_DATABASE_URL", &db_url)
                .env(
                    "CREDITGATE_RULES_DIR",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
                )
                .env("CREDITGATE_LOG", "warn")
                .env("CREDITGATE_DATA_KEY", TEST_DATA_KEY)
                .env("CREDITGATE_PROVINCIAL_URL", &base)
                .env("CREDITGATE_PROVINCIAL_INSECURE", "1")
                .env("CREDITGATE_PROVINCIAL_SECRET", SECRET_HEX)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("another runner holds the sync lock"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        held.release().await;
        assert!(RunnerLock::try_acquire(&two).await.unwrap().is_some());
    }
}

/// The fault plan can be changed while the simulator runs; a bad plan is refused.
#[tokio::test]
async fn the_fault_plan_is_set_on_request() {
    let sim = SimHandle::start(1, 10, FaultPlan::default()).await;
    assert_eq!(
        sim.set_faults(json!({"rate": 1.0, "kinds": ["server_error"]}))
            .await,
        200
    );
    let p = sim.platform(Duration::from_secs(2));
    use creditgate::sync::platform::{Platform, SyncError};
    assert_eq!(p.pull(None, 5).await.unwrap_err(), SyncError::Server(503));
    assert_eq!(
        sim.set_faults(json!({"rate": 1.0, "kinds": ["bad_signature"]}))
            .await,
        200
    );
    assert!(matches!(
        p.pull(None, 5).await.unwrap_err(),
        SyncError::BadAnswer(_)
    ));
    assert_eq!(
        sim.set_faults(json!({"rate": 1.0, "kinds": ["reset"]}))
            .await,
        200
    );
    assert!(matches!(
        p.pull(None, 5).await.unwrap_err(),
        SyncError::Transport(_)
    ));
    assert_eq!(sim.set_faults(json!({"rate": 2.0})).await, 422);
    assert_eq!(
        sim.set_faults(json!({"rate": 0.5, "kinds": ["gremlins"]}))
            .await,
        422
    );
    assert_eq!(sim.set_faults(json!({"rate": 0.0})).await, 200);
    assert_eq!(p.pull(None, 5).await.unwrap().changes.len(), 5);
    assert_eq!(sim.stats().await.injected.values().sum::<u64>(), 3);
}

/// A platform that plays a fixed script of pages, as a broken or hostile one might.
struct Scripted(
    std::sync::Mutex<std::collections::VecDeque<creditgate::sync::protocol::ChangePage>>,
);

#[async_trait::async_trait]
impl creditgate::sync::platform::Platform for Scripted {
    async fn pull(
        &self,
        _after: Option<&str>,
        _limit: usize,
    ) -> Result<creditgate::sync::protocol::ChangePage, creditgate::sync::platform::SyncError> {
        let mut pages = self.0.lock().unwrap();
        let page = pages
            .pop_front()
            .expect("the round asked for more pages than the script has");
        if pages.is_empty() {
            pages.push_back(page.clone());
        }
        Ok(page)
    }

    async fn push(
        &self,
        _batch: &creditgate::sync::protocol::PushBatch,
    ) -> Result<Vec<creditgate::sync::protocol::PushResult>, creditgate::sync::platform::SyncError>
    {
        Ok(vec![])
    }

    async fn push_repairs(
        &self,
        _batch: &creditgate::sync::protocol::RepairPushBatch,
    ) -> Result<Vec<creditgate::sync::protocol::PushResult>, creditgate::sync::platform::SyncError>
    {
        Ok(vec![])
    }
}

/// A feed that never ends: one that comes back to a cursor the round has passed, and one that
/// says there is more without moving the cursor. Each ends the round with the reason (it spun
/// for ever), and applies nothing twice.
async fn a_feed_that_cycles_or_stalls_ends_the_round(b: Backend) {
    use creditgate::sync::protocol::{Change, ChangePage};
    let db = TestDb::new(b);
    let ctx = ctx_for(&db).await;
    let change = |cursor: &str, id: &str| Change {
        cursor: cursor.into(),
        op: "remove".into(),
        source_code: "PROV".into(),
        source_record_id: id.into(),
        version: 2,
        record: None,
    };
    let page = |after: Option<&str>, next: &str, id: &str| ChangePage {
        changes: vec![change(next, id)],
        after: after.map(str::to_string),
        next_cursor: Some(next.into()),
        has_more: true,
        remaining: None,
    };
    let settings = Settings {
        max_attempts: 3,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        ..fast()
    };
    let run = |script: Vec<ChangePage>| {
        let ctx = ctx.clone();
        let settings = settings.clone();
        async move {
            let (_tx, mut stop) = tokio::sync::watch::channel(false);
            let platform = Scripted(std::sync::Mutex::new(script.into()));
            tokio::time::timeout(
                Duration::from_secs(20),
                sync::run_round(&ctx, &platform, &settings, &mut stop, &mut ()),
            )
            .await
            .expect("the round ends")
        }
    };
    let cycle = run(vec![
        page(None, "A", "1"),
        page(Some("A"), "B", "2"),
        page(Some("B"), "A", "3"),
    ])
    .await;
    let e = cycle.expect_err("a feed that cycles");
    assert!(e.to_string().contains("came back to cursor A"), "{e}");

    let mut stall = page(Some("B"), "B", "4");
    stall.changes.clear();
    let e = run(vec![stall]).await.expect_err("a feed that stalls");
    assert!(e.to_string().contains("says there is more"), "{e}");
    let view = sync::status(&ctx, &setup("http://platform.invalid"))
        .await
        .unwrap();
    assert_eq!(view.cursor.as_deref(), Some("B"), "{view:?}");
    assert!(view
        .last_error
        .unwrap_or_default()
        .contains("says there is more"));
}

on_both_backends!(
    a_feed_that_cycles_or_stalls_ends_the_round,
    a_full_sync_converges_exactly,
    thirty_percent_faults_still_converge,
    killed_runners_lose_and_repeat_nothing,
    sigterm_stops_the_runner_cleanly,
    sigterm_stops_the_server_worker_cleanly,
    two_runners_never_both_apply,
);
