//! Checks through the real app on both backends: verdicts for the shipped measures, related
//! persons, natural persons by ID number, and who may name a legal representative.
//! `reports.rs` has the stored reports, batches, feedback and the rules.

mod common;

use common::*;
use serde_json::{json, Value};

async fn dishonest_debtor_is_prohibited_in_procurement(b: Backend) {
    let app = spawn_app(b).await;
    let court = app.key("FY", "provider").await;
    let officer = app.key("CGZX", "officer").await;
    let c = code(1);
    let mut e = list_entry("FY-1", &c, "court.dishonest_debtor");
    e["valid_to"] = json!("2028-06-01");
    let r = app.batch(&court, vec![e]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);

    let rep = app.check(&officer, procurement(&c)).await;
    assert_eq!(rep.status, 201, "{}", rep.text);
    assert_eq!(rep.body["verdict"], "prohibited");
    assert_eq!(rep.body["subject"]["known"], true);
    assert_eq!(rep.body["subject"]["name"], "上海示例贸易有限公司");
    let f = &rep.body["findings"][0];
    assert_eq!(f["measure_id"], "procurement.dishonest_debtor");
    assert_eq!(f["measure"], "prohibit");
    assert_eq!(f["applies_to"], "subject");
    assert_eq!(f["until"], "2028-06-01");
    assert!(
        f["basis"][0]
            .as_str()
            .unwrap()
            .contains("财库〔2016〕125号"),
        "{f}"
    );
    assert_eq!(f["records"][0]["list_code"], "court.dishonest_debtor");
    assert_eq!(f["records"][0]["decision_no"], "(2025)京01执123号");
    assert!(
        f["explanation"]
            .as_str()
            .unwrap()
            .contains("失信被执行人名单"),
        "{f}"
    );
    let no = rep.body["report_no"].as_str().unwrap();
    assert_eq!(
        no, "CR-20261124-000001",
        "the day in China Standard Time, numbered from 1"
    );
    assert_eq!(rep.body["rule_set"]["digest"].as_str().unwrap().len(), 71);
    assert_eq!(rep.body["as_of"], "2026-11-24");
    assert_clock_time(&rep.body["checked_at"]);
}

async fn large_fines_within_three_years_count_from_two_million(b: Backend) {
    let app = spawn_app(b).await;
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("CGZX", "officer").await;
    let (big, small, old) = (code(2), code(3), code(4));
    let mut p1 = penalty("CF-1", &big);
    p1["decision_date"] = json!("2024-11-24");
    let mut p2 = penalty("CF-2", &small);
    p2["decision_date"] = json!("2024-11-24");
    p2["fine_amount"] = json!("1999999.99");
    let mut p3 = penalty("CF-3", &old);
    p3["decision_date"] = json!("2023-11-23");
    let r = app.batch(&scjg, vec![p1, p2, p3]).await;
    assert_eq!(r.body["summary"]["created"], 3, "{}", r.text);

    let rep = app.check(&officer, procurement(&big)).await;
    assert_eq!(rep.body["verdict"], "prohibited", "{}", rep.text);
    assert_eq!(
        measures(&rep.body),
        ["procurement.major_violation.large_fine"]
    );
    let f = &rep.body["findings"][0];
    assert_eq!(f["until"], "2027-11-23");
    let cond = f["records"][0]["conditions"].to_string();
    assert!(
        cond.contains("罚款 2500000.00 元，不低于 2000000.00 元"),
        "{cond}"
    );

    let rep = app.check(&officer, procurement(&small)).await;
    assert_eq!(rep.body["verdict"], "clear", "{}", rep.text);
    assert_eq!(rep.body["subject"]["known"], true);
    assert!(measures(&rep.body).is_empty());

    let rep = app.check(&officer, procurement(&old)).await;
    assert_eq!(
        rep.body["verdict"], "clear",
        "decided 3 years and a day before: {}",
        rep.text
    );
}

async fn an_ended_ban_has_no_effect(b: Backend) {
    let app = spawn_app(b).await;
    let czj = app.key("CZJ", "provider").await;
    let officer = app.key("CGZX", "officer").await;
    let (ended, running) = (code(5), code(6));
    let mut e1 = list_entry("CZ-1", &ended, "procurement.serious_dishonesty");
    e1["valid_from"] = json!("2025-11-24");
    e1["valid_to"] = json!("2026-11-23");
    let mut e2 = list_entry("CZ-2", &running, "procurement.serious_dishonesty");
    e2["valid_to"] = json!("2026-11-24");
    app.batch(&czj, vec![e1, e2]).await;
    let rep = app.check(&officer, procurement(&ended)).await;
    assert_eq!(rep.body["verdict"], "clear", "{}", rep.text);
    let rep = app.check(&officer, procurement(&running)).await;
    assert_eq!(
        rep.body["verdict"], "prohibited",
        "last day of the ban: {}",
        rep.text
    );
    assert_eq!(measures(&rep.body), ["procurement.serious_dishonesty_ban"]);
}

