//! An approved repair reaches the provincial platform in the next sync round
//! (`POST /v1/repairs/batch`, docs/provincial-protocol.md), once: the platform takes it by its
//! id, and the city does not send it again.

mod common;
mod sync_support;

use std::time::Duration;

use common::*;
use creditgate::sync::sim::FaultPlan;
use serde_json::json;
use sync_support::*;

fn key(db: &TestDb, org: &str, role: &str) -> String {
    let out = creditgate_cli(&db.url)
        .args(["keys", "create", "--org", org, "--role", role])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn an_approved_repair_is_pushed_once(b: Backend) {
    let sim = SimHandle::start(5, 20, FaultPlan::default()).await;
    let db = TestDb::new(b);
    let ctx = ctx_for(&db).await;
    let app = spawn_on(&db).await;
    let scjg = key(&db, "SCJG", "provider");
    // A 一般 penalty decided in June: repairable since September.
    let mut p = penalty("RS-1", &code(31));
    p["severity"] = json!("general");
    p["decision_date"] = json!("2026-06-01");
    let r = app.batch(&scjg, vec![p]).await;
    let record_id = r.body["results"][0]["id"].as_str().unwrap().to_string();
    let first = round(&ctx, &sim, Duration::from_secs(20)).await;
    assert_eq!(first.repairs_pushed, 0, "{first:?}");

    let applied = app
        .post(
            "/api/v1/repairs",
            Some(&scjg),
            &json!({"record_id": record_id, "applicant": {"name": "北京示例科技有限公司"}, "commitment": "XYCN-2026-0031"}),
        )
        .await;
    assert_eq!(applied.status, 201, "{}", applied.text);
    let repair_id = applied.body["id"].as_str().unwrap().to_string();
    // Accepted only: nothing to push yet.
    assert_eq!(
        round(&ctx, &sim, Duration::from_secs(20))
            .await
            .repairs_pushed,
        0
    );
    let decided = app
        .post(
            &format!("/api/v1/repairs/{repair_id}/decision"),
            Some(&scjg),
            &json!({"outcome": "approved", "reason": "罚款已缴清并作出信用承诺，准予修复"}),
        )
        .await;
    assert_eq!(decided.status, 200, "{}", decided.text);

    let next = round(&ctx, &sim, Duration::from_secs(20)).await;
    assert_eq!(
        (next.repairs_pushed, next.repairs_refused),
        (1, 0),
        "{next:?}"
    );
    let received: Vec<Vec<String>> = sim.get("/received-repairs").await;
    assert_eq!(
        received,
        vec![vec![
            repair_id.clone(),
            "SCJG".to_string(),
            "RS-1".to_string(),
            "2026-11-24".to_string()
        ]]
    );
    let shown = app
        .get(
            &format!("/api/v1/repairs/{repair_id}?purpose=信用修复核查"),
            Some(&scjg),
        )
        .await;
    assert!(shown.body["pushed_at"].is_string(), "{}", shown.text);
    assert!(shown.body["push_refused"].is_null(), "{}", shown.text);
    // Not again.
    let again = round(&ctx, &sim, Duration::from_secs(20)).await;
    assert_eq!(again.repairs_pushed, 0, "{again:?}");
    let received: Vec<Vec<String>> = sim.get("/received-repairs").await;
    assert_eq!(received.len(), 1);
}

on_both_backends!(an_approved_repair_is_pushed_once);
