//! Objections (异议, measures Art. 21) and publicity periods, from the outside: filing, the
//! centre's decision, forwarding to the provider and its answer, deadlines in working days,
//! who sees what, bad input, a race between two decisions, and records whose publicity ended.

mod common;
mod lifecycle_support;

use common::*;
use lifecycle_support::*;
use serde_json::{json, Value};

const GROUNDS: &str = "该处罚决定已被行政复议撤销，请予核查更正";

fn using_department() -> Value {
    json!({"kind": "using_department", "name": "区政务服务中心", "contact": "010-12345678"})
}

/// The filing body for `record_id` by a using department.
fn filing(record_id: &str) -> Value {
    json!({"record_id": record_id, "grounds": GROUNDS, "filed_by": using_department()})
}

fn assert_done(a: &Answer) {
    assert!(matches!(a.status, 200 | 201), "{}", a.text);
}

fn item_ids(list: &Answer) -> Vec<String> {
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.body["next_cursor"].is_null(), "{}", list.text);
    list.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", list.text))
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

async fn file(app: &TestApp, key: &str, body: &Value) -> Answer {
    app.post("/api/v1/objections", Some(key), body).await
}

async fn read(app: &TestApp, key: &str, id: &str) -> Answer {
    app.get(
        &format!("/api/v1/objections/{id}?purpose=异议核查"),
        Some(key),
    )
    .await
}

async fn list(app: &TestApp, key: &str, query: &str) -> Answer {
    app.get(
        &format!("/api/v1/objections?purpose=异议核查&{query}"),
        Some(key),
    )
    .await
}

async fn decide(app: &TestApp, key: &str, id: &str, body: Value) -> Answer {
    app.post(
        &format!("/api/v1/objections/{id}/decision"),
        Some(key),
        &body,
    )
    .await
}

async fn answer(app: &TestApp, key: &str, id: &str, body: Value) -> Answer {
    app.post(&format!("/api/v1/objections/{id}/answer"), Some(key), &body)
        .await
}

