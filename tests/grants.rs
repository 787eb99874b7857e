//! Conditional records need an approved application in force; special records an
//! administrator's naming (the governing measures Art. 8, 17–19).

mod common;

use common::*;
use serde_json::json;

async fn applications_and_special_grants_open_restricted_records(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let tax = app.key("SWJ", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let other = app.key("JTJ", "officer").await;
    let c = code(1);
    let mut conditional = list_entry("SW-1", &c, "tax.major_violation");
    conditional["sharing_class"] = json!("conditional");
    let mut special = penalty("SW-2", &c);
    special["sharing_class"] = json!("special");
    let r = app.batch(&tax, vec![conditional, special]).await;
    let special_id = r.body["results"][1]["id"].as_str().unwrap().to_string();
    let shown = |p: &Answer| {
        let mut v: Vec<String> = p.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["source_record_id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };

    let p = app.subject(&officer, &c).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(shown(&p).is_empty());
    assert_eq!(p.body["summary"]["restricted_records"], 2);

    // An application: pending changes nothing.
    let bad = app
        .post(
            "/api/v1/access-applications",
            Some(&officer),
            &json!({"source_codes": ["SWJ"], "valid_to": "2026-12-31"}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["errors"][0]["field"], "purpose");
    let a = app
        .post("/api/v1/access-applications", Some(&officer), &json!({"source_codes": ["SWJ"], "list_codes": ["tax.major_violation"], "purpose": "企业开办联合审查", "valid_to": "2026-12-31"}))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["status"], "pending");
    let id = a.body["id"].as_str().unwrap().to_string();
    assert!(shown(&app.subject(&officer, &c).await).is_empty());
    let mine = app.get("/api/v1/access-applications", Some(&officer)).await;
    assert_eq!(mine.body.as_array().unwrap().len(), 1);
    assert!(app
        .get("/api/v1/access-applications", Some(&other))
        .await
        .body
        .as_array()
        .unwrap()
        .is_empty());

    // The decision needs a reason and an admin.
    let path = format!("/api/v1/admin/access-applications/{id}/approve");
    assert_eq!(
        app.post(&path, Some(&officer), &json!({"reason": "ok"}))
            .await
            .status,
        403
    );
    let r = app.post(&path, Some(&admin), &json!({})).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["errors"][0]["field"], "reason");
    let r = app
        .post(
            &path,
            Some(&admin),
            &json!({"reason": "职责范围内，期限至年底"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "approved");
    // Deciding it again is a conflict with its state, not bad input.
    let again = app
        .post(&path, Some(&admin), &json!({"reason": "again"}))
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["code"], "conflict");

    let p = app.subject(&officer, &c).await;
    assert_eq!(shown(&p), ["SW-1"], "{}", p.text);
    assert_eq!(p.body["summary"]["restricted_records"], 1);
    assert!(
        shown(&app.subject(&other, &c).await).is_empty(),
        "another organisation's grant"
    );

    // A special grant names the organisation for the record.
    let g = app
        .post("/api/v1/admin/special-grants", Some(&admin), &json!({"org_code": "ZWFW", "record_id": special_id, "purpose": "专项核查", "valid_to": "2027-06-30"}))
        .await;
    assert_eq!(g.status, 201, "{}", g.text);
    assert_eq!(shown(&app.subject(&officer, &c).await), ["SW-1", "SW-2"]);
    assert_eq!(
        app.post("/api/v1/admin/special-grants", Some(&officer), &json!({}))
            .await
            .status,
        403
    );

    // An approved application and a special grant can be revoked before their periods end,
    // with a reason: from then on they open nothing.
    let revoke = |grant: &str| format!("/api/v1/admin/access-grants/{grant}/revoke");
    assert_eq!(
        app.post(&revoke(&id), Some(&officer), &json!({"reason": "x"}))
            .await
            .status,
        403
    );
    let r = app
        .post(&revoke(&id), Some(&admin), &json!({"reason": "核查已结束"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "revoked");
    assert_eq!(r.body["decision_reason"], "核查已结束");
    assert_eq!(shown(&app.subject(&officer, &c).await), ["SW-2"]);
    let g_id = g.body["id"].as_str().unwrap();
    let r = app
        .post(
            &revoke(g_id),
            Some(&admin),
            &json!({"reason": "专项核查结束"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(shown(&app.subject(&officer, &c).await).is_empty());
    let again = app
        .post(&revoke(g_id), Some(&admin), &json!({"reason": "again"}))
        .await;
    assert_eq!(again.status, 409, "revoked already: {}", again.text);
    assert_eq!(
        app.post(&revoke("grt_nope"), Some(&admin), &json!({"reason": "x"}))
            .await
            .status,
        404
    );

    // A grant ends by itself: one approved with a period that ended yesterday opens nothing.
    let old = app
        .post("/api/v1/access-applications", Some(&other), &json!({"source_codes": ["SWJ"], "purpose": "历史核查", "valid_from": "2026-01-01", "valid_to": "2026-11-23"}))
        .await;
    let old_id = old.body["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/admin/access-applications/{old_id}/approve"),
            Some(&admin),
            &json!({"reason": "同意"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        shown(&app.subject(&other, &c).await).is_empty(),
        "an expired grant still applied"
    );

    // Rejection, with its reason, opens nothing either.
    let rej = app
        .post(
            "/api/v1/access-applications",
            Some(&other),
            &json!({"purpose": "随便看看", "valid_to": "2026-12-31"}),
        )
        .await;
    let rej_id = rej.body["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/admin/access-applications/{rej_id}/reject"),
            Some(&admin),
            &json!({"reason": "目的不明确"}),
        )
        .await;
    assert_eq!(r.body["status"], "rejected");
    assert_eq!(r.body["decision_reason"], "目的不明确");
    assert!(shown(&app.subject(&other, &c).await).is_empty());
}

on_both_backends!(applications_and_special_grants_open_restricted_records);
