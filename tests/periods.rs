//! Publicity periods (NDRC Order 36; 民法典 Art. 201–202 for the dates), from the outside: the
//! dates every record read carries, who still sees a record past its period, and which checks
//! still use it. Written from the contract (API.md "Publicity periods").

mod common;
mod lifecycle_support;

use common::*;
use lifecycle_support::*;
use serde_json::{json, Value};

async fn record(app: &TestApp, key: &str, id: &str) -> Answer {
    app.get(&format!("/api/v1/records/{id}?purpose=资格审查"), Some(key))
        .await
}

fn record_body(a: &Answer) -> &Value {
    &a.body
}

async fn publicity_periods_in_profiles_and_checks(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let c = code(5);
    let general = |id: &str, decided: &str| {
        let mut p = penalty(id, &c);
        p["decision_no"] = json!(format!("京市监罚〔2025〕{id}号"));
        p["decision_date"] = json!(decided);
        p["severity"] = json!("general");
        p["penalty_types"] = json!(["fine"]);
        p["fine_amount"] = json!("2500000.00");
        p
    };
    let a_id = submit(&app, &scjg, general("CF-A", "2025-11-24")).await;
    let b_id = submit(&app, &scjg, general("CF-B", "2025-11-23")).await;

    let p = app.subject(&admin, &c).await;
    assert_eq!(p.status, 200, "{}", p.text);
    let a = shown(&p.body, "CF-A").unwrap_or_else(|| panic!("{}", p.text));
    assert_eq!(a["publicity_until"], "2026-11-24", "{}", p.text);
    assert_eq!(a["effect"], "in_force", "{}", p.text);
    assert_eq!(a["repair_eligible_from"], "2026-02-25", "{}", p.text);
    let bb =
        shown(&p.body, "CF-B").unwrap_or_else(|| panic!("ended, but admins see it: {}", p.text));
    assert_eq!(bb["publicity_until"], "2026-11-23", "{}", p.text);
    assert_eq!(bb["effect"], "publicity_ended", "{}", p.text);

    let p = app.subject(&officer, &c).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(
        shown(&p.body, "CF-A").unwrap()["effect"],
        "in_force",
        "{}",
        p.text
    );
    assert!(shown(&p.body, "CF-B").is_none(), "{}", p.text);
    // Read by id, it is answered as absent.
    let r = record(&app, &officer, &b_id).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = record(&app, &admin, &b_id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(record_body(&r)["effect"], "publicity_ended", "{}", r.text);

    let today = app.check(&officer, procurement(&c)).await;
    assert_eq!(today.status, 201, "{}", today.text);
    let named: Vec<String> = finding_records(&today.body)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert!(named.contains(&a_id), "{}", today.text);
    assert!(!named.contains(&b_id), "{}", today.text);
    let mut tomorrow = procurement(&c);
    tomorrow["as_of"] = json!("2026-11-25");
    let t = app.check(&officer, tomorrow).await;
    assert_eq!(t.status, 201, "{}", t.text);
    assert_eq!(t.body["verdict"], "clear", "{}", t.text);
    assert!(finding_records(&t.body).is_empty(), "{}", t.text);
    // A check dated while B was in force sees it; the officer is told it counted, not what it
    // was (it is past its publicity today), the admin is shown it.
    let mut before = procurement(&c);
    before["as_of"] = json!("2026-11-23");
    let t = app.check(&officer, before.clone()).await;
    assert_eq!(t.status, 201, "{}", t.text);
    let b_seen = finding_records(&t.body)
        .into_iter()
        .find(|r| r["id"] == b_id.as_str())
        .unwrap_or_else(|| panic!("{}", t.text));
    assert_eq!(b_seen["restricted"], true, "{}", t.text);
    assert!(b_seen["decision_no"].is_null(), "{}", t.text);
    assert!(!t.text.contains("京市监罚〔2025〕CF-B号"), "{}", t.text);
    let t = app.check(&admin, before).await;
    let b_seen = finding_records(&t.body)
        .into_iter()
        .find(|r| r["id"] == b_id.as_str())
        .unwrap_or_else(|| panic!("{}", t.text));
    assert_eq!(b_seen["restricted"], false, "{}", t.text);
    assert_eq!(b_seen["publicity_until"], "2026-11-23", "{}", t.text);

    // 3 months from 2025-11-30 end on the last day of February.
    let c6 = code(6);
    let mut minor = penalty("CF-M", &c6);
    minor["decision_date"] = json!("2025-11-30");
    minor["severity"] = json!("minor");
    minor["fine_amount"] = json!("1000.00");
    let m_id = submit(&app, &scjg, minor).await;
    let r = record(&app, &admin, &m_id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = record_body(&r);
    assert_eq!(m["publicity_until"], "2026-02-28", "{}", r.text);
    assert_eq!(m["repair_eligible_from"], "2025-12-01", "{}", r.text);
    assert_eq!(m["effect"], "publicity_ended", "{}", r.text);

    // Licence revoked: serious whatever the severity says.
    let c7 = code(7);
    let mut revoked = penalty("CF-L", &c7);
    revoked["severity"] = json!("minor");
    revoked["penalty_types"] = json!(["fine", "licence_revoked"]);
    let l_id = submit(&app, &scjg, revoked).await;
    let r = record(&app, &admin, &l_id).await;
    assert_eq!(
        record_body(&r)["publicity_until"],
        "2029-03-01",
        "{}",
        r.text
    );
    assert_eq!(record_body(&r)["effect"], "in_force", "{}", r.text);

    // A list entry is published until it ends; without an end, no period applies.
    let swj = app.key("SWJ", "provider").await;
    let c8 = code(8);
    let mut ending = list_entry("LE-1", &c8, "tax.major_violation");
    ending["valid_to"] = json!("2028-06-01");
    let e_id = submit(&app, &swj, ending).await;
    let open_id = submit(&app, &swj, list_entry("LE-2", &c8, "tax.major_violation")).await;
    let r = record(&app, &admin, &e_id).await;
    assert_eq!(
        record_body(&r)["publicity_until"],
        "2028-06-01",
        "{}",
        r.text
    );
    let r = record(&app, &admin, &open_id).await;
    assert!(record_body(&r)["publicity_until"].is_null(), "{}", r.text);
    assert_eq!(record_body(&r)["effect"], "in_force", "{}", r.text);
}

/// A stored report keeps what was true when it was made; reading it again names the records
/// since repaired, corrected, revoked or ended (`later_changes`), and its digest still verifies.
async fn stored_reports_tell_of_later_changes(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let scjg = app.key("SCJG", "provider").await;
    let swj = app.key("SWJ", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let c = code(21);
    // A large fine (一般, decided in June: repairable from September) and a tax listing.
    let mut fine = penalty("LC-P", &c);
    fine["severity"] = json!("general");
    fine["decision_date"] = json!("2026-06-01");
    let fine_id = submit(&app, &scjg, fine).await;
    let mut listing = list_entry("LC-L", &c, "tax.major_violation");
    listing["version"] = json!(1);
    let listing_id = submit(&app, &swj, listing.clone()).await;
    // A court listing of special sharing: the officer's report names it as restricted only.
    let fy = app.key("FY", "provider").await;
    let mut hidden = list_entry("LC-H", &c, "court.dishonest_debtor");
    hidden["sharing_class"] = json!("special");
    hidden["version"] = json!(1);
    let hidden_id = submit(&app, &fy, hidden.clone()).await;
    let r = app.check(&officer, procurement(&c)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["verdict"], "prohibited", "{}", r.text);
    let no = r.body["report_no"].as_str().unwrap().to_string();
    let digest = r.body["digest"].as_str().unwrap().to_string();
    let read = || async {
        app.get(&format!("/api/v1/checks/{no}"), Some(&officer))
            .await
    };
    let changes = |a: &Answer| -> Vec<(String, String)> {
        a.body["later_changes"]
            .as_array()
            .unwrap_or_else(|| panic!("no later_changes: {}", a.text))
            .iter()
            .map(|c| {
                (
                    c["record_id"].as_str().unwrap().to_string(),
                    c["change"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert!(changes(&read().await).is_empty());

    // The fine repaired, the listing corrected.
    let applied = app
        .post(
            "/api/v1/repairs",
            Some(&scjg),
            &json!({"record_id": fine_id, "applicant": {"name": "法定代表人"}, "commitment": "XYCN-2026-0042"}),
        )
        .await;
    assert_eq!(applied.status, 201, "{}", applied.text);
    let rep = applied.body["id"].as_str().unwrap();
    let decided = app
        .post(
            &format!("/api/v1/repairs/{rep}/decision"),
            Some(&scjg),
            &json!({"outcome": "approved", "reason": "罚款已缴清并作出信用承诺，准予修复"}),
        )
        .await;
    assert_eq!(decided.status, 200, "{}", decided.text);
    listing["version"] = json!(2);
    listing["decision_no"] = json!("税稽罚〔2026〕2号");
    submit(&app, &swj, listing.clone()).await;
    hidden["version"] = json!(2);
    hidden["decision_no"] = json!("(2026)京01执9号");
    submit(&app, &fy, hidden).await;
    let again = read().await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        again.body["verdict"], "prohibited",
        "the stored verdict stays: {}",
        again.text
    );
    let mut got = changes(&again);
    got.sort();
    let mut want = vec![
        (fine_id.clone(), "repaired".to_string()),
        (listing_id.clone(), "corrected".to_string()),
        (hidden_id.clone(), "corrected".to_string()),
    ];
    want.sort();
    assert_eq!(got, want, "{}", again.text);
    let repaired = again.body["later_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["change"] == "repaired")
        .unwrap();
    assert_eq!(repaired["on"], "2026-11-24", "{}", again.text);
    // Of the record the officer may not see: the kind of change, nothing more.
    let h = again.body["later_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["record_id"] == hidden_id.as_str())
        .unwrap();
    assert!(h["on"].is_null(), "{}", again.text);
    assert!(
        !h["detail"].as_str().unwrap().contains("版本"),
        "{}",
        again.text
    );
    // Revoked now.
    listing["version"] = json!(3);
    listing["status"] = json!("revoked");
    submit(&app, &swj, listing).await;
    let again = read().await;
    assert!(
        changes(&again).contains(&(listing_id.clone(), "revoked".to_string())),
        "{}",
        again.text
    );
    let v = app
        .get(
            &format!("/api/v1/checks/{no}/verify?digest={digest}"),
            Some(&officer),
        )
        .await;
    assert_eq!(v.body["valid"], true, "{}", v.text);
    // A new check gives the verdict today: the repaired fine and the revoked tax listing no
    // longer count; the court listing still does.
    let now = app.check(&officer, procurement(&c)).await;
    assert_eq!(
        measures(&now.body),
        ["procurement.dishonest_debtor"],
        "{}",
        now.text
    );

    // A report dated on the last day of a record's publicity: read today, the record has ended.
    let c2 = code(22);
    let mut old = penalty("LC-O", &c2);
    old["severity"] = json!("general");
    old["decision_date"] = json!("2025-11-23");
    let old_id = submit(&app, &scjg, old).await;
    let mut dated = procurement(&c2);
    dated["as_of"] = json!("2026-11-23");
    let r = app.check(&admin, dated).await;
    assert_eq!(r.body["verdict"], "prohibited", "{}", r.text);
    let no2 = r.body["report_no"].as_str().unwrap();
    let a = app
        .get(&format!("/api/v1/checks/{no2}"), Some(&admin))
        .await;
    let ended = a.body["later_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["record_id"] == old_id.as_str())
        .unwrap_or_else(|| panic!("{}", a.text))
        .clone();
    assert_eq!(ended["change"], "publicity_ended", "{}", a.text);
    assert_eq!(ended["on"], "2026-11-24", "{}", a.text);
}

on_both_backends!(
    publicity_periods_in_profiles_and_checks,
    stored_reports_tell_of_later_changes,
);
