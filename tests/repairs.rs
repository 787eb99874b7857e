//! Credit repair (信用修复, NDRC Order 36), from the outside: applying for the repair of a record
//! its provider owns (谁认定、谁修复), the decision, what a repaired record still means (nothing,
//! for anyone but admins and auditors), refusals, and two decisions racing. Written from the
//! contract ("Credit repair", "Publicity periods").

mod common;
mod lifecycle_support;

use common::*;
use lifecycle_support::*;
use serde_json::{json, Value};

const APPLICANT: &str = "欧阳修远";
const CONTACT: &str = "13912345678";
const COMMITMENT: &str = "XYCN-2026-1124-0087";
const APPROVE: &str = "已履行行政处罚决定并提交信用承诺书，准予修复";
const REJECT: &str = "申请材料不全，未提供罚款缴纳凭证，不予修复";
const PURPOSE: &str = "信用修复审核";

/// A general penalty decided 2026-06-01 with a large fine: repairable from 2026-09-02, in force
/// until 2027-06-01, and it bars the subject from procurement.
fn eligible(id: &str, uscc: &str) -> Value {
    let mut p = penalty(id, uscc);
    p["decision_no"] = json!(format!("京市监罚〔2026〕{id}号"));
    p["decision_date"] = json!("2026-06-01");
    p["severity"] = json!("general");
    p["penalty_types"] = json!(["fine"]);
    p["fine_amount"] = json!("2500000.00");
    p
}

fn application(record_id: &str) -> Value {
    json!({"record_id": record_id,
           "applicant": {"name": APPLICANT, "contact": CONTACT},
           "commitment": COMMITMENT,
           "evidence": "罚款已全额缴清，附缴款凭证及整改报告"})
}

fn approve() -> Value {
    json!({"outcome": "approved", "reason": APPROVE})
}

fn reject() -> Value {
    json!({"outcome": "rejected", "reason": REJECT})
}

async fn apply(app: &TestApp, key: &str, body: &Value) -> Answer {
    app.post("/api/v1/repairs", Some(key), body).await
}

/// Applies and expects the application accepted; its id.
async fn applied(app: &TestApp, key: &str, record_id: &str) -> String {
    let a = apply(app, key, &application(record_id)).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["status"], "accepted", "{}", a.text);
    a.body["id"].as_str().unwrap().to_string()
}

async fn decide(app: &TestApp, key: &str, id: &str, body: Value) -> Answer {
    app.post(&format!("/api/v1/repairs/{id}/decision"), Some(key), &body)
        .await
}

async fn read(app: &TestApp, key: &str, id: &str) -> Answer {
    app.get(
        &format!("/api/v1/repairs/{id}?purpose={PURPOSE}"),
        Some(key),
    )
    .await
}

