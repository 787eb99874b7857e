//! Banks and insurers under agreements: scenarios, record kinds, validity, daily quota, the
//! subject's authorisation; what they see (no closed data, no ID numbers, surnames only).

mod common;

use common::*;
use serde_json::{json, Value};

fn check(uscc: &str, scenario: &str, auth: Option<&str>) -> Value {
    let mut b = json!({"scenario": scenario, "subject": {"uscc": uscc}, "purpose": "授信审查"});
    if let Some(a) = auth {
        b["authorization_ref"] = json!(a);
    }
    b
}

async fn partners_query_within_their_agreement(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let bank = app.key("BANK", "partner").await;
    let late = app.key("INSURER", "partner").await;
    let scjg = app.key("SCJG", "provider").await;
    let court = app.key("FY", "provider").await;
    let c = code(1);
    let mut closed = penalty("CF-2", &c);
    closed["open_class"] = json!("closed");
    let mut conditional = penalty("CF-3", &c);
    conditional["sharing_class"] = json!("conditional");
    let licence = json!({
        "source_record_id": "XK-1", "kind": "license", "subject": {"uscc": c, "name": "北京示例科技有限公司", "kind": "legal_person"},
        "decision_no": "京食经〔2026〕1号", "decision_date": "2026-01-05", "sharing_class": "unconditional", "open_class": "open"
    });
    let r = app
        .batch(
            &scjg,
            vec![penalty("CF-1", &c), closed, conditional, licence],
        )
        .await;
    assert_eq!(r.body["summary"]["created"], 4, "{}", r.text);
    app.batch(
        &court,
        vec![list_entry("FY-1", &c, "court.dishonest_debtor")],
    )
    .await;

    // No agreement yet.
    let r = app
        .post(
            "/api/v1/checks",
            Some(&bank),
            &check(&c, "procurement", Some("SQ-2026-001")),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.body["detail"].as_str().unwrap().contains("no agreement"),
        "{}",
        r.text
    );

    let agreement = json!({"org_code": "BANK", "scenarios": ["profile", "procurement"], "record_kinds": ["penalty", "list_entry"],
                           "valid_from": "2026-01-01", "valid_to": "2026-12-31", "daily_quota": 3, "reference": "XY-2026-07"});
    let a = app
        .post("/api/v1/admin/agreements", Some(&admin), &agreement)
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let bad = app
        .post("/api/v1/admin/agreements", Some(&admin), &json!({"org_code": "BANK", "scenarios": ["lottery"], "record_kinds": ["gossip"], "valid_from": "2026-01-01", "valid_to": "2025-12-31", "daily_quota": 0}))
        .await;
    assert_eq!(bad.status, 422);
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["scenarios[0]", "record_kinds[0]", "valid_to", "daily_quota"],
        "{}",
        bad.text
    );
    let mut expired = agreement.clone();
    expired["org_code"] = json!("INSURER");
    expired["valid_to"] = json!("2026-11-23");
    assert_eq!(
        app.post("/api/v1/admin/agreements", Some(&admin), &expired)
            .await
            .status,
        201
    );

    // Outside the agreement: no authorisation reference, another scenario, an ended agreement.
    let r = app
        .post(
            "/api/v1/checks",
            Some(&bank),
            &check(&c, "procurement", None),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["errors"][0]["field"], "authorization_ref");
    let r = app
        .post(
            "/api/v1/checks",
            Some(&bank),
            &check(&c, "bidding", Some("SQ-2026-001")),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("does not cover 'bidding'"),
        "{}",
        r.text
    );
    let r = app
        .post(
            "/api/v1/checks",
            Some(&late),
            &check(&c, "procurement", Some("SQ-1")),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["detail"].as_str().unwrap().contains("in force"),
        "{}",
        r.text
    );
    let batch =
        json!({"scenario": "procurement", "purpose": "授信审查", "subjects": [{"uscc": c}]});
    assert_eq!(
        app.post("/api/v1/checks/batch", Some(&bank), &batch)
            .await
            .status,
        403
    );
    // Each refusal is in the access log once, with its reason: the role's (batch), and the
    // agreement's (none yet, another scenario), as the use case logged or the gate did.
    let auditor = app.key("SJJ", "auditor").await;
    let log = app
        .get("/api/v1/audit/entries?org=BANK&limit=500", Some(&auditor))
        .await;
    let denied: Vec<String> = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .map(|e| format!("{} {}", e["action"], e["detail"]["reason"]))
        .collect();
    assert_eq!(denied.len(), 3, "{denied:#?}");
    for (entry, why) in denied
        .iter()
        .zip(["no agreement", "does not cover 'bidding'", "batches"])
    {
        assert!(entry.contains("check.run"), "{entry}");
        assert!(entry.contains(why), "{entry}");
    }

    // Within it (quota use 1 and 2).
    let r = app
        .post(
            "/api/v1/checks",
            Some(&bank),
            &check(&c, "procurement", Some("SQ-2026-001")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["verdict"], "prohibited");
    let p = app
        .get(
            &format!("/api/v1/subjects/{c}?purpose=授信审查&authorization_ref=SQ-2026-001"),
            Some(&bank),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    let ids: Vec<&str> = p.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source_record_id"].as_str().unwrap())
        .collect();
    let mut ids = ids;
    ids.sort();
    assert_eq!(
        ids,
        ["CF-1", "FY-1"],
        "closed, conditional and licence records are not shown"
    );
    assert_eq!(p.body["subject"]["legal_rep"]["name"], "张*");
    assert!(
        p.body["subject"]["legal_rep"].get("id_number").is_none(),
        "{}",
        p.text
    );
    assert!(
        !p.text.contains("110101"),
        "no ID number, not even masked: {}",
        p.text
    );
    assert!(!p.text.contains("张三"));

    // Quota use 3, then over the quota: 429 until midnight.
    assert_eq!(
        app.post(
            "/api/v1/checks",
            Some(&bank),
            &check(&c, "procurement", Some("SQ-2026-002"))
        )
        .await
        .status,
        201
    );
    let over = app
        .post(
            "/api/v1/checks",
            Some(&bank),
            &check(&c, "procurement", Some("SQ-2026-003")),
        )
        .await;
    assert_eq!(over.status, 429, "{}", over.text);
    assert!(over.body["detail"]
        .as_str()
        .unwrap()
        .contains("daily quota of 3"));
    let resp = app
        .client
        .post(format!("{}/api/v1/checks", app.base))
        .bearer_auth(&bank)
        .json(&check(&c, "procurement", Some("SQ-2026-004")))
        .send()
        .await
        .unwrap();
    // The test clock starts at 16:30 in Beijing: 7.5 hours (27,000 s) to midnight, less the
    // seconds the tests have run.
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((26_400..=27_000).contains(&wait), "Retry-After {wait}");

    // The access log names the refusals and the agreement.
    let auditor = app.key("SJJ", "auditor").await;
    let log = app
        .get("/api/v1/audit/entries?org=BANK&limit=500", Some(&auditor))
        .await;
    let outcomes: Vec<&str> = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"denied") && outcomes.contains(&"over_quota"),
        "{outcomes:?}"
    );

    // Revoking the agreement ends it at once.
    let id = a.body["id"].as_str().unwrap();
    assert_eq!(
        app.post(
            &format!("/api/v1/admin/agreements/{id}/revoke"),
            Some(&admin),
            &json!({})
        )
        .await
        .status,
        200
    );
    let p = app
        .get(
            &format!("/api/v1/subjects/{c}?purpose=授信审查&authorization_ref=SQ-2026-001"),
            Some(&bank),
        )
        .await;
    assert_eq!(p.status, 403);
}

on_both_backends!(partners_query_within_their_agreement);
