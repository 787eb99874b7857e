//! Codes that are not ordinary: the placeholder of a 个体工商户 without a code, and pilot-era
//! codes that fail the GB 32100 check character but are legally valid (accepted only from the
//! provincial platform, with a warning, and reachable under their code). Both backends.

mod common;

use common::*;
use serde_json::json;

async fn placeholder_and_pilot_codes(b: Backend) {
    let app = spawn_app(b).await;
    let provider = app.key("SCJG", "provider").await;
    let mut ind = penalty("P-1", "00000000000000000X");
    ind["subject"]["kind"] = json!("individual_business");
    let mut ind_reg = ind.clone();
    ind_reg["source_record_id"] = json!("P-2");
    ind_reg["subject"]["reg_no"] = json!("110105600123456");
    let pilot = penalty("P-3", "91350100M0001TGQXM");
    let r = app
        .batch(&provider, vec![ind, ind_reg, pilot.clone()])
        .await;
    assert_eq!(statuses(&r.body), ["rejected", "created", "rejected"]);
    assert_eq!(
        r.body["results"][0]["errors"][0]["code"],
        "uscc_placeholder_needs_reg_no"
    );
    assert_eq!(
        r.body["results"][2]["errors"][0]["code"],
        "uscc_check_digit"
    );

    // Relayed from the provincial platform, a pilot-era code is kept with a warning.
    let mut relayed = pilot;
    relayed["origin"] = json!("provincial");
    relayed["source_code"] = json!("PROVINCE");
    let a = app.batch(&app.admin_key, vec![relayed]).await;
    assert_eq!(statuses(&a.body), ["created"], "{}", a.text);
    let officer = app.key("ZWFW", "officer").await;
    let id = a.body["results"][0]["id"].as_str().unwrap();
    let rec = app
        .get(
            &format!("/api/v1/records/{id}?purpose=核查"),
            Some(&officer),
        )
        .await;
    assert_eq!(rec.body["checksum_warning"], true);
    assert_eq!(rec.body["origin"], "provincial");
    assert_eq!(rec.body["subject"]["checksum_warning"], true);

    // One rule everywhere: what was kept can be reached under its code, with the warning
    // shown, by a profile and by a check.
    let p = app.subject(&officer, "91350100M0001TGQXM").await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["subject"]["checksum_warning"], true);
    assert_eq!(p.body["records"][0]["id"], id);
    let c = app
        .post(
            "/api/v1/checks",
            Some(&officer),
            &json!({"scenario": "procurement", "subject": {"uscc": "91350100M0001TGQXM"},
                    "purpose": "政府采购资格审查", "reference": "CG-2026-1"}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    assert_eq!(c.body["subject"]["known"], true, "{}", c.text);
    assert!(
        c.body["warnings"][0].as_str().unwrap().contains("校验位"),
        "{}",
        c.text
    );
    // A mistyped code under which nothing is kept stays a mistyped code: 422 naming it.
    let typo = app.subject(&officer, "91350211M0000XUF46").await;
    assert_eq!(typo.status, 422, "{}", typo.text);
    assert_eq!(typo.body["errors"][0]["field"], "uscc");
    assert_eq!(typo.body["errors"][0]["code"], "uscc_check_digit");
    let c = app
        .post(
            "/api/v1/checks",
            Some(&officer),
            &json!({"scenario": "procurement", "subject": {"uscc": "91350211M0000XUF46"},
                    "purpose": "政府采购资格审查", "reference": "CG-2026-1"}),
        )
        .await;
    assert_eq!(c.status, 422, "{}", c.text);
    assert_eq!(c.body["errors"][0]["field"], "subject.uscc");
    // Whether a pilot-era subject is held under a code is told only to whom the check is
    // open: a partner without an agreement is refused, whether or not one is held.
    let bank = app.key("BANK", "partner").await;
    for code in ["91350100M0001TGQXM", "91350211M0000XUF46"] {
        let c = app
            .post(
                "/api/v1/checks",
                Some(&bank),
                &json!({"scenario": "procurement", "subject": {"uscc": code},
                        "purpose": "授信审查", "reference": "L-1", "authorization_ref": "AUTH-1"}),
            )
            .await;
        assert_eq!(c.status, 403, "{code}: {}", c.text);
    }
}

on_both_backends!(placeholder_and_pilot_codes);