async fn listed(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let l = app
        .get(
            &format!("/api/v1/repairs?purpose={PURPOSE}&{query}"),
            Some(key),
        )
        .await;
    assert_eq!(l.status, 200, "{}", l.text);
    assert!(l.body["next_cursor"].is_null(), "{}", l.text);
    l.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", l.text))
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

async fn record(app: &TestApp, key: &str, id: &str) -> Answer {
    app.get(&format!("/api/v1/records/{id}?purpose=资格审查"), Some(key))
        .await
}

/// A procurement check, as of today or of `as_of`; must be answered 201.
async fn check(app: &TestApp, key: &str, uscc: &str, as_of: Option<&str>) -> Answer {
    let mut body = procurement(uscc);
    if let Some(d) = as_of {
        body["as_of"] = json!(d);
    }
    let r = app.check(key, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r
}

/// The ids of the records a report's findings rest on.
fn finding_ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings: {report}"))
        .iter()
        .flat_map(|f| f["records"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

fn assert_prohibited_by(r: &Answer, rec_id: &str) {
    assert_eq!(r.body["verdict"], "prohibited", "{}", r.text);
    assert!(
        finding_ids(&r.body).iter().any(|i| i == rec_id),
        "{rec_id} should be named: {}",
        r.text
    );
}

fn assert_clear_of(r: &Answer, rec_id: &str) {
    assert_eq!(r.body["verdict"], "clear", "{}", r.text);
    assert!(
        !finding_ids(&r.body).iter().any(|i| i == rec_id),
        "{rec_id} is repaired, yet named: {}",
        r.text
    );
}

/// Whether the caller's profile leaves the record out (a profile with nothing left to show may
/// also be answered as an unknown subject).
async fn left_out(app: &TestApp, key: &str, uscc: &str, source_id: &str) -> bool {
    let p = app.subject(key, uscc).await;
    match p.status {
        404 => true,
        200 => shown(&p.body, source_id).is_none(),
        _ => panic!("profile: {}", p.text),
    }
}

/// The codes of a problem: its own and its errors'.
fn error_codes(a: &Answer) -> Vec<String> {
    let mut codes: Vec<String> = a.body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = a.body["code"].as_str() {
        codes.push(c.to_string());
    }
    codes
}

fn assert_refused(a: &Answer, code: &str) {
    assert_eq!(a.status, 422, "{code}: {}", a.text);
    assert!(
        a.content_type.starts_with("application/problem+json"),
        "{}: {}",
        a.content_type,
        a.text
    );
    assert!(
        error_codes(a).iter().any(|c| c == code),
        "expected code {code}: {}",
        a.text
    );
}

async fn repair_lifecycle(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let scjg = app.key("SCJG", "provider").await;
    let swj = app.key("SWJ", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let auditor = app.key("SJJ", "auditor").await;
    let c = code(11);
    let rec_id = submit(&app, &scjg, eligible("CF-R1", &c)).await;

    let r = record(&app, &admin, &rec_id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["effect"], "in_force", "{}", r.text);
    assert_eq!(r.body["repair_eligible_from"], "2026-09-02", "{}", r.text);
    assert_eq!(r.body["publicity_until"], "2027-06-01", "{}", r.text);
    assert_prohibited_by(&check(&app, &officer, &c, None).await, &rec_id);
    assert_prohibited_by(
        &check(&app, &officer, &c, Some("2026-10-01")).await,
        &rec_id,
    );

    // A second instance that has the profile cached before the repair.
    let twin = app.twin().await;
    twin.listening().await;
    let p = twin.subject(&officer, &c).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(shown(&p.body, "CF-R1").is_some(), "{}", p.text);
    assert_prohibited_by(&check(&twin, &officer, &c, None).await, &rec_id);

    // The provider that decided the penalty accepts the application.
    let a = apply(&app, &scjg, &application(&rec_id)).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let id = a.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("rep_"), "{}", a.text);
    assert_eq!(a.body["status"], "accepted", "{}", a.text);
    assert_eq!(a.body["record_id"], rec_id.as_str(), "{}", a.text);
    assert_eq!(a.body["received_on"], "2026-11-24", "{}", a.text);
    // 5 working days after Tuesday 2026-11-24: 25, 26, 27, 30 Nov, 1 Dec.
    assert_eq!(a.body["decision_due"], "2026-12-01", "{}", a.text);
    assert!(a.body["decided_on"].is_null(), "{}", a.text);

    let o = read(&app, &admin, &id).await;
    assert_eq!(o.status, 200, "{}", o.text);
    assert_eq!(o.body["status"], "accepted", "{}", o.text);
    assert!(listed(&app, &admin, "status=accepted").await.contains(&id));
    // Accepted is not repaired: the record still counts.
    assert_prohibited_by(&check(&app, &officer, &c, None).await, &rec_id);
    let r = record(&app, &admin, &rec_id).await;
    assert_eq!(r.body["effect"], "in_force", "{}", r.text);

    let d = decide(&app, &scjg, &id, approve()).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["status"], "approved", "{}", d.text);
    assert_eq!(d.body["decided_on"], "2026-11-24", "{}", d.text);

    // Admins still see it, as repaired; nobody else does.
    let r = record(&app, &admin, &rec_id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["effect"], "repaired", "{}", r.text);
    assert_eq!(r.body["repaired_on"], "2026-11-24", "{}", r.text);
    let p = app.subject(&admin, &c).await;
    assert_eq!(p.status, 200, "{}", p.text);
    let shown_admin = shown(&p.body, "CF-R1").unwrap_or_else(|| panic!("{}", p.text));
    assert_eq!(shown_admin["effect"], "repaired", "{}", p.text);
    assert_eq!(shown_admin["repaired_on"], "2026-11-24", "{}", p.text);
    assert!(
        left_out(&app, &officer, &c, "CF-R1").await,
        "the officer still sees it"
    );
    assert!(
        left_out(&app, &scjg, &c, "CF-R1").await,
        "the provider still sees it"
    );
    for k in [&officer, &scjg] {
        let r = record(&app, k, &rec_id).await;
        assert_eq!(r.status, 404, "a repaired record read by id: {}", r.text);
    }
    // No check uses it, today or dated back to when it was in force.
    assert_clear_of(&check(&app, &officer, &c, None).await, &rec_id);
    assert_clear_of(
        &check(&app, &officer, &c, Some("2026-10-01")).await,
        &rec_id,
    );
    assert_clear_of(&check(&app, &admin, &c, Some("2026-10-01")).await, &rec_id);
    // The other instance hears of it.
    let heard = comes_true(std::time::Duration::from_secs(10), || async {
        left_out(&twin, &officer, &c, "CF-R1").await
    })
    .await;
    assert!(heard, "the second instance still shows the repaired record");
    let cleared = comes_true(std::time::Duration::from_secs(10), || async {
        let r = twin.check(&officer, procurement(&c)).await;
        r.status == 201 && r.body["verdict"] == "clear"
    })
    .await;
    assert!(cleared, "the second instance still prohibits");

    // Decided once only; and a repaired record cannot be repaired again.
    assert_conflict(&decide(&app, &admin, &id, reject()).await, "approved");
    assert_conflict(&decide(&app, &scjg, &id, approve()).await, "approved");
    assert_refused(
        &apply(&app, &admin, &application(&rec_id)).await,
        "not_repairable",
    );

    // A newer version from the provider does not undo the repair.
    let mut v2 = eligible("CF-R1", &c);
    v2["version"] = json!(2);
    v2["fine_amount"] = json!("2600000.00");
    assert_eq!(submit(&app, &scjg, v2).await, rec_id);
    let r = record(&app, &admin, &rec_id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["effect"], "repaired", "{}", r.text);
    assert_eq!(r.body["repaired_on"], "2026-11-24", "{}", r.text);
    assert_eq!(
        r.body["fine_amount"], "2600000.00",
        "version 2 stored: {}",
        r.text
    );
    assert_clear_of(&check(&app, &officer, &c, None).await, &rec_id);
    assert!(left_out(&app, &officer, &c, "CF-R1").await);

    // Who reads the application.
    for k in [&admin, &auditor, &scjg] {
        let o = read(&app, k, &id).await;
        assert_eq!(o.status, 200, "{}", o.text);
        assert_eq!(o.body["status"], "approved", "{}", o.text);
        assert_eq!(o.body["decided_on"], "2026-11-24", "{}", o.text);
    }
    // Officers do not read repair applications at all (their role); another provider is told
    // nothing of one about a record it does not own.
    assert_eq!(read(&app, &officer, &id).await.status, 403);
    let o = read(&app, &swj, &id).await;
    assert_eq!(o.status, 404, "{}", o.text);
    let no_purpose = app
        .get(&format!("/api/v1/repairs/{id}"), Some(&admin))
        .await;
    assert_eq!(no_purpose.status, 422, "{}", no_purpose.text);
    assert!(listed(&app, &admin, "status=approved").await.contains(&id));
    assert!(!listed(&app, &admin, "status=accepted").await.contains(&id));
    assert!(!listed(&app, &admin, "status=rejected").await.contains(&id));
    assert!(listed(&app, &auditor, "").await.contains(&id));
    assert!(listed(&app, &scjg, "").await.contains(&id));
    assert!(!listed(&app, &swj, "").await.contains(&id));

    // One entry per step, naming the record; the applicant stays out of the access log.
    for action in ["repair.apply", "repair.decide"] {
        let ok = audit_entries(&app, action)
            .await
            .into_iter()
            .filter(|e| e["outcome"] == "ok" && e["records"].to_string().contains(&rec_id))
            .count();
        assert_eq!(ok, 1, "{action}");
    }
    let log = app
        .get("/api/v1/audit/entries?limit=500", Some(&app.admin_key))
        .await;
    assert_eq!(log.status, 200, "{}", log.text);
    for secret in [APPLICANT, CONTACT] {
        assert!(!log.text.contains(secret), "{secret} in the access log");
    }
    seal_and_verify(&app);
}

async fn repair_refusals(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let scjg = app.key("SCJG", "provider").await;
    let swj = app.key("SWJ", "provider").await;
    let fy = app.key("FY", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let c = code(21);

    // Serious, decided 2026-03-01: repairable from 2027-03-02.
    let early_id = submit(&app, &scjg, penalty("CF-E", &c)).await;
    let early = apply(&app, &scjg, &application(&early_id)).await;
    assert_refused(&early, "repair_too_early");
    assert!(
        early.text.contains("2027-03-02"),
        "the date: {}",
        early.text
    );
    assert_refused(
        &apply(&app, &admin, &application(&early_id)).await,
        "repair_too_early",
    );

    // The court removes its own list entries; licences are not sanctions.
    let court_id = submit(
        &app,
        &fy,
        list_entry("FY-1", &code(22), "court.dishonest_debtor"),
    )
    .await;
    let r = record(&app, &admin, &court_id).await;
    assert!(r.body["repair_eligible_from"].is_null(), "{}", r.text);
    assert_refused(
        &apply(&app, &fy, &application(&court_id)).await,
        "not_repairable",
    );
    assert_refused(
        &apply(&app, &admin, &application(&court_id)).await,
        "not_repairable",
    );
    let licence = json!({
        "source_record_id": "XK-1", "kind": "license",
        "subject": {"uscc": c, "name": "北京示例科技有限公司", "kind": "legal_person"},
        "decision_no": "京市监许〔2026〕1号", "decision_date": "2026-01-05",
        "sharing_class": "unconditional", "open_class": "open"
    });
    let l = app.batch(&scjg, vec![licence]).await;
    assert_eq!(l.status, 200, "{}", l.text);
    assert_eq!(
        l.body["results"][0]["status"], "created",
        "the licence was not taken, so its repair cannot be tried: {}",
        l.text
    );
    let licence_id = l.body["results"][0]["id"].as_str().unwrap().to_string();
    assert_refused(
        &apply(&app, &scjg, &application(&licence_id)).await,
        "not_repairable",
    );

    // A revoked record has nothing left to repair.
    let revoked_id = submit(&app, &scjg, eligible("CF-V", &code(23))).await;
    let mut v2 = eligible("CF-V", &code(23));
    v2["version"] = json!(2);
    v2["status"] = json!("revoked");
    assert_eq!(submit(&app, &scjg, v2).await, revoked_id);
    assert_refused(
        &apply(&app, &admin, &application(&revoked_id)).await,
        "not_repairable",
    );

    let unknown = apply(&app, &admin, &application("rec_01JAAAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    let unknown = apply(&app, &scjg, &application("rec_01JAAAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);

    // Who may apply: the owning provider and admin only.
    let rec_id = submit(&app, &scjg, eligible("CF-1", &c)).await;
    let o = apply(&app, &officer, &application(&rec_id)).await;
    assert_eq!(o.status, 403, "an officer applied: {}", o.text);
    let s = apply(&app, &swj, &application(&rec_id)).await;
    assert_eq!(s.status, 403, "another department applied: {}", s.text);

    // Bad input.
    let mut future = application(&rec_id);
    future["received_on"] = json!("2026-11-25");
    assert_invalid(&apply(&app, &scjg, &future).await, "received_on");
    let mut before_decision = application(&rec_id);
    before_decision["received_on"] = json!("2026-05-31");
    assert_invalid(&apply(&app, &admin, &before_decision).await, "received_on");
    let mut nameless = application(&rec_id);
    nameless["applicant"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let r = apply(&app, &scjg, &nameless).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        error_fields(&r).iter().any(|f| f.starts_with("applicant")),
        "{}",
        r.text
    );
    let mut uncommitted = application(&rec_id);
    uncommitted.as_object_mut().unwrap().remove("commitment");
    assert_invalid(&apply(&app, &scjg, &uncommitted).await, "commitment");
    let raw = app
        .post_raw("/api/v1/repairs", Some(&scjg), b"{\"record_id\": ".to_vec())
        .await;
    assert_eq!(raw.status, 400, "{}", raw.text);
    assert_eq!(
        read(&app, &admin, "rep_01JAAAAAAAAAAAAAAAAAAAAAAA")
            .await
            .status,
        404
    );

    // None of the refusals left an application behind: this one is the first.
    let mut received = application(&rec_id);
    received["received_on"] = json!("2026-11-20");
    let a = apply(&app, &scjg, &received).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let id = a.body["id"].as_str().unwrap().to_string();
    assert_eq!(a.body["received_on"], "2026-11-20", "{}", a.text);
    // 5 working days after Friday 2026-11-20: 23–27 Nov.
    assert_eq!(a.body["decision_due"], "2026-11-27", "{}", a.text);
    assert_invalid(
        &apply(&app, &scjg, &application(&rec_id)).await,
        "record_id",
    );
    assert_invalid(
        &apply(&app, &admin, &application(&rec_id)).await,
        "record_id",
    );

    // Deciding: only the owner or admin, a written reason, a date that can be.
    let o = decide(&app, &officer, &id, approve()).await;
    assert_eq!(o.status, 403, "{}", o.text);
    let s = decide(&app, &swj, &id, approve()).await;
    assert_eq!(s.status, 404, "{}", s.text);
    assert_invalid(
        &decide(
            &app,
            &scjg,
            &id,
            json!({"outcome": "approved", "reason": "准予修复"}),
        )
        .await,
        "reason",
    );
    let on = |d: &str| json!({"outcome": "approved", "reason": APPROVE, "on": d});
    assert_invalid(&decide(&app, &scjg, &id, on("2026-11-25")).await, "on");
    assert_invalid(&decide(&app, &scjg, &id, on("2026-11-19")).await, "on");
    let bad_outcome = decide(
        &app,
        &scjg,
        &id,
        json!({"outcome": "granted", "reason": APPROVE}),
    )
    .await;
    assert_eq!(bad_outcome.status, 422, "{}", bad_outcome.text);
    let o = read(&app, &admin, &id).await;
    assert_eq!(o.body["status"], "accepted", "{}", o.text);
    assert!(o.body["decided_on"].is_null(), "{}", o.text);
    let r = record(&app, &admin, &rec_id).await;
    assert_eq!(r.body["effect"], "in_force", "{}", r.text);
}

async fn rejected_repair_changes_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let c = code(31);
    let rec_id = submit(&app, &scjg, eligible("CF-J", &c)).await;
    let id = applied(&app, &scjg, &rec_id).await;

    let d = decide(&app, &scjg, &id, reject()).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["status"], "rejected", "{}", d.text);
    assert_eq!(d.body["decided_on"], "2026-11-24", "{}", d.text);
    assert_conflict(&decide(&app, &admin, &id, approve()).await, "rejected");

    let r = record(&app, &admin, &rec_id).await;
    assert_eq!(r.body["effect"], "in_force", "{}", r.text);
    assert!(r.body["repaired_on"].is_null(), "{}", r.text);
    let p = app.subject(&officer, &c).await;
    assert_eq!(p.status, 200, "{}", p.text);
    let s = shown(&p.body, "CF-J").unwrap_or_else(|| panic!("{}", p.text));
    assert_eq!(s["effect"], "in_force", "{}", p.text);
    let r = record(&app, &officer, &rec_id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_prohibited_by(&check(&app, &officer, &c, None).await, &rec_id);
    assert!(listed(&app, &admin, "status=rejected").await.contains(&id));

    // The subject may apply again.
    let again = apply(&app, &scjg, &application(&rec_id)).await;
    assert_eq!(again.status, 201, "{}", again.text);
    let second = again.body["id"].as_str().unwrap().to_string();
    assert_ne!(second, id);
    assert_eq!(again.body["status"], "accepted", "{}", again.text);
    assert!(listed(&app, &admin, "status=accepted")
        .await
        .contains(&second));
    assert!(!listed(&app, &admin, "status=accepted").await.contains(&id));
}

async fn concurrent_decisions_one_wins(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let scjg = app.key("SCJG", "provider").await;
    for round in 0..3u32 {
        let c = code(40 + round);
        let rec_id = submit(&app, &scjg, eligible(&format!("CF-C{round}"), &c)).await;
        let id = applied(&app, &scjg, &rec_id).await;
        let (x, y) = tokio::join!(
            decide(&app, &scjg, &id, approve()),
            decide(&app, &admin, &id, reject()),
        );
        assert!(
            (x.status == 200) != (y.status == 200),
            "exactly one decision wins: {} {} / {} {}",
            x.status,
            x.text,
            y.status,
            y.text
        );
        let (now, lost) = if x.status == 200 {
            ("approved", &y)
        } else {
            ("rejected", &x)
        };
        assert_conflict(lost, now);
        let o = read(&app, &admin, &id).await;
        assert_eq!(o.body["status"], now, "{}", o.text);
        let r = record(&app, &admin, &rec_id).await;
        let effect = if now == "approved" {
            "repaired"
        } else {
            "in_force"
        };
        assert_eq!(r.body["effect"], effect, "{}", r.text);
        let decided = audit_entries(&app, "repair.decide")
            .await
            .into_iter()
            .filter(|e| e["outcome"] == "ok" && e["records"].to_string().contains(&rec_id))
            .count();
        assert_eq!(decided, 1, "one decision logged as done");
    }
}

on_both_backends!(
    repair_lifecycle,
    repair_refusals,
    rejected_repair_changes_nothing,
    concurrent_decisions_one_wins,
);
