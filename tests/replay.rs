//! As-known-at replay (API.md "Impact analysis and replay": `POST /api/v1/checks` with
//! `as_known_at`): the records as received by then and the rule set active then; the report
//! says `"replay": true`, names the rule set used, and is stored and verifiable like any other.
//!
//! The timeline (minutes after the tests' "now", on a clock the test moves on):
//! T1 = +10 a dishonest-debtor entry and a fine of 1,000,000 yuan are received;
//! T2 = +20 the entry is revoked by its court; T3 = +30 a rule set that lowers the procurement
//! fine threshold from 2,000,000 to 500,000 yuan is reloaded; the checks run at +40.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use serde_json::{json, Value};

on_both_backends!(
    a_replay_sees_what_was_received_and_the_rules_in_force_then,
    a_replay_time_is_checked,
    a_replay_sees_the_legal_representatives_of_then,
    a_repair_approved_later_does_not_change_a_replay
);

/// `minutes` after the tests' "now", as RFC 3339.
fn at(minutes: i64) -> String {
    (test_now() + chrono::TimeDelta::minutes(minutes)).to_rfc3339()
}

fn replay(uscc: &str, minutes: i64) -> Value {
    let mut body = procurement(uscc);
    body["as_known_at"] = json!(at(minutes));
    body
}

