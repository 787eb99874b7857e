//! Several instances on one database, and the command line beside them. Each instance holds
//! callers, grants and agreements in process; what one changes, the instance that changed it
//! stops serving at once and the others within a second (issue #14). A pool whose connections
//! the server cut answers 503 while it replaces them, never 500.

mod common;

use common::*;
use serde_json::json;

const RULES: &str = "/api/v1/rules";

async fn key_id(app: &TestApp, org: &str) -> Vec<String> {
    let list = app
        .get(
            &format!("/api/v1/admin/keys?org={org}"),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["revoked_at"].is_null())
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

/// Runs the command line on the app's database beside the running instances; it must succeed.
async fn run_cli(app: &TestApp, args: &[&str]) {
    let url = app.db_url.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || creditgate_cli(&url).args(&args).output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn a_revoked_key_is_refused_on_every_instance(b: Backend) {
    let one = spawn_app(b).await;
    let two = one.twin().await;
    let officer = one.key("ZWFW", "officer").await;
    // Both instances have answered the key (and hold it now).
    for _ in 0..3 {
        assert_eq!(one.get(RULES, Some(&officer)).await.status, 200);
        assert_eq!(two.get(RULES, Some(&officer)).await.status, 200);
    }
    let id = key_id(&one, "ZWFW").await.remove(0);
    let r = one
        .post(
            &format!("/api/v1/admin/keys/{id}/revoke"),
            Some(&one.admin_key),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(one.get(RULES, Some(&officer)).await.status, 401);
    assert!(
        comes_true(SPREAD, || async {
            two.get(RULES, Some(&officer)).await.status == 401
        })
        .await,
        "the other instance still takes the revoked key"
    );
    // It stays refused (nothing brings the old answer back).
    assert_eq!(two.get(RULES, Some(&officer)).await.status, 401);

    // Revoked from the command line beside the running instances.
    let second = one.key("ZWFW", "officer").await;
    for app in [&one, &two] {
        assert_eq!(app.get(RULES, Some(&second)).await.status, 200);
    }
    let id = key_id(&one, "ZWFW").await.remove(0);
    run_cli(&one, &["keys", "revoke", &id]).await;
    for app in [&one, &two] {
        assert!(
            comes_true(SPREAD, || async {
                app.get(RULES, Some(&second)).await.status == 401
            })
            .await,
            "an instance still takes the key revoked by the command line"
        );
    }
}

async fn grants_reach_every_instance(b: Backend) {
    let one = spawn_app(b).await;
    let two = one.twin().await;
    let tax = one.key("SWJ", "provider").await;
    let officer = one.key("ZWFW", "officer").await;
    let c = code(1);
    let mut special = penalty("SW-2", &c);
    special["sharing_class"] = json!("special");
    let r = one.batch(&tax, vec![special]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let record = r.body["results"][0]["id"].as_str().unwrap().to_string();
    let shown = |p: &Answer| p.body["records"].as_array().map_or(0, |r| r.len());
    let p = two.subject(&officer, &c).await;
    assert_eq!((p.status, shown(&p)), (200, 0), "{}", p.text);

    let g = one
        .post("/api/v1/admin/special-grants", Some(&one.admin_key), &json!({"org_code": "ZWFW", "record_id": record, "purpose": "专项核查", "valid_to": "2027-06-30"}))
        .await;
    assert_eq!(g.status, 201, "{}", g.text);
    assert_eq!(shown(&one.subject(&officer, &c).await), 1);
    assert!(
        comes_true(SPREAD, || async {
            shown(&two.subject(&officer, &c).await) == 1
        })
        .await,
        "the other instance does not apply the new grant"
    );

    let grant = g.body["id"].as_str().unwrap();
    let r = one
        .post(
            &format!("/api/v1/admin/access-grants/{grant}/revoke"),
            Some(&one.admin_key),
            &json!({"reason": "核查结束"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(shown(&one.subject(&officer, &c).await), 0);
    assert!(
        comes_true(SPREAD, || async {
            shown(&two.subject(&officer, &c).await) == 0
        })
        .await,
        "the other instance still applies the revoked grant"
    );
}

async fn a_revoked_agreement_is_refused_on_every_instance(b: Backend) {
    let one = spawn_app(b).await;
    let two = one.twin().await;
    let bank = one.key("BANK", "partner").await;
    let c = code(1);
    let path = format!("/api/v1/subjects/{c}?purpose=授信审查&authorization_ref=SQ-2026-001");
    // No agreement: refused on both.
    for app in [&one, &two] {
        assert_eq!(app.get(&path, Some(&bank)).await.status, 403);
    }
    let a = one
        .post("/api/v1/admin/agreements", Some(&one.admin_key), &json!({"org_code": "BANK", "scenarios": ["profile"], "record_kinds": ["penalty"],
               "valid_from": "2026-01-01", "valid_to": "2026-12-31", "daily_quota": 1000, "reference": "XY-2026-07"}))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    // Admitted (the subject is unknown: 404, not 403) here at once, there within a second.
    assert_eq!(one.get(&path, Some(&bank)).await.status, 404);
    assert!(
        comes_true(SPREAD, || async {
            two.get(&path, Some(&bank)).await.status == 404
        })
        .await
    );

    let id = a.body["id"].as_str().unwrap();
    let r = one
        .post(
            &format!("/api/v1/admin/agreements/{id}/revoke"),
            Some(&one.admin_key),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(one.get(&path, Some(&bank)).await.status, 403);
    assert!(
        comes_true(SPREAD, || async {
            two.get(&path, Some(&bank)).await.status == 403
        })
        .await,
        "the other instance still admits under the revoked agreement"
    );
}

/// A profile held by an instance is dropped when its records change, whoever changes them:
/// another instance's batch, or `creditgate import` run beside the servers (issue #13 item 2:
/// the server used to serve the old profile for up to 5 minutes after an import).
async fn profiles_follow_writes_from_anywhere(b: Backend) {
    let one = spawn_app(b).await;
    let two = one.twin().await;
    let scjg = one.key("SCJG", "provider").await;
    let officer = one.key("ZWFW", "officer").await;
    let c = "91110000MA00000152";
    let r = one.batch(&scjg, vec![penalty("CF-1", c)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let count = |p: &Answer| p.body["records"].as_array().map_or(0, |r| r.len());
    // Both instances have read (and hold) the profile with one record.
    for _ in 0..2 {
        assert_eq!(count(&one.subject(&officer, c).await), 1);
        assert_eq!(count(&two.subject(&officer, c).await), 1);
    }

    let r = one.batch(&scjg, vec![penalty("CF-2", c)]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    assert_eq!(count(&one.subject(&officer, c).await), 2);
    assert!(
        comes_true(SPREAD, || async {
            count(&two.subject(&officer, c).await) == 2
        })
        .await,
        "the other instance serves the profile from before the batch"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cf.csv");
    let header = "CF_XDR_MC,CF_XDR_LB,CF_XDR_SHXYM,CF_WSH,CF_CFLB,CF_NR_FK,CF_JDRQ,CF_CFJG";
    let row = format!("北京示例科技有限公司,法人及非法人组织,{c},京市监罚〔2026〕31号,罚款,2,2026-04-01,北京市市场监督管理局");
    std::fs::write(&file, format!("{header}\n{row}\n")).unwrap();
    run_cli(
        &one,
        &["import", file.to_str().unwrap(), "--source", "SCJG"],
    )
    .await;
    for app in [&one, &two] {
        assert!(
            comes_true(SPREAD, || async {
                count(&app.subject(&officer, c).await) == 3
            })
            .await,
            "an instance serves the profile from before the import"
        );
    }
}

/// The server cuts every connection of the service (as a restart does): requests meanwhile
/// are answered 503 at worst, each pooled connection fails at most once and is replaced, and
/// the instance learns of revocations again once its listener is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_by_the_server_are_replaced() {
    let one = spawn_app(Backend::Postgres).await;
    let two = one.twin().await;
    let officer = one.key("ZWFW", "officer").await;
    let profile = format!("/api/v1/subjects/{}?purpose=load", code(1));
    for _ in 0..4 {
        assert_eq!(one.get(&profile, Some(&officer)).await.status, 404);
    }
    let db = one.db_url.rsplit('/').next().unwrap().to_string();
    let admin = postgres_admin_url();
    let cut = tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        let mut c = diesel::PgConnection::establish(&admin).unwrap();
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        ))
        .execute(&mut c)
        .unwrap()
    })
    .await
    .unwrap();
    assert!(cut >= 2, "cut {cut} connections");

    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(one.get(&profile, Some(&officer)).await.status);
    }
    assert!(
        statuses.iter().all(|s| *s == 404 || *s == 503),
        "{statuses:?}"
    );
    let failed = statuses.iter().filter(|s| **s == 503).count();
    // The pool holds 4; the access-log writer and the sealer take theirs from it too.
    assert!(failed <= 4, "{failed} requests failed: {statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 404), "{statuses:?}");

    // The other instance meets its cut connections now, as few times.
    let mut other = Vec::new();
    for _ in 0..10 {
        other.push(two.get(RULES, Some(&two.admin_key)).await.status);
    }
    assert!(other[5..].iter().all(|s| *s == 200), "{other:?}");
    assert!(other.iter().all(|s| *s == 200 || *s == 503), "{other:?}");

    // The listeners reconnect (each caches again), and a revocation through the other
    // instance reaches this one.
    one.listening().await;
    two.listening().await;
    let id = key_id(&two, "ZWFW").await.remove(0);
    assert_eq!(one.get(RULES, Some(&officer)).await.status, 200);
    let r = two
        .post(
            &format!("/api/v1/admin/keys/{id}/revoke"),
            Some(&two.admin_key),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        comes_true(SPREAD * 3, || async {
            one.get(RULES, Some(&officer)).await.status == 401
        })
        .await
    );
}

on_both_backends!(
    a_revoked_key_is_refused_on_every_instance,
    grants_reach_every_instance,
    a_revoked_agreement_is_refused_on_every_instance,
    profiles_follow_writes_from_anywhere,
);
