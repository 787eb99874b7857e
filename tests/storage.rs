//! Migrations on both backends, the committed OpenAPI document, and the profile cache against
//! the real Redis.

mod common;

use common::*;
use creditgate::store;
use serde_json::json;

async fn migrations_go_up_down_up(b: Backend) {
    let db = TestDb::new(b);
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let pool = store::connect(&url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        let first = store::migrate(&mut conn).unwrap();
        assert!(!first.is_empty());
        assert_eq!(store::subjects::count(&mut conn).unwrap(), 0);
        let reverted = store::revert_all(&mut conn).unwrap();
        assert_eq!(reverted, first.len());
        assert!(
            store::subjects::count(&mut conn).is_err(),
            "tables remain after down"
        );
        let again = store::migrate(&mut conn).unwrap();
        assert_eq!(again, first);
        assert_eq!(store::records::count(&mut conn).unwrap(), 0);
        assert!(store::migrate(&mut conn).unwrap().is_empty());
    })
    .await
    .unwrap();
}

async fn cache_survives_unreachable_redis(b: Backend) {
    // Nothing listens on port 1: Redis is unreachable for the whole test.
    let app = spawn_app_with(
        b,
        Options {
            redis: Some("redis://127.0.0.1:1".into()),
            ..Options::default()
        },
    )
    .await;
    let provider = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let r = app
        .batch(&provider, vec![penalty("R-1", "91110000MA00000152")])
        .await;
    assert_eq!(r.status, 200);
    let p = app.subject(&officer, "91110000MA00000152").await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["records"].as_array().unwrap().len(), 1);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["status"], "degraded");
    assert_eq!(ready.body["cache"]["status"], "degraded");
    assert_eq!(ready.body["cache"]["kind"], "redis");
}

async fn redis_cache_is_filled_and_invalidated(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            redis: Some(redis_url()),
            ..Options::default()
        },
    )
    .await;
    let provider = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let code = "91110000MA00000152";
    app.batch(&provider, vec![penalty("R-1", code)]).await;
    let first = app.subject(&officer, code).await;
    assert_eq!(first.body["records"][0]["fine_amount"], "2500000.00");

    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}:profile:uscc:{code}", app.config.cache_prefix);
    let cached: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        cached.unwrap().contains("2500000.00"),
        "profile not cached in Redis"
    );

    let mut v2 = penalty("R-1", code);
    v2["version"] = json!(2);
    v2["fine_amount"] = json!("10.00");
    app.batch(&provider, vec![v2]).await;
    let gone: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(gone.is_none(), "cache entry not invalidated");
    let second = app.subject(&officer, code).await;
    assert_eq!(second.body["records"][0]["fine_amount"], "10.00");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.body["cache"]["status"], "ok");
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// A reader that read the database before a write committed, and puts its profile in the cache
/// after the writer dropped it, must not have that profile served: the entry it puts carries the
/// subject's generation from before the write. The racing reader is played by putting back the
/// entry as it was before the write, as that reader would.
async fn a_profile_put_in_the_cache_after_a_write_is_not_served(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            redis: Some(redis_url()),
            ..Options::default()
        },
    )
    .await;
    let provider = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let code = "91110000MA00000152";
    app.batch(&provider, vec![penalty("R-1", code)]).await;
    let first = app.subject(&officer, code).await;
    assert_eq!(first.body["records"][0]["fine_amount"], "2500000.00");
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}:profile:uscc:{code}", app.config.cache_prefix);
    let before: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();

    let mut v2 = penalty("R-1", code);
    v2["version"] = json!(2);
    v2["fine_amount"] = json!("10.00");
    let r = app.batch(&provider, vec![v2]).await;
    assert_eq!(r.body["results"][0]["status"], "updated", "{}", r.text);
    // The late reader's SET, after the writer's invalidation.
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&before)
        .arg("EX")
        .arg(300)
        .query_async(&mut conn)
        .await
        .unwrap();
    let after = app.subject(&officer, code).await;
    assert_eq!(
        after.body["records"][0]["fine_amount"], "10.00",
        "the stale profile was served"
    );
}

