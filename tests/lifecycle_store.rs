//! The lifecycle's steps at the store, where the races are settled: an objection's step is a
//! compare-and-set on its status and history, a repair's decision one on `accepted`, so that of
//! two deciders who read the same state only the first writes, on either backend (the races
//! through the API, in tests/objections.rs and tests/repairs.rs, may be settled earlier on
//! SQLite, where writes take turns).

mod common;

use common::*;
use creditgate::store::objections::{self, Step};
use serde_json::json;

async fn the_second_of_two_steps_from_one_reading_does_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let r = app.batch(&scjg, vec![penalty("CAS-1", &code(40))]).await;
    let record = r.body["results"][0]["id"].as_str().unwrap().to_string();
    let filed = app
        .post(
            "/api/v1/objections",
            Some(&officer),
            &json!({"record_id": record, "grounds": "处罚决定书文号与原件不一致",
                    "filed_by": {"kind": "using_department", "name": "政务服务中心"}}),
        )
        .await;
    assert_eq!(filed.status, 201, "{}", filed.text);
    let id = filed.body["id"].as_str().unwrap().to_string();

    let pool = creditgate::store::connect(&app.db_url, 2).unwrap();
    let mut conn = pool.get().unwrap();
    let read = objections::find(&mut conn, &id).unwrap().unwrap();
    let at = app.clock.stamp();
    let step = |status: &'static str, history: &'static str| Step {
        status,
        outcome: None,
        forwarded_on: None,
        provider_due: None,
        closed_on: None,
        history,
        at,
    };
    let first = step("forwarded", r#"[{"step":"first"}]"#);
    let second = step("closed", r#"[{"step":"second"}]"#);
    assert!(objections::step(&mut conn, &id, &read.status, &read.history, &first).unwrap());
    assert!(!objections::step(&mut conn, &id, &read.status, &read.history, &second).unwrap());
    let now = objections::find(&mut conn, &id).unwrap().unwrap();
    assert_eq!(now.status, "forwarded");
    assert_eq!(now.history, r#"[{"step":"first"}]"#);
}

/// A repair's decision at the store: only an application still `accepted` is decided, so of
/// two decisions from one reading only the first is written.
async fn a_repair_is_decided_once(b: Backend) {
    use creditgate::store::repairs::{self, Decision};
    let app = spawn_app(b).await;
    let scjg = app.key("SCJG", "provider").await;
    let mut p = penalty("CAS-2", &code(41));
    p["severity"] = json!("general");
    p["decision_date"] = json!("2026-06-01");
    let r = app.batch(&scjg, vec![p]).await;
    let record = r.body["results"][0]["id"].as_str().unwrap().to_string();
    let applied = app
        .post(
            "/api/v1/repairs",
            Some(&scjg),
            &json!({"record_id": record, "applicant": {"name": "北京示例科技有限公司"}, "commitment": "XYCN-1"}),
        )
        .await;
    assert_eq!(applied.status, 201, "{}", applied.text);
    let id = applied.body["id"].as_str().unwrap().to_string();
    let pool = creditgate::store::connect(&app.db_url, 2).unwrap();
    let mut conn = pool.get().unwrap();
    let on = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let at = app.clock.stamp();
    let decision = |status| Decision {
        status,
        on,
        reason: "经核查，准予修复的书面理由",
        record_version: Some(1),
        at,
    };
    assert!(repairs::decide(&mut conn, &id, &decision("rejected")).unwrap());
    assert!(!repairs::decide(&mut conn, &id, &decision("approved")).unwrap());
    assert_eq!(
        repairs::find(&mut conn, &id).unwrap().unwrap().status,
        "rejected"
    );
    assert!(
        repairs::repaired_on(&mut conn, std::slice::from_ref(&record))
            .unwrap()
            .is_empty()
    );
}

on_both_backends!(
    the_second_of_two_steps_from_one_reading_does_nothing,
    a_repair_is_decided_once,
);
