//! The provincial sync beside the server: the admin view, `/readyz` and `/metrics` show its
//! state; an unreachable platform degrades readiness only; a later removal reaches cached
//! profiles; a local newer version is never overwritten by an older provincial one.

mod common;
mod sync_support;

use std::time::Duration;

use common::*;
use creditgate::app::build_ctx;
use creditgate::service::Clock;
use creditgate::sync::sim::{self as provincial_sim, FaultPlan};
use serde_json::{json, Value};
use sync_support::*;

/// The worker beside the server: it syncs at start; the admin view, `/readyz` and `/metrics`
/// show it; pulled records are served with `origin: provincial`; a removal ends a record's
/// effect; a newer local version is never overwritten.
async fn the_server_syncs_and_shows_it(b: Backend) {
    let sim = SimHandle::start(25, 400, FaultPlan::default()).await;
    let app = spawn_app_with(
        b,
        Options {
            provincial: Some((sim.base.clone(), SECRET_HEX.into())),
            ..Options::default()
        },
    )
    .await;
    let admin = app.admin_key.clone();
    let mut view = Value::Null;
    for _ in 0..100 {
        view = app.get("/api/v1/admin/sync", Some(&admin)).await.body;
        if view["status"] == "ok" && view["remaining"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(view["status"], "ok", "{view}");
    assert_eq!(view["platform_url"], sim.base);
    let stats = sim.stats().await;
    assert_eq!(
        (view["counts"]["upserts"].as_u64().unwrap() + view["counts"]["removals"].as_u64().unwrap())
            as usize,
        stats.changes
    );
    assert!(view["cursor"].as_str().unwrap().starts_with("c_"));
    assert!(view["lag_seconds"].as_i64().unwrap() >= 0);

    let ready = app.get("/readyz", None).await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (200, Some("ready")),
        "{}",
        ready.text
    );
    assert_eq!(ready.body["sync"]["status"], "ok");
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        metrics.contains("creditgate_sync{what=\"remaining\"} 0"),
        "{metrics}"
    );
    let officer = app.key("GOV", "officer").await;
    assert_eq!(
        app.get("/api/v1/admin/sync", Some(&officer)).await.status,
        403
    );

    // A pulled record as an officer sees it, and a removed one.
    let changes = provincial_sim::generate_changes(25, 400);
    let removed = changes.iter().find(|c| c.op == "remove").unwrap();
    let upsert_of = |src: &str, id: &str| {
        changes
            .iter()
            .find(|c| c.op == "upsert" && c.source_code == src && c.source_record_id == id)
            .unwrap()
            .clone()
    };
    let first = upsert_of(&removed.source_code, &removed.source_record_id);
    let uscc = first.record.as_ref().unwrap()["subject"]["uscc"]
        .as_str()
        .unwrap()
        .to_string();
    // Kept, revoked: admins see it; other roles see it no more (API.md "Publicity periods").
    let profile = app.subject(&app.admin_key, &uscc).await;
    assert_eq!(profile.status, 200, "{}", profile.text);
    let shown_to_officer = app.subject(&officer, &uscc).await;
    assert!(
        !shown_to_officer
            .text
            .contains(removed.source_record_id.as_str()),
        "{}",
        shown_to_officer.text
    );
    let rec = profile.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source_record_id"] == removed.source_record_id.as_str())
        .unwrap_or_else(|| panic!("the removed record is kept, revoked: {}", profile.text));
    assert_eq!(rec["status"], "revoked");
    assert_eq!(rec["origin"], "provincial");
    assert_eq!(rec["version"], removed.version);
}

