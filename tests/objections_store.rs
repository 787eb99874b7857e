//! The objection's step at the store: a compare-and-set on its status and history, so that of
//! two deciders who read the same objection only the first moves it, on either backend (the
//! race through the API, in tests/objections.rs, may be settled earlier on SQLite, where
//! writes take turns).

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

on_both_backends!(the_second_of_two_steps_from_one_reading_does_nothing);