async fn a_legal_rep_on_the_dishonest_debtor_list_bars_market_entry(b: Backend) {
    let app = spawn_app(b).await;
    let court = app.key("FY", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    // 张三 is listed as a natural person.
    let person = json!({
        "source_record_id": "FY-P-1", "kind": "list_entry", "list_code": "court.dishonest_debtor",
        "subject": {"kind": "natural_person", "name": "张三", "id_number": "110101199003070011"},
        "decision_no": "(2026)京0105执88号", "decision_date": "2026-02-01", "valid_from": "2026-02-01",
        "sharing_class": "unconditional", "open_class": "open"
    });
    let r = app.batch(&court, vec![person]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    let applicant = code(7);
    let body = json!({
        "scenario": "market_entry", "subject": {"uscc": applicant},
        "related_persons": [{"role": "legal_rep", "name": "张三", "id_number": "110101199003070011"}],
        "purpose": "设立登记审查"
    });
    let rep = app.check(&officer, body).await;
    assert_eq!(rep.status, 201, "{}", rep.text);
    assert!(
        ["restricted", "prohibited"].contains(&rep.body["verdict"].as_str().unwrap()),
        "{}",
        rep.text
    );
    assert_eq!(rep.body["subject"]["known"], false);
    let f = &rep.body["findings"][0];
    assert_eq!(f["measure_id"], "market_entry.officer_dishonest_debtor");
    assert_eq!(f["applies_to"], "legal_rep");
    assert_eq!(f["person"]["id_number"], "110101********0011");
    assert!(
        !rep.text.contains("110101199003070011"),
        "full ID number in the answer"
    );

    // The same person recorded as legal representative on a subject is checked without being named.
    let scjg = app.key("SCJG", "provider").await;
    let firm = code(8);
    app.batch(
        &scjg,
        vec![{
            let mut p = penalty("CF-9", &firm);
            p["fine_amount"] = json!("100.00");
            p
        }],
    )
    .await;
    let rep = app
        .check(&officer, json!({"scenario": "market_entry", "subject": {"uscc": firm}, "purpose": "变更登记审查"}))
        .await;
    assert_eq!(rep.body["verdict"], "prohibited", "{}", rep.text);
    assert_eq!(rep.body["findings"][0]["applies_to"], "legal_rep");
}

async fn a_natural_person_is_checked_by_id_number(b: Backend) {
    let app = spawn_app(b).await;
    let court = app.key("FY", "provider").await;
    let officer = app.key("CZJ", "officer").await;
    let person = json!({
        "source_record_id": "FY-P-2", "kind": "list_entry", "list_code": "court.dishonest_debtor",
        "subject": {"kind": "natural_person", "name": "李四", "id_number": "11010119800101007X"},
        "decision_date": "2026-01-05", "valid_from": "2026-01-05",
        "sharing_class": "unconditional", "open_class": "open"
    });
    let r = app.batch(&court, vec![person]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    let body = json!({"scenario": "subsidy", "subject": {"id_number": "11010119800101007x", "name": "李四"},
                      "purpose": "创业补贴审核"});
    let rep = app.check(&officer, body).await;
    assert_eq!(rep.status, 201, "{}", rep.text);
    assert_eq!(rep.body["verdict"], "restricted");
    assert_eq!(rep.body["subject"]["id_number"], "110101********007X");
    assert_eq!(rep.body["subject"]["known"], true);
    assert_eq!(measures(&rep.body), ["subsidy.dishonest_debtor"]);
    assert!(
        !rep.text.contains("11010119800101007"),
        "full ID number in the answer"
    );
}

/// 一数一源: only the registration authority (SCJG by default) and the provincial platform set
/// a subject's name and legal representative. Another department's record that names a listed
/// person as legal representative changes neither the subject nor its market-entry check.
async fn only_the_registration_authority_names_a_legal_rep(b: Backend) {
    const LISTED: &str = "360426199101010071";
    let app = spawn_app(b).await;
    let court = app.key("FY", "provider").await;
    let tax = app.key("SW", "provider").await;
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let listed = json!({
        "source_record_id": "FY-P-7", "kind": "list_entry", "list_code": "court.dishonest_debtor",
        "subject": {"kind": "natural_person", "name": "王五", "id_number": LISTED},
        "decision_date": "2026-02-01", "valid_from": "2026-02-01",
        "sharing_class": "unconditional", "open_class": "open"
    });
    let r = app.batch(&court, vec![listed]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    let licence = |uscc: &str, rep: (&str, &str), version: i64| {
        json!({
            "source_record_id": format!("SCJG-XK-{uscc}"), "kind": "license", "version": version,
            "subject": {"uscc": uscc, "name": "北京示例科技有限公司", "kind": "legal_person",
                        "legal_rep": {"name": rep.0, "id_number": rep.1}},
            "decision_no": "京市监许〔2026〕1号", "decision_date": "2026-01-05",
            "sharing_class": "unconditional", "open_class": "open"
        })
    };
    let commitment = |id: &str, uscc: &str| {
        json!({
            "source_record_id": id, "kind": "commitment",
            "subject": {"uscc": uscc, "name": "冒名顶替有限公司", "kind": "legal_person",
                        "legal_rep": {"name": "王五", "id_number": LISTED}},
            "decision_date": "2026-03-01", "sharing_class": "unconditional", "open_class": "open"
        })
    };
    let firm = code(21);
    let r = app
        .batch(
            &scjg,
            vec![licence(&firm, ("张三", "110101199003070011"), 1)],
        )
        .await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    let check = |uscc: String| {
        app.check(
            &officer,
            json!({"scenario": "market_entry", "subject": {"uscc": uscc}, "purpose": "变更登记审查"}),
        )
    };
    let measures_of = |a: &Answer| -> Vec<String> {
        a.body["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{}:{}", f["measure_id"], f["applies_to"]))
            .collect()
    };
    let before = check(firm.clone()).await;
    assert_eq!(before.status, 201, "{}", before.text);

    let r = app.batch(&tax, vec![commitment("SW-CN-1", &firm)]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    let after = check(firm.clone()).await;
    assert_eq!(measures_of(&after), measures_of(&before), "{}", after.text);
    assert!(
        !measures_of(&after)
            .iter()
            .any(|m| m.ends_with(":\"legal_rep\"")),
        "{}",
        after.text
    );
    assert_eq!(after.body["subject"]["name"], "北京示例科技有限公司");
    let p = app.subject(&officer, &firm).await;
    assert_eq!(
        p.body["subject"]["name"], "北京示例科技有限公司",
        "{}",
        p.text
    );
    assert_eq!(
        p.body["subject"]["legal_rep"]["id_number"], "110101********0011",
        "{}",
        p.text
    );
    // The record itself carries the names it was given.
    let named: Vec<&Value> = p.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "commitment")
        .collect();
    assert_eq!(named.len(), 1, "{}", p.text);
    assert_eq!(named[0]["legal_rep"]["id_number"], "360426********0071");

    // A subject that another department's record makes first has no legal representative.
    let other = code(22);
    let r = app.batch(&tax, vec![commitment("SW-CN-2", &other)]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    let rep = check(other.clone()).await;
    assert_eq!(rep.status, 201, "{}", rep.text);
    assert!(
        !measures_of(&rep)
            .iter()
            .any(|m| m.ends_with(":\"legal_rep\"")),
        "{}",
        rep.text
    );
    let p = app.subject(&officer, &other).await;
    assert!(p.body["subject"]["legal_rep"].is_null(), "{}", p.text);

    // The registration authority's own change is taken at once.
    let r = app
        .batch(&scjg, vec![licence(&firm, ("王五", LISTED), 2)])
        .await;
    assert_eq!(r.body["summary"]["updated"], 1, "{}", r.text);
    let now = check(firm.clone()).await;
    assert_eq!(now.body["verdict"], "prohibited", "{}", now.text);
    assert!(
        measures_of(&now)
            .iter()
            .any(|m| m.ends_with(":\"legal_rep\"")),
        "{}",
        now.text
    );
}

on_both_backends!(
    only_the_registration_authority_names_a_legal_rep,
    dishonest_debtor_is_prohibited_in_procurement,
    large_fines_within_three_years_count_from_two_million,
    an_ended_ban_has_no_effect,
    a_legal_rep_on_the_dishonest_debtor_list_bars_market_entry,
    a_natural_person_is_checked_by_id_number,
);
