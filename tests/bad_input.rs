//! Bad input as an officer or a provider sends it: each error names the field and says what to
//! fix, once and truly, and nothing wrong is stored. On SQLite and on PostgreSQL.

mod common;

use common::*;
use serde_json::{json, Map, Value};

const CODE_A: &str = "91110000MA00000152";
const CODE_B: &str = "91420100MA0000015F";

/// The errors of item `i` of a batch answer, as (field, code, message).
fn item_errors(body: &Value, i: usize) -> Vec<(String, String, String)> {
    body["results"][i]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("item {i} has no errors: {body}"))
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("field"), s("code"), s("message"))
        })
        .collect()
}

fn with_details(id: &str, details: Value) -> Value {
    let mut r = penalty(id, CODE_A);
    r["details"] = details;
    r
}

async fn details_are_bounded(b: Backend) {
    let app = spawn_app(b).await;
    let provider = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;

    // A real penalty's further columns: 30 fields, the longest a 4,000-character 违法事实.
    let mut real = Map::new();
    for i in 0..29 {
        real.insert(format!("CF_X{i:02}"), json!("某某市场监督管理局"));
    }
    real.insert("CF_SY".into(), json!("违".repeat(4000)));
    let seven_mb = json!({"CF_SY": "x".repeat(7 * 1024 * 1024)});
    let many: Map<String, Value> = (0..65).map(|i| (format!("K{i}"), json!(i))).collect();
    let deep = json!({"CF_YJ": {"a": {"b": {"c": [1]}}}});
    let long_key = json!({"K".repeat(65): "v"});
    let r = app
        .batch(
            &provider,
            vec![
                with_details("D-1", Value::Object(real)),
                with_details("D-2", seven_mb),
                with_details("D-3", Value::Object(many)),
                with_details("D-4", deep),
                with_details("D-5", long_key),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(400)]);
    assert_eq!(
        r.body["results"][0]["status"], "created",
        "{}",
        r.body["results"][0]
    );
    let refused = [
        (1, "details", "too_large", "65536"),
        (2, "details", "too_many_keys", "at most 64"),
        (3, "details.CF_YJ", "too_deep", "3 levels"),
        (4, "details", "invalid_key", "1 to 64 characters"),
    ];
    for (i, field, code, words) in refused {
        assert_eq!(r.body["results"][i]["status"], "rejected");
        let errs = item_errors(&r.body, i);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!((errs[0].0.as_str(), errs[0].1.as_str()), (field, code));
        assert!(errs[0].2.contains(words), "{}", errs[0].2);
    }
    // The answer does not echo the 7 MB back, and none of it was stored.
    assert!(r.text.len() < 64 * 1024, "answer of {} bytes", r.text.len());
    let p = app.subject(&officer, CODE_A).await;
    assert_eq!(p.status, 200, "{}", p.text);
    let ids: Vec<&str> = p.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source_record_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["D-1"]);
}