/// Without a reachable platform the service keeps answering and says the data is not there;
/// after a success, it says when the data goes stale.
async fn an_unreachable_platform_degrades_readiness_only(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            provincial: Some(("http://127.0.0.1:1".into(), SECRET_HEX.into())),
            ..Options::default()
        },
    )
    .await;
    let admin = app.admin_key.clone();
    let mut view = Value::Null;
    for _ in 0..100 {
        view = app.get("/api/v1/admin/sync", Some(&admin)).await.body;
        if view["last_error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(view["status"], "never", "{view}");
    assert!(
        view["last_error"].as_str().unwrap().contains("transport"),
        "{view}"
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "still answering");
    assert_eq!(ready.body["status"], "degraded");
    assert_eq!(ready.body["sync"]["status"], "never");
    // The error's text is the admin's (above), not anonymous callers'.
    assert!(
        !ready.text.contains("transport") && !ready.text.contains("127.0.0.1"),
        "{}",
        ready.text
    );
    let provider = app.key("SCJG", "provider").await;
    let u = code(1);
    assert_eq!(
        app.batch(&provider, vec![penalty("CF-1", &u)]).await.status,
        200
    );
    let officer = app.key("GOV", "officer").await;
    assert_eq!(app.subject(&officer, &u).await.status, 200);

    // A success, then silence past the bound: stale.
    let sim = SimHandle::start(26, 50, FaultPlan::default()).await;
    let stale = spawn_app_with(
        b,
        Options {
            provincial: Some((sim.base.clone(), SECRET_HEX.into())),
            sync_stale_after: Some(1),
            ..Options::default()
        },
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..60 {
        let r = stale.get("/readyz", None).await;
        let s = r.body["sync"]["status"].as_str().unwrap_or("").to_string();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "stale" {
            assert_eq!(r.status, 200);
            assert_eq!(r.body["status"], "degraded");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.contains(&"ok".to_string()), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("stale"), "{seen:?}");
}

/// A removal pulled later drops the subject's cached profile (Redis, shared by the instances),
/// even when the page holds nothing else of the subject.
async fn a_later_removal_reaches_cached_profiles(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            redis: Some(redis_url()),
            ..Options::default()
        },
    )
    .await;
    let config = app.config.clone();
    let ctx = tokio::task::spawn_blocking(move || build_ctx(&config, Clock::system()))
        .await
        .unwrap()
        .unwrap();
    let changes = provincial_sim::generate_changes(29, 2_000);
    let k = changes.iter().rposition(|c| c.op == "remove").unwrap();
    let removed = &changes[k];
    let first = changes
        .iter()
        .position(|c| c.source_record_id == removed.source_record_id)
        .unwrap();
    assert!(
        k - first > 500,
        "the upsert and the removal are pages apart"
    );
    let uscc = changes[first].record.as_ref().unwrap()["subject"]["uscc"]
        .as_str()
        .unwrap()
        .to_string();
    let sim = SimHandle::start(29, 2_000, FaultPlan::default()).await;
    let put = |n: usize| {
        let (client, url) = (sim.client.clone(), format!("{}/control/feed", sim.base));
        async move {
            client
                .put(url)
                .json(&json!({ "published": n }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(put(k).await, 200);
    round(&ctx, &sim, Duration::from_secs(20)).await;
    assert_converged_to(&ctx, &sim, k).await;
    let officer = app.key("GOV", "officer").await;
    let status_of = |p: &Answer| {
        p.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["source_record_id"] == removed.source_record_id.as_str())
            .map(|r| r["status"].as_str().unwrap().to_string())
    };
    let before = app.subject(&officer, &uscc).await;
    assert_eq!(
        status_of(&before).as_deref(),
        Some("active"),
        "{}",
        before.text
    );
    assert_eq!(put(usize::MAX).await, 200);
    let r = round(&ctx, &sim, Duration::from_secs(20)).await;
    assert!(r.removals > 0, "{r:?}");
    // The cached profile was dropped: the admin sees the record revoked, the officer no longer
    // sees it at all.
    let after = app.subject(&app.admin_key, &uscc).await;
    assert_eq!(
        status_of(&after).as_deref(),
        Some("revoked"),
        "{}",
        after.text
    );
    let after = app.subject(&officer, &uscc).await;
    assert_eq!(status_of(&after), None, "{}", after.text);
    assert_converged(&ctx, &sim).await;
}

async fn a_local_newer_version_is_never_overwritten(b: Backend) {
    let db = TestDb::new(b);
    let ctx = ctx_for(&db).await;
    let sim = SimHandle::start(27, 300, FaultPlan::default()).await;
    let changes = provincial_sim::generate_changes(27, 300);
    // The city already holds version 5 of a record the platform offers at version 1.
    let c = changes.iter().find(|c| c.op == "upsert").unwrap();
    let mut local = c.record.clone().unwrap();
    local["version"] = json!(5);
    local["details"] = json!({"BZ": "本地更新"});
    local["source_code"] = json!(c.source_code);
    local.as_object_mut().unwrap().remove("origin");
    let submitter = creditgate::service::ingest::Submitter {
        caller: creditgate::domain::Caller {
            key_id: "test".into(),
            org_code: "CITY".into(),
            role: creditgate::domain::Role::Admin,
        },
    };
    let r = creditgate::service::ingest::ingest_batch(&ctx, &submitter, vec![local])
        .await
        .unwrap();
    assert_eq!(r.summary.created, 1, "{r:?}");
    let rep = round(&ctx, &sim, Duration::from_secs(20)).await;
    assert!(rep.skipped >= 1, "{rep:?}");
    let app = spawn_on(&db).await;
    let officer = app.key("GOV", "officer").await;
    let uscc = c.record.as_ref().unwrap()["subject"]["uscc"]
        .as_str()
        .unwrap();
    let p = app.subject(&officer, uscc).await;
    let rec = p.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source_record_id"] == c.source_record_id.as_str())
        .unwrap()
        .clone();
    let newest = changes
        .iter()
        .filter(|x| x.source_record_id == c.source_record_id)
        .map(|x| x.version)
        .max()
        .unwrap();
    if newest <= 5 {
        assert_eq!(rec["version"], 5, "{rec}");
        assert_eq!(rec["details"]["BZ"], "本地更新");
    }
}

on_both_backends!(
    the_server_syncs_and_shows_it,
    an_unreachable_platform_degrades_readiness_only,
    a_local_newer_version_is_never_overwritten,
    a_later_removal_reaches_cached_profiles,
);