/// A change made while Redis is away must not be hidden by the profile cached before the outage
/// once Redis is back: the missed invalidation is applied before the cache is used again.
async fn invalidation_missed_during_a_redis_outage_is_applied_on_recovery(b: Backend) {
    let proxy = CutProxy::start(redis_url().trim_start_matches("redis://")).await;
    let app = spawn_app_with(
        b,
        Options {
            redis: Some(format!("redis://127.0.0.1:{}", proxy.port)),
            ..Options::default()
        },
    )
    .await;
    let provider = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let code = "91110000MA00000152";
    app.batch(&provider, vec![penalty("R-1", code)]).await;
    let first = app.subject(&officer, code).await;
    assert_eq!(first.body["records"][0]["fine_amount"], "2500000.00");
    let key = format!("{}:profile:uscc:{code}", app.config.cache_prefix);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let cached: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(cached.is_some(), "profile not cached before the outage");

    proxy.cut();
    let mut v2 = penalty("R-1", code);
    v2["version"] = json!(2);
    v2["fine_amount"] = json!("10.00");
    let r = app.batch(&provider, vec![v2]).await;
    assert_eq!(r.body["results"][0]["status"], "updated", "{}", r.text);
    let during = app.subject(&officer, code).await;
    assert_eq!(during.body["records"][0]["fine_amount"], "10.00");
    let stale: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        stale.is_some(),
        "the outage should have kept the old entry in Redis"
    );

    proxy.restore();
    let mut ready = app.get("/readyz", None).await;
    for _ in 0..50 {
        if ready.body["cache"]["status"] == "ok" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        ready = app.get("/readyz", None).await;
    }
    assert_eq!(ready.body["cache"]["status"], "ok", "{}", ready.text);
    let after = app.subject(&officer, code).await;
    assert_eq!(
        after.body["records"][0]["fine_amount"], "10.00",
        "stale profile served after Redis came back"
    );
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// A connection given back while its thread panics inside a transaction is thrown away, not
/// pooled: otherwise the next user would run inside the open transaction (its own became a
/// savepoint, and nothing it wrote would be committed).
async fn a_connection_dropped_mid_transaction_is_not_reused(b: Backend) {
    let db = TestDb::new(b);
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let pool = store::connect(&url, 1).unwrap();
        store::migrate(&mut pool.get().unwrap()).unwrap();
        let p = pool.clone();
        let crashed = std::thread::spawn(move || {
            let mut conn = p.get().unwrap();
            let _: Result<(), store::StoreError> =
                diesel::Connection::transaction(&mut *conn, |c| {
                    store::orgs::ensure(c, "HALF", "half written", test_now().naive_utc()).unwrap();
                    panic!("a use case fails mid-transaction");
                });
        })
        .join();
        assert!(crashed.is_err());
        let mut conn = pool.get().unwrap();
        assert!(
            store::orgs::find(&mut conn, "HALF").unwrap().is_none(),
            "the half-written row is not visible: the transaction was not carried over"
        );
        diesel::Connection::transaction::<_, store::StoreError, _>(&mut *conn, |c| {
            store::orgs::ensure(c, "NEXT", "next user", test_now().naive_utc()).map(|_| ())
        })
        .unwrap();
        drop(conn);
        // Seen from a connection of its own: the next user's write was committed.
        let other = store::connect(&url, 1).unwrap();
        assert!(store::orgs::find(&mut other.get().unwrap(), "NEXT")
            .unwrap()
            .is_some());
    })
    .await
    .unwrap();
}

on_both_backends!(
    a_profile_put_in_the_cache_after_a_write_is_not_served,
    a_connection_dropped_mid_transaction_is_not_reused,
    invalidation_missed_during_a_redis_outage_is_applied_on_recovery,
    migrations_go_up_down_up,
    cache_survives_unreachable_redis,
    redis_cache_is_filled_and_invalidated,
);

#[test]
fn migration_folders_hold_the_same_names() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let names = |backend: &str| {
        let mut v: Vec<String> = std::fs::read_dir(root.join(backend))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    assert!(!names("postgres").is_empty());
    assert_eq!(names("postgres"), names("sqlite"));
}

#[test]
fn committed_openapi_document_is_what_the_server_generates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = creditgate::api::openapi_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run `cargo run -q -- openapi > openapi/openapi.json`"
    );
}

/// Every `$ref` of the document names a schema it has (a dangling one fails a client's
/// generator and the fuzzer alike).
#[test]
fn the_openapi_document_has_no_dangling_reference() {
    let doc: serde_json::Value = serde_json::from_str(&creditgate::api::openapi_json()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(
            schemas.contains_key(name),
            "$ref to {name}, which the document does not have"
        );
    }
}

#[test]
fn committed_simulator_document_is_what_the_simulator_generates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/provincial-sim.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = creditgate::sync::sim::openapi_json();
    assert!(
        committed == generated,
        "openapi/provincial-sim.json is out of date: run `cargo run -q -- openapi --provincial-sim > openapi/provincial-sim.json`"
    );
}
