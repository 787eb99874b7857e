//! Credit repair at its edges: a second application while one is pending, a record past its
//! publicity, another department's record the provider may not see, and what an officer's
//! profile says after a repair (nothing: no trace of the repaired record, not even a count).

mod common;
mod lifecycle_support;

use common::*;
use lifecycle_support::*;
use serde_json::{json, Value};

fn application(record_id: &str) -> Value {
    json!({"record_id": record_id, "applicant": {"name": "北京示例科技有限公司"}, "commitment": "XYCN-2026-0099"})
}

fn codes_of(a: &Answer) -> Vec<String> {
    a.body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn repair_edge_cases(b: Backend) {
    let app = spawn_app(b).await;
    let scjg = app.key("SCJG", "provider").await;
    let swj = app.key("SWJ", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let c = code(51);
    let mut eligible = penalty("ED-1", &c);
    eligible["severity"] = json!("general");
    eligible["decision_date"] = json!("2026-06-01");
    let rec = submit(&app, &scjg, eligible).await;

    // One application at a time.
    let first = app
        .post("/api/v1/repairs", Some(&scjg), &application(&rec))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = app
        .post("/api/v1/repairs", Some(&scjg), &application(&rec))
        .await;
    assert_eq!(second.status, 422, "{}", second.text);
    assert_eq!(codes_of(&second), ["repair_pending"], "{}", second.text);
    assert_eq!(error_fields(&second), ["record_id"], "{}", second.text);

    // Past its publicity (一般, decided 2025-11-23: ended on 2026-11-23): nothing to end.
    let mut ended = penalty("ED-2", &c);
    ended["severity"] = json!("general");
    ended["decision_date"] = json!("2025-11-23");
    let ended_id = submit(&app, &scjg, ended).await;
    let r = app
        .post(
            "/api/v1/repairs",
            Some(&app.admin_key),
            &application(&ended_id),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(codes_of(&r), ["not_repairable"], "{}", r.text);
    assert!(r.text.contains("2026-11-23"), "{}", r.text);

    // Another department's record that the provider may not see (special sharing): absent.
    let mut special = penalty("ED-3", &c);
    special["sharing_class"] = json!("special");
    special["severity"] = json!("general");
    special["decision_date"] = json!("2026-06-01");
    let special_id = submit(&app, &scjg, special).await;
    let r = app
        .post("/api/v1/repairs", Some(&swj), &application(&special_id))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // One it may see: refused in words, naming the department that decides.
    let r = app
        .post("/api/v1/repairs", Some(&swj), &application(&rec))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("SCJG"), "{}", r.text);

    // Approved: the officer's profile shows no trace of it, not even among restricted records.
    let before = app.subject(&officer, &c).await;
    let restricted_before = before.body["summary"]["restricted_records"]
        .as_u64()
        .unwrap();
    let id = first.body["id"].as_str().unwrap();
    let d = app
        .post(
            &format!("/api/v1/repairs/{id}/decision"),
            Some(&scjg),
            &json!({"outcome": "approved", "reason": "罚款已缴清并作出信用承诺，准予修复"}),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    let after = app.subject(&officer, &c).await;
    assert!(shown(&after.body, "ED-1").is_none(), "{}", after.text);
    assert_eq!(
        after.body["summary"]["restricted_records"]
            .as_u64()
            .unwrap(),
        restricted_before,
        "{}",
        after.text
    );
    assert!(!after.text.contains(&rec), "{}", after.text);
}

on_both_backends!(repair_edge_cases);