async fn a_replay_sees_what_was_received_and_the_rules_in_force_then(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    copy_dir(&shipped, dir.path());
    let (clock, minutes) = movable_clock();
    let app = spawn_app_with(
        b,
        Options {
            clock: Some(clock),
            rules_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
    )
    .await;
    let court = app.key("FY", "provider").await;
    let market = app.key("SCJG", "provider").await;
    let officer = app.key("CGZX", "officer").await;
    let (listed, fined) = (code(1), code(2));
    let first_digest = app.get("/api/v1/rules", Some(&officer)).await.body["digest"].clone();

    // T1
    minutes.store(10, Ordering::SeqCst);
    let mut entry = list_entry("FY-1", &listed, "court.dishonest_debtor");
    entry["valid_to"] = json!("2028-06-01");
    entry["version"] = json!(1);
    let r = app.batch(&court, vec![entry.clone()]).await;
    assert_eq!(statuses(&r.body), ["created"], "{}", r.text);
    let mut fine = penalty("SC-1", &fined);
    fine["fine_amount"] = json!("1000000.00");
    let r = app.batch(&market, vec![fine]).await;
    assert_eq!(statuses(&r.body), ["created"], "{}", r.text);

    // T2
    minutes.store(20, Ordering::SeqCst);
    entry["version"] = json!(2);
    entry["status"] = json!("revoked");
    let r = app.batch(&court, vec![entry]).await;
    assert_eq!(statuses(&r.body), ["updated"], "{}", r.text);

    // T3
    minutes.store(30, Ordering::SeqCst);
    lower_fine_threshold(dir.path());
    let r = app
        .post(
            "/api/v1/admin/rules/reload",
            Some(&app.admin_key),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let second_digest = r.body["digest"].clone();
    assert_ne!(first_digest, second_digest);

    minutes.store(40, Ordering::SeqCst);
    // Now: the entry is revoked, the fine counts under the new threshold.
    let now = app.check(&officer, procurement(&listed)).await;
    assert_eq!(now.status, 201, "{}", now.text);
    assert_eq!(now.body["verdict"], "clear", "{}", now.text);
    assert_eq!(now.body["replay"], false);
    assert!(now.body.get("as_known_at").is_none(), "{}", now.text);

    // The listed subject: clear before T1, prohibited between T1 and T2, clear after T2.
    let mut between = Value::Null;
    for (when, verdict) in [
        (5, "clear"),
        (15, "prohibited"),
        (25, "clear"),
        (35, "clear"),
    ] {
        let rep = app.check(&officer, replay(&listed, when)).await;
        assert_eq!(rep.status, 201, "+{when}: {}", rep.text);
        assert_eq!(rep.body["verdict"], verdict, "+{when}: {}", rep.text);
        assert_eq!(rep.body["replay"], true, "{}", rep.text);
        assert_eq!(
            rep.body["as_of"], "2026-11-24",
            "as_of defaults to that day"
        );
        assert!(
            rep.body["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains("按时点重现")),
            "{}",
            rep.text
        );
        if when == 15 {
            between = rep.body.clone();
        }
    }
    assert_eq!(
        measures(&between),
        ["procurement.dishonest_debtor"],
        "{between}"
    );
    // The same instant written in Beijing time, with a fraction of a second.
    let beijing = (test_now() + chrono::TimeDelta::milliseconds(15 * 60_000 + 250))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339();
    assert!(
        beijing.contains("+08:00") && beijing.contains(".250"),
        "{beijing}"
    );
    let mut body = procurement(&listed);
    body["as_known_at"] = json!(beijing);
    let rep = app.check(&officer, body).await;
    assert_eq!(rep.body["verdict"], "prohibited", "{}", rep.text);
    assert_eq!(
        rep.body["as_known_at"], "2026-11-24T08:45:00.250000Z",
        "{}",
        rep.text
    );
    assert_eq!(between["subject"]["known"], true);
    assert_eq!(between["rule_set"]["digest"], first_digest);
    // The record it rests on was revoked later: the answer says so.
    let later = between["later_changes"].as_array().unwrap();
    assert!(later.iter().any(|c| c["change"] == "revoked"), "{between}");

    // Stored and verifiable like any other report.
    let no = between["report_no"].as_str().unwrap();
    let digest = between["digest"].as_str().unwrap();
    let v = app
        .get(
            &format!("/api/v1/checks/{no}/verify?digest={digest}"),
            Some(&officer),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["valid"], true, "{}", v.text);
    assert_eq!(v.body["verdict"], "prohibited");
    let stored = app
        .get(&format!("/api/v1/checks/{no}"), Some(&officer))
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(stored.body["replay"], true);
    assert_eq!(stored.body["as_known_at"], between["as_known_at"]);
    assert_eq!(stored.body["verdict"], "prohibited");

    // The fined subject: the rule set reloaded at T3 is not used by a replay before it.
    let before = app.check(&officer, replay(&fined, 25)).await;
    assert_eq!(before.status, 201, "{}", before.text);
    assert_eq!(before.body["verdict"], "clear", "{}", before.text);
    assert_eq!(before.body["rule_set"]["digest"], first_digest);
    let after = app.check(&officer, replay(&fined, 35)).await;
    assert_eq!(after.body["verdict"], "prohibited", "{}", after.text);
    assert_eq!(after.body["rule_set"]["digest"], second_digest);
    assert_eq!(
        measures(&after.body),
        ["procurement.major_violation.large_fine"]
    );
    let live = app.check(&officer, procurement(&fined)).await;
    assert_eq!(live.body["verdict"], "prohibited", "{}", live.text);
    // Before T1 the fined subject was not known at all.
    let unknown = app.check(&officer, replay(&fined, 5)).await;
    assert_eq!(unknown.body["verdict"], "clear", "{}", unknown.text);
    assert_eq!(unknown.body["subject"]["known"], false, "{}", unknown.text);

    // A replay with an explicit as_of keeps it.
    let mut dated = replay(&listed, 15);
    dated["as_of"] = json!("2026-11-01");
    let rep = app.check(&officer, dated).await;
    assert_eq!(rep.body["as_of"], "2026-11-01", "{}", rep.text);
    assert_eq!(rep.body["verdict"], "prohibited", "{}", rep.text);
}

async fn a_replay_time_is_checked(b: Backend) {
    let app = spawn_app(b).await;
    let officer = app.key("CGZX", "officer").await;
    let c = code(3);
    let cases = [
        (json!("yesterday"), "invalid_time"),
        (json!("2026-11-24"), "invalid_time"),
        (json!(at(24 * 60)), "future_time"),
        // Before the rule history begins (the app started at the tests' "now").
        (json!(at(-60)), "before_history"),
    ];
    for (value, code) in cases {
        let mut body = procurement(&c);
        body["as_known_at"] = value.clone();
        let r = app.check(&officer, body).await;
        assert_eq!(r.status, 422, "{value}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json", "{value}");
        let errors = r.body["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == "as_known_at" && e["code"] == code),
            "{value}: {}",
            r.text
        );
    }
    // Nothing was stored for the refused requests.
    let pool = creditgate::store::connect(&app.db_url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    assert_eq!(
        creditgate::store::checks::count_reports(&mut conn).unwrap(),
        0
    );
}

/// Legal representatives as the records of then named them: the subject's own (set by the
/// record that registered it) and a person's past as the representative of a firm whose
/// licence was revoked, each corrected at +20.
async fn a_replay_sees_the_legal_representatives_of_then(b: Backend) {
    let (clock, minutes) = movable_clock();
    let app = spawn_app_with(
        b,
        Options {
            clock: Some(clock),
            ..Default::default()
        },
    )
    .await;
    let court = app.key("FY", "provider").await;
    let market = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    const ZHANG: &str = "110101199003070011";
    const WANG: &str = "11010119800101007X";
    let (firm, closed, applicant) = (code(11), code(12), code(13));

    minutes.store(10, Ordering::SeqCst);
    // 张三 is a dishonest debtor; the firm's record names him its legal representative.
    let listed = json!({
        "source_record_id": "FY-P-1", "kind": "list_entry", "list_code": "court.dishonest_debtor",
        "subject": {"kind": "natural_person", "name": "张三", "id_number": ZHANG},
        "decision_no": "(2026)京0105执88号", "decision_date": "2026-02-01", "valid_from": "2026-02-01",
        "sharing_class": "unconditional", "open_class": "open"
    });
    assert_eq!(
        statuses(&app.batch(&court, vec![listed]).await.body),
        ["created"]
    );
    let mut fined = penalty("CF-1", &firm);
    fined["fine_amount"] = json!("100.00");
    // A firm whose licence was revoked, with 王五 named as its legal representative.
    let mut revoked = penalty("CF-2", &closed);
    revoked["penalty_types"] = json!(["licence_revoked"]);
    revoked["subject"]["legal_rep"] = json!({"name": "王五", "id_number": WANG});
    let r = app
        .batch(&market, vec![fined.clone(), revoked.clone()])
        .await;
    assert_eq!(statuses(&r.body), ["created", "created"], "{}", r.text);

    minutes.store(20, Ordering::SeqCst);
    // Corrections: the firm's representative is 王五 now; the closed firm's was someone else.
    fined["version"] = json!(2);
    fined["subject"]["legal_rep"] = json!({"name": "王五", "id_number": WANG});
    revoked["version"] = json!(2);
    revoked["subject"]["legal_rep"] = json!({"name": "赵六", "id_number": "110101199001010015"});
    let r = app.batch(&market, vec![fined, revoked]).await;
    assert_eq!(statuses(&r.body), ["updated", "updated"], "{}", r.text);
    minutes.store(30, Ordering::SeqCst);

    let entry = |uscc: &str, minutes: Option<i64>, persons: Value| {
        let mut body = json!({"scenario": "market_entry", "subject": {"uscc": uscc},
                              "related_persons": persons, "purpose": "变更登记审查"});
        if let Some(m) = minutes {
            body["as_known_at"] = json!(at(m));
        }
        body
    };
    // The firm: its representative then was 张三, a dishonest debtor; now 王五.
    let then = app.check(&officer, entry(&firm, Some(15), json!([]))).await;
    assert_eq!(then.body["verdict"], "prohibited", "{}", then.text);
    assert_eq!(then.body["findings"][0]["applies_to"], "legal_rep");
    assert_eq!(then.body["findings"][0]["person"]["name"], "张三");
    let now = app.check(&officer, entry(&firm, None, json!([]))).await;
    assert_eq!(now.body["verdict"], "clear", "{}", now.text);
    let after = app.check(&officer, entry(&firm, Some(25), json!([]))).await;
    assert_eq!(after.body["verdict"], "clear", "{}", after.text);

    // 王五 as the applicant's representative: then he was named on the revoked firm's record
    // (three years' bar), after the correction he is not.
    let wang = json!([{"role": "legal_rep", "name": "王五", "id_number": WANG}]);
    let then = app
        .check(&officer, entry(&applicant, Some(15), wang.clone()))
        .await;
    assert_eq!(then.body["verdict"], "prohibited", "{}", then.text);
    assert_eq!(
        measures(&then.body),
        ["market_entry.legal_rep_of_revoked"],
        "{}",
        then.text
    );
    let after = app
        .check(&officer, entry(&applicant, Some(25), wang.clone()))
        .await;
    assert_eq!(after.body["verdict"], "clear", "{}", after.text);
    let now = app.check(&officer, entry(&applicant, None, wang)).await;
    assert_eq!(now.body["verdict"], "clear", "{}", now.text);
    for r in [&then, &after, &now] {
        assert!(
            !r.text.contains(WANG) && !r.text.contains(ZHANG),
            "{}",
            r.text
        );
    }
}

/// A penalty received at +10 and repaired at +20 (NDRC Order 36: a repaired record is no longer
/// used): a replay at +15 still finds it, with the repair in `later_changes`; one at +25 does not.
async fn a_repair_approved_later_does_not_change_a_replay(b: Backend) {
    let (clock, minutes) = movable_clock();
    let app = spawn_app_with(
        b,
        Options {
            clock: Some(clock),
            ..Default::default()
        },
    )
    .await;
    let market = app.key("SCJG", "provider").await;
    let officer = app.key("CGZX", "officer").await;
    let c = code(21);
    minutes.store(10, Ordering::SeqCst);
    // A general penalty decided 2026-06-01, repairable from 2026-09-02, with a large fine.
    let mut p = penalty("CF-R1", &c);
    p["decision_date"] = json!("2026-06-01");
    p["severity"] = json!("general");
    let r = app.batch(&market, vec![p]).await;
    assert_eq!(statuses(&r.body), ["created"], "{}", r.text);
    let record_id = r.body["results"][0]["id"].as_str().unwrap().to_string();

    minutes.store(20, Ordering::SeqCst);
    let a = app
        .post(
            "/api/v1/repairs",
            Some(&market),
            &json!({"record_id": record_id,
                    "applicant": {"name": "王小明", "contact": "13800000000"},
                    "commitment": "XYCN-2026-1124-0087",
                    "evidence": "罚款已全额缴清，附缴款凭证及整改报告"}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let id = a.body["id"].as_str().unwrap();
    let d = app
        .post(
            &format!("/api/v1/repairs/{id}/decision"),
            Some(&market),
            &json!({"outcome": "approved", "reason": "已履行行政处罚决定并提交信用承诺书，准予修复"}),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    minutes.store(30, Ordering::SeqCst);

    let now = app.check(&officer, procurement(&c)).await;
    assert_eq!(now.body["verdict"], "clear", "{}", now.text);
    let before = app.check(&officer, replay(&c, 15)).await;
    assert_eq!(before.body["verdict"], "prohibited", "{}", before.text);
    let later = before.body["later_changes"].as_array().unwrap();
    assert!(
        later
            .iter()
            .any(|l| l["change"] == "repaired" && l["record_id"] == record_id.as_str()),
        "{}",
        before.text
    );
    let after = app.check(&officer, replay(&c, 25)).await;
    assert_eq!(after.body["verdict"], "clear", "{}", after.text);
    // The applicant's name and contact are nowhere in the answers.
    for r in [&before, &after] {
        assert!(
            !r.text.contains("王小明") && !r.text.contains("13800000000"),
            "{}",
            r.text
        );
    }
}