async fn each_error_is_said_once_and_truly(b: Backend) {
    let app = spawn_app(b).await;
    let provider = app.key("SCJG", "provider").await;

    let mut bad_date = penalty("W-1", CODE_A);
    bad_date["decision_date"] = json!("2026-13-01");
    let mut bad_amount = penalty("W-2", CODE_A);
    bad_amount["fine_amount"] = json!("abc");
    let mut bad_type = penalty("W-3", CODE_A);
    bad_type["penalty_types"] = json!(["spanking"]);
    let mut full_width = penalty("W-4", CODE_B);
    full_width["subject"]["uscc"] = json!("９1420100MA0000015F");
    let mut full_width_id = penalty("W-5", CODE_A);
    full_width_id["subject"]["legal_rep"]["id_number"] = json!("１10101199003070011");
    let r = app
        .batch(
            &provider,
            vec![bad_date, bad_amount, bad_type, full_width, full_width_id],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let expect = [
        ("decision_date", "invalid_date", "YYYY-MM-DD"),
        ("fine_amount", "invalid_amount", "not a number"),
        ("penalty_types[0]", "unknown_value", "licence_revoked"),
        ("subject.uscc", "uscc_full_width", "full-width"),
        (
            "subject.legal_rep.id_number",
            "id_number_full_width",
            "full-width",
        ),
    ];
    for (i, (field, code, words)) in expect.into_iter().enumerate() {
        let errs = item_errors(&r.body, i);
        assert_eq!(errs.len(), 1, "no second, false error: {errs:?}");
        assert_eq!((errs[0].0.as_str(), errs[0].1.as_str()), (field, code));
        assert!(errs[0].2.contains(words), "{}", errs[0].2);
    }

    // A 26-digit amount as a JSON number is too large, not "too many decimals".
    let mut huge = serde_json::to_string(&json!({"records": [penalty("W-6", CODE_A)]})).unwrap();
    huge = huge.replace("\"2500000.00\"", "12345678901234567890123456");
    let r = app
        .post_raw("/api/v1/records/batch", Some(&provider), huge.into_bytes())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let errs = item_errors(&r.body, 0);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "fine_amount");
    assert!(errs[0].2.contains("too large"), "{}", errs[0].2);
    assert!(!errs[0].2.contains("decimals"), "{}", errs[0].2);
}

async fn query_parameters_are_named(b: Backend) {
    let app = spawn_app(b).await;
    let auditor = app.key("XYZX", "auditor").await;
    let officer = app.key("ZWFW", "officer").await;

    let r = app
        .get(
            "/api/v1/audit/entries?limit=99999999999999999999",
            Some(&auditor),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(r.body["errors"][0]["field"], "limit", "{}", r.text);
    let message = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("limit"), "{message}");
    assert!(!message.contains("target type"), "serde's words: {message}");

    let r = app
        .get("/api/v1/audit/entries?limit=ten", Some(&auditor))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["field"], "limit");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("whole number"),
        "{}",
        r.text
    );

    let r = app
        .get(
            &format!("/api/v1/subjects/{CODE_A}?purpose=a&purpose=b"),
            Some(&officer),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["field"], "purpose", "{}", r.text);
}

/// A path asked with a method it does not take answers 405 with the methods it takes in
/// `Allow` (it answered 404, as if the path did not exist); a path that is none stays 404.
async fn unsupported_methods_answer_405(b: Backend) {
    use reqwest::Method;
    let app = spawn_app(b).await;
    let officer = app.key("ZWFW", "officer").await;
    let cases = [
        (Method::DELETE, format!("/api/v1/subjects/{CODE_A}"), "GET"),
        (Method::PUT, "/api/v1/admin/keys".to_string(), "GET, POST"),
        // The resource /checks/batch, as the OpenAPI document lists it (a GET would still
        // reach the report numbered "batch").
        (Method::PATCH, "/api/v1/checks/batch".to_string(), "POST"),
        (Method::POST, "/healthz".to_string(), "GET"),
    ];
    for (method, path, allow) in cases {
        let resp = app
            .client
            .request(method.clone(), format!("{}{path}", app.base))
            .bearer_auth(&officer)
            .send()
            .await
            .unwrap();
        let got_allow = resp
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_string());
        let a = TestApp::answer(resp).await;
        assert_eq!(a.status, 405, "{method} {path}: {}", a.text);
        assert_eq!(got_allow.as_deref(), Some(allow), "{method} {path}");
        assert_eq!(a.content_type, "application/problem+json");
        assert_eq!(a.body["code"], "method_not_allowed");
    }
    let none = app.get("/api/v1/nothing-here", Some(&officer)).await;
    assert_eq!(none.status, 404);
}

on_both_backends!(
    unsupported_methods_answer_405,
    details_are_bounded,
    each_error_is_said_once_and_truly,
    query_parameters_are_named,
);