async fn objection_lifecycle(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let other = app.key("JTJ", "officer").await;
    let auditor = app.key("SJJ", "auditor").await;
    let c = code(1);
    let rec_id = submit(&app, &scjg, penalty("CF-1", &c)).await;

    let p = app.subject(&officer, &c).await;
    assert_eq!(p.status, 200, "{}", p.text);
    let r = shown(&p.body, "CF-1").unwrap_or_else(|| panic!("{}", p.text));
    assert_eq!(r["under_objection"], false, "{}", p.text);
    assert_eq!(r["effect"], "in_force", "{}", p.text);
    // Serious, decided 2026-03-01: 3 years of publicity, repair after 1 year.
    assert_eq!(r["publicity_until"], "2029-03-01", "{}", p.text);
    assert_eq!(r["repair_eligible_from"], "2027-03-02", "{}", p.text);

    let before = app.check(&officer, procurement(&c)).await;
    assert_eq!(before.status, 201, "{}", before.text);
    assert_eq!(before.body["verdict"], "prohibited", "{}", before.text);
    let prohibiting: Vec<String> = before.body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["measure"] == "prohibit")
        .map(|f| f["measure_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!prohibiting.is_empty(), "{}", before.text);
    assert!(
        finding_records(&before.body)
            .iter()
            .all(|r| r["under_objection"] == false),
        "{}",
        before.text
    );

    // The officer files.
    let f = file(&app, &officer, &filing(&rec_id)).await;
    assert_eq!(f.status, 201, "{}", f.text);
    let id = f.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("obj_"), "{}", f.text);
    assert_eq!(f.body["status"], "open");
    assert_eq!(f.body["record_id"], rec_id.as_str());
    assert_eq!(f.body["received_on"], "2026-11-24", "{}", f.text);
    // 5 working days after Tuesday 2026-11-24: 25, 26, 27, 30 Nov, 1 Dec.
    assert_eq!(f.body["review_due"], "2026-12-01", "{}", f.text);
    assert!(f.body["provider_due"].is_null(), "{}", f.text);
    assert!(f.body["history"].is_array(), "{}", f.text);

    let p = app.subject(&officer, &c).await;
    let r = shown(&p.body, "CF-1").unwrap();
    assert_eq!(r["under_objection"], true, "{}", p.text);
    let during = app.check(&officer, procurement(&c)).await;
    assert_eq!(during.status, 201, "{}", during.text);
    let named: Vec<&Value> = during.body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["records"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r["id"] == rec_id.as_str()))
        })
        .collect();
    assert!(!named.is_empty(), "{}", during.text);
    for finding in named {
        let rr = finding["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == rec_id.as_str())
            .unwrap();
        assert_eq!(rr["under_objection"], true, "{}", during.text);
        assert!(
            finding["explanation"]
                .as_str()
                .unwrap_or("")
                .contains("异议"),
            "the explanation should mention the objection: {finding:#}"
        );
    }

    // Only the centre decides; only the owning provider (or admin) answers.
    let forward = json!({"outcome": "forwarded", "reason": "非技术原因，转数据提供单位核实"});
    assert_eq!(
        decide(&app, &officer, &id, forward.clone()).await.status,
        403
    );
    assert_eq!(
        answer(
            &app,
            &officer,
            &id,
            json!({"outcome": "confirmed", "reason": "无误"})
        )
        .await
        .status,
        403
    );
    // Answering before it is forwarded is a conflict with its state.
    let early = answer(
        &app,
        &scjg,
        &id,
        json!({"outcome": "confirmed", "reason": "经核实，原处罚记录无误"}),
    )
    .await;
    assert_conflict(&early, "open");

    let fw = decide(&app, &admin, &id, forward.clone()).await;
    assert_done(&fw);
    assert_eq!(fw.body["status"], "forwarded", "{}", fw.text);
    assert_eq!(fw.body["provider_due"], "2026-11-27", "{}", fw.text);
    assert_conflict(&decide(&app, &admin, &id, forward).await, "forwarded");

    // `corrected` needs a newer version received since filing.
    let reason = "罚款金额录入错误，已更正为一百万元";
    let corrected = json!({"outcome": "corrected", "reason": reason});
    assert_conflict(
        &answer(&app, &scjg, &id, corrected.clone()).await,
        "forwarded",
    );
    let stranger = app.key("SWJ", "provider").await;
    // Another provider may not even learn that the objection exists.
    let s = answer(&app, &stranger, &id, corrected.clone()).await;
    assert_eq!(s.status, 404, "another provider answered: {}", s.text);

    let mut v2 = penalty("CF-1", &c);
    v2["version"] = json!(2);
    v2["severity"] = json!("general");
    v2["fine_amount"] = json!("1000000.00");
    // A second instance, with the profile in its own cache (version 1, under objection).
    let twin = app.twin().await;
    twin.listening().await;
    let p = twin.subject(&officer, &c).await;
    let r = shown(&p.body, "CF-1").unwrap_or_else(|| panic!("{}", p.text));
    assert_eq!(
        (r["version"].clone(), r["under_objection"].clone()),
        (json!(1), json!(true))
    );
    assert_eq!(submit(&app, &scjg, v2).await, rec_id);
    // The new version does not lift the mark: the objection is still open until answered; the
    // second instance hears of the new version and keeps the mark.
    let p = app.subject(&officer, &c).await;
    let r = shown(&p.body, "CF-1").unwrap_or_else(|| panic!("{}", p.text));
    assert_eq!(r["under_objection"], true, "{}", p.text);
    assert_eq!(r["version"], 2, "{}", p.text);
    let heard = comes_true(std::time::Duration::from_secs(10), || async {
        let p = twin.subject(&officer, &c).await;
        shown(&p.body, "CF-1").is_some_and(|r| r["version"] == 2 && r["under_objection"] == true)
    })
    .await;
    assert!(heard, "the second instance keeps serving version 1");
    let a = answer(&app, &scjg, &id, corrected).await;
    assert_done(&a);
    assert_eq!(a.body["status"], "closed", "{}", a.text);
    assert_eq!(a.body["outcome"], "corrected", "{}", a.text);

    let p = app.subject(&officer, &c).await;
    let r = shown(&p.body, "CF-1").unwrap();
    assert_eq!(r["under_objection"], false, "{}", p.text);
    // The other instance, which had the profile cached, hears of the close.
    let lifted = comes_true(std::time::Duration::from_secs(10), || async {
        let p = twin.subject(&officer, &c).await;
        shown(&p.body, "CF-1").is_some_and(|r| r["under_objection"] == false)
    })
    .await;
    assert!(
        lifted,
        "the second instance still shows the record under objection"
    );
    assert_eq!(r["fine_amount"], "1000000.00", "{}", p.text);
    // General now: 1 year of publicity, repair after 3 months.
    assert_eq!(r["publicity_until"], "2027-03-01", "{}", p.text);
    assert_eq!(r["repair_eligible_from"], "2026-06-02", "{}", p.text);
    let after = app.check(&officer, procurement(&c)).await;
    assert_eq!(after.status, 201, "{}", after.text);
    assert_ne!(after.body["verdict"], "prohibited", "{}", after.text);
    for m in &prohibiting {
        assert!(
            !measures(&after.body).contains(m),
            "{m} still applies: {}",
            after.text
        );
    }
    assert!(
        finding_records(&after.body)
            .iter()
            .all(|r| r["under_objection"] == false),
        "{}",
        after.text
    );

    // Who reads it.
    let o = read(&app, &officer, &id).await;
    assert_eq!(o.status, 200, "{}", o.text);
    assert_eq!(o.body["status"], "closed", "{}", o.text);
    assert_eq!(o.body["outcome"], "corrected", "{}", o.text);
    assert!(o.text.contains(reason), "the answer's reason: {}", o.text);
    // At least the forwarding and the answer.
    assert!(
        o.body["history"].as_array().unwrap().len() >= 2,
        "{}",
        o.text
    );
    for k in [&scjg, &admin, &auditor] {
        let r = read(&app, k, &id).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(read(&app, &other, &id).await.status, 404);
    assert!(item_ids(&list(&app, &officer, "").await).contains(&id));
    assert!(item_ids(&list(&app, &officer, "status=closed").await).contains(&id));
    assert!(!item_ids(&list(&app, &officer, "status=open").await).contains(&id));
    assert!(item_ids(&list(&app, &scjg, "").await).contains(&id));
    assert!(!item_ids(&list(&app, &other, "").await).contains(&id));
    assert!(!item_ids(&list(&app, &stranger, "").await).contains(&id));

    // One entry per step taken, naming the record; reads logged too.
    for (action, steps) in [
        ("objection.file", 1),
        ("objection.decide", 1),
        ("objection.answer", 1),
    ] {
        let ok = audit_entries(&app, action)
            .await
            .into_iter()
            .filter(|e| e["outcome"] == "ok" && e["records"].to_string().contains(&rec_id))
            .count();
        assert_eq!(ok, steps, "{action}");
    }
    assert!(!audit_entries(&app, "objection.read").await.is_empty());
    // What the filer wrote and who they are stay out of the access log.
    let log = app
        .get("/api/v1/audit/entries?limit=500", Some(&app.admin_key))
        .await;
    for secret in ["010-12345678", GROUNDS, "区政务服务中心", reason] {
        assert!(!log.text.contains(secret), "{secret} in the access log");
    }
    seal_and_verify(&app);
}

async fn admin_records_an_objection_in_person_with_a_past_date(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let scjg = app.key("SCJG", "provider").await;
    let c = code(2);
    let rec_id = submit(&app, &scjg, penalty("CF-2", &c)).await;
    let f = file(&app, &admin, &json!({"record_id": rec_id, "grounds": GROUNDS,
        "filed_by": {"kind": "subject", "name": "北京示例科技有限公司", "contact": "张三 13800000000"},
        "received_on": "2026-09-30"}))
    .await;
    assert_eq!(f.status, 201, "{}", f.text);
    let id = f.body["id"].as_str().unwrap().to_string();
    assert_eq!(f.body["received_on"], "2026-09-30", "{}", f.text);
    // National Day holidays (1–8 Oct 2026) skipped; 9 Oct on.
    assert_eq!(f.body["review_due"], "2026-10-13", "{}", f.text);

    assert!(item_ids(&list(&app, &admin, "overdue=true").await).contains(&id));
    assert!(item_ids(&list(&app, &admin, "status=open").await).contains(&id));
    assert!(!item_ids(&list(&app, &admin, "status=forwarded").await).contains(&id));
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    // This one is with the centre, past its review: one at the review stage, none forwarded.
    let gauge = |stage: &str| {
        metrics
            .text
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "creditgate_objections_overdue{{stage=\"{stage}\"}}"
                ))
            })
            .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
    };
    assert_eq!(gauge("review"), Some(1.0), "{}", metrics.text);
    assert_eq!(gauge("provider"), Some(0.0), "{}", metrics.text);

    let ok = decide(
        &app,
        &admin,
        &id,
        json!({"outcome": "confirmed", "reason": "经核查，原处罚记录无误"}),
    )
    .await;
    assert_done(&ok);
    assert_eq!(ok.body["status"], "closed", "{}", ok.text);
    assert_eq!(ok.body["outcome"], "confirmed", "{}", ok.text);
    let again = decide(
        &app,
        &admin,
        &id,
        json!({"outcome": "confirmed", "reason": "再次确认，原记录无误"}),
    )
    .await;
    assert_conflict(&again, "closed");
    assert!(!item_ids(&list(&app, &admin, "overdue=true").await).contains(&id));
    let p = app.subject(&admin, &c).await;
    assert_eq!(
        shown(&p.body, "CF-2").unwrap()["under_objection"],
        false,
        "{}",
        p.text
    );
}

