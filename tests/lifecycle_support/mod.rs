//! Helpers of the lifecycle tests (objections, periods, repairs): reading problem+json answers,
//! profiles and reports, submitting records, the access log.
#![allow(dead_code)] // each test file uses a part of them

use super::common::*;
use serde_json::Value;

/// The `field`s of a problem's `errors`.
pub fn error_fields(a: &Answer) -> Vec<String> {
    a.body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn assert_invalid(a: &Answer, field: &str) {
    assert_eq!(a.status, 422, "{field}: {}", a.text);
    assert!(
        error_fields(a).iter().any(|f| f == field),
        "expected an error on {field}: {}",
        a.text
    );
}

pub fn assert_conflict(a: &Answer, status_now: &str) {
    assert_eq!(a.status, 409, "{}", a.text);
    assert!(
        a.content_type.starts_with("application/problem+json"),
        "{}: {}",
        a.content_type,
        a.text
    );
    assert_eq!(a.body["current"]["status"], status_now, "{}", a.text);
}

/// The record with `source_record_id` in a profile, if shown.
pub fn shown<'a>(profile: &'a Value, source_id: &str) -> Option<&'a Value> {
    profile["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records: {profile}"))
        .iter()
        .find(|r| r["source_record_id"] == source_id)
}

/// Every record named in a report's findings.
pub fn finding_records(report: &Value) -> Vec<Value> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings: {report}"))
        .iter()
        .flat_map(|f| f["records"].as_array().cloned().unwrap_or_default())
        .collect()
}

pub async fn submit(app: &TestApp, key: &str, record: Value) -> String {
    let r = app.batch(key, vec![record]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let status = r.body["results"][0]["status"].as_str().unwrap_or("");
    assert!(matches!(status, "created" | "updated"), "{}", r.text);
    r.body["results"][0]["id"].as_str().unwrap().to_string()
}

pub async fn audit_entries(app: &TestApp, action: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/api/v1/audit/entries?action={action}&limit=500"),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["entries"].as_array().unwrap().clone()
}

/// `creditgate audit seal`, then `audit verify`: the access log's chain holds.
pub fn seal_and_verify(app: &TestApp) {
    for args in [["audit", "seal"], ["audit", "verify"]] {
        let out = creditgate_cli(&app.db_url).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