async fn objection_bad_input(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let c = code(3);
    let rec_id = submit(&app, &scjg, penalty("CF-3", &c)).await;
    let mut special = penalty("CF-4", &c);
    special["sharing_class"] = json!("special");
    let special_id = submit(&app, &scjg, special).await;

    // Seven characters (21 bytes): too short, counted in characters.
    let mut short = filing(&rec_id);
    short["grounds"] = json!("记录有误请核查");
    assert_invalid(&file(&app, &officer, &short).await, "grounds");
    let mut dated = filing(&rec_id);
    dated["received_on"] = json!("2026-11-20");
    assert_invalid(&file(&app, &officer, &dated).await, "received_on");
    let mut future = filing(&rec_id);
    future["received_on"] = json!("2026-11-25");
    assert_invalid(&file(&app, &admin, &future).await, "received_on");
    let mut as_subject = filing(&rec_id);
    as_subject["filed_by"]["kind"] = json!("subject");
    let r = file(&app, &officer, &as_subject).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        error_fields(&r).iter().any(|f| f.starts_with("filed_by")),
        "{}",
        r.text
    );

    let unknown = file(&app, &officer, &filing("rec_01JAAAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    let hidden = file(&app, &officer, &filing(&special_id)).await;
    assert_eq!(
        hidden.status, 404,
        "a record the officer cannot see: {}",
        hidden.text
    );
    let raw = app
        .post_raw(
            "/api/v1/objections",
            Some(&officer),
            b"{\"record_id\": ".to_vec(),
        )
        .await;
    assert_eq!(raw.status, 400, "{}", raw.text);
    assert_eq!(
        read(&app, &admin, "obj_01JAAAAAAAAAAAAAAAAAAAAAAA")
            .await
            .status,
        404
    );

    // None of the refusals left an objection behind.
    let f = file(&app, &officer, &filing(&rec_id)).await;
    assert_eq!(f.status, 201, "{}", f.text);
    let id = f.body["id"].as_str().unwrap().to_string();
    assert_invalid(&file(&app, &officer, &filing(&rec_id)).await, "record_id");
    assert_invalid(&file(&app, &admin, &filing(&rec_id)).await, "record_id");

    let fwd = |on: &str| json!({"outcome": "forwarded", "reason": "非技术原因，转数据提供单位核实", "on": on});
    // The written answer is at least 10 characters (9 here).
    assert_invalid(
        &decide(
            &app,
            &admin,
            &id,
            json!({"outcome": "forwarded", "reason": "转数据提供单位核实"}),
        )
        .await,
        "reason",
    );
    assert_invalid(&decide(&app, &admin, &id, fwd("2026-11-25")).await, "on");
    assert_invalid(&decide(&app, &admin, &id, fwd("2026-11-23")).await, "on");
    let o = read(&app, &admin, &id).await;
    assert_eq!(o.body["status"], "open", "{}", o.text);
    let ok = decide(&app, &admin, &id, fwd("2026-11-24")).await;
    assert_done(&ok);
    assert_eq!(ok.body["provider_due"], "2026-11-27", "{}", ok.text);
}

async fn concurrent_decisions_one_wins(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let admin2 = app.key("ADMIN2", "admin").await;
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let confirm = json!({"outcome": "confirmed", "reason": "经核查，原处罚记录无误"});
    let forward = json!({"outcome": "forwarded", "reason": "非技术原因，转数据提供单位核实"});

    // The history of an objection decided once, alone, for either outcome.
    let mut reference = std::collections::HashMap::new();
    for (n, (outcome, body)) in [("confirmed", &confirm), ("forwarded", &forward)]
        .into_iter()
        .enumerate()
    {
        let c = code(50 + n as u32);
        let rec = submit(&app, &scjg, penalty(&format!("CF-R{n}"), &c)).await;
        let id = file(&app, &officer, &filing(&rec)).await.body["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_done(&decide(&app, &admin, &id, body.clone()).await);
        let o = read(&app, &admin, &id).await;
        reference.insert(outcome, o.body["history"].as_array().unwrap().len());
    }

    for round in 0..3u32 {
        let c = code(40 + round);
        let rec = submit(&app, &scjg, penalty(&format!("CF-{round}"), &c)).await;
        let f = file(&app, &officer, &filing(&rec)).await;
        assert_eq!(f.status, 201, "{}", f.text);
        let id = f.body["id"].as_str().unwrap().to_string();
        let (x, y) = tokio::join!(
            decide(&app, &admin, &id, confirm.clone()),
            decide(&app, &admin2, &id, forward.clone()),
        );
        let won = |a: &Answer| matches!(a.status, 200 | 201);
        assert!(
            won(&x) != won(&y),
            "exactly one decision wins: {} / {}",
            x.text,
            y.text
        );
        let (winner, loser, lost) = if won(&x) {
            ("confirmed", "forwarded", &y)
        } else {
            ("forwarded", "confirmed", &x)
        };
        assert_eq!(lost.status, 409, "{}", lost.text);
        let now = if winner == "confirmed" {
            "closed"
        } else {
            "forwarded"
        };
        assert_eq!(lost.body["current"]["status"], now, "{}", lost.text);

        let o = read(&app, &admin, &id).await;
        assert_eq!(o.body["status"], now, "{}", o.text);
        let history = o.body["history"].as_array().unwrap();
        assert_eq!(
            history.len(),
            reference[winner],
            "one decision step: {}",
            o.text
        );
        let h = serde_json::to_string(history).unwrap();
        assert!(h.contains(winner) && !h.contains(loser), "{}", o.text);
    }
}

on_both_backends!(
    objection_lifecycle,
    admin_records_an_objection_in_person_with_a_past_date,
    objection_bad_input,
    concurrent_decisions_one_wins,
);
