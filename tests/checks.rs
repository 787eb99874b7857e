//! Checks through the real app on both backends: verdicts for the shipped measures, related
//! persons, stored and verifiable reports, batches, feedback, rules and their reload.

mod common;

use common::*;
use serde_json::{json, Value};

impl TestApp {
    async fn check(&self, key: &str, body: Value) -> Answer {
        self.post("/api/v1/checks", Some(key), &body).await
    }
}

fn procurement(uscc: &str) -> Value {
    json!({"scenario": "procurement", "subject": {"uscc": uscc},
           "purpose": "政府采购资格审查", "reference": "ZFCG-2026-0457"})
}

fn measures(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["measure_id"].as_str().unwrap().to_string())
        .collect()
}

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
    assert_eq!(rep.body["checked_at"], "2026-11-24T08:30:00Z");
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

async fn reports_are_stored_and_verifiable(b: Backend) {
    let app = spawn_app(b).await;
    let court = app.key("FY", "provider").await;
    let officer = app.key("CGZX", "officer").await;
    let other = app.key("JTJ", "officer").await;
    let auditor = app.key("SJJ", "auditor").await;
    let c = code(9);
    app.batch(
        &court,
        vec![list_entry("FY-2", &c, "court.dishonest_debtor")],
    )
    .await;
    let rep = app.check(&officer, procurement(&c)).await;
    let no = rep.body["report_no"].as_str().unwrap().to_string();
    let digest = rep.body["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:"));

    let again = app
        .get(&format!("/api/v1/checks/{no}"), Some(&officer))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        again.body, rep.body,
        "the stored report is the answer as given"
    );
    assert_eq!(
        app.get(&format!("/api/v1/checks/{no}"), Some(&auditor))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get(&format!("/api/v1/checks/{no}"), Some(&other))
            .await
            .status,
        404
    );

    let ok = app
        .get(
            &format!("/api/v1/checks/{no}/verify?digest={digest}"),
            Some(&other),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["valid"], true);
    assert_eq!(ok.body["verdict"], "prohibited");
    // A wrong digest learns nothing but "not valid"; nor does a number no report has, so the
    // two answers cannot tell a probe which numbers exist.
    let forged = format!("sha256:{}", "0".repeat(64));
    let bad = app
        .get(
            &format!("/api/v1/checks/{no}/verify?digest={forged}"),
            Some(&other),
        )
        .await;
    assert_eq!(bad.status, 200, "{}", bad.text);
    assert_eq!(bad.body, json!({"valid": false, "report_no": no}));
    let unknown = app
        .get(
            &format!("/api/v1/checks/CR-20261124-999999/verify?digest={forged}"),
            Some(&other),
        )
        .await;
    assert_eq!(unknown.status, 200, "{}", unknown.text);
    assert_eq!(
        unknown.body,
        json!({"valid": false, "report_no": "CR-20261124-999999"})
    );
    let none = app
        .get(&format!("/api/v1/checks/{no}/verify"), Some(&other))
        .await;
    assert_eq!(none.status, 422);
    assert_eq!(
        app.get("/api/v1/checks/CR-20261124-999999", Some(&officer))
            .await
            .status,
        404
    );

    // A second report gets the next number; a record added later does not change the first.
    app.batch(&court, vec![list_entry("FY-3", &c, "tax.major_violation")])
        .await;
    let second = app.check(&officer, procurement(&c)).await;
    assert_ne!(second.body["report_no"], rep.body["report_no"]);
    assert_eq!(measures(&second.body).len(), 2);
    let first = app
        .get(&format!("/api/v1/checks/{no}"), Some(&officer))
        .await;
    assert_eq!(measures(&first.body).len(), 1);
    let ctx_ok =
        creditgate::app::build_ctx(&app.config, creditgate::service::Clock::fixed(test_now()));
    let ctx = ctx_ok.unwrap();
    assert!(
        creditgate::service::checks::reevaluate(&ctx, &no)
            .await
            .unwrap(),
        "re-evaluation differs"
    );
}

async fn bad_requests_are_named(b: Backend) {
    let app = spawn_app(b).await;
    let officer = app.key("CGZX", "officer").await;
    let partner = app.key("BANK", "partner").await;
    let provider = app.key("SCJG", "provider").await;
    let c = code(10);
    let mut body = procurement(&c);
    body["scenario"] = json!("lottery");
    let r = app.check(&officer, body).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["errors"][0]["field"], "scenario");
    assert_eq!(r.body["errors"][0]["code"], "unknown_scenario");
    let msg = r.body["errors"][0]["message"].as_str().unwrap();
    for s in ["market_entry", "procurement", "bidding", "subsidy"] {
        assert!(msg.contains(s), "{msg}");
    }
    let mut bad = procurement("91110000MA00000153");
    bad["purpose"] = json!("");
    let r = app.check(&officer, bad).await;
    assert_eq!(r.status, 422);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"subject.uscc") && fields.contains(&"purpose"),
        "{}",
        r.text
    );
    let mut future = procurement(&c);
    future["as_of"] = json!("2027-01-01");
    assert_eq!(
        app.check(&officer, future).await.body["errors"][0]["code"],
        "future_date"
    );
    let mut persons = procurement(&c);
    persons["related_persons"] =
        json!([{"role": "cousin", "name": "x", "id_number": "110101199003070012"}]);
    let r = app.check(&officer, persons).await;
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["related_persons[0].role", "related_persons[0].id_number"],
        "{}",
        r.text
    );
    assert_eq!(
        app.post_raw("/api/v1/checks", Some(&officer), b"{".to_vec())
            .await
            .status,
        400
    );
    assert_eq!(app.check(&partner, procurement(&c)).await.status, 403);
    assert_eq!(app.check(&provider, procurement(&c)).await.status, 403);
    assert_eq!(
        app.post("/api/v1/checks", None, &procurement(&c))
            .await
            .status,
        401
    );

    // A valid code with no records: clear, not known, and still stored.
    let r = app.check(&officer, procurement(&c)).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["verdict"], "clear");
    assert_eq!(r.body["subject"]["known"], false);
    assert_eq!(r.body["findings"], json!([]));
}

async fn batches_feedback_and_restricted_records(b: Backend) {
    let app = spawn_app(b).await;
    let court = app.key("FY", "provider").await;
    let tax = app.key("SWJ", "provider").await;
    let system = app.key("ZFCG", "system").await;
    let (a, bb, cc) = (code(11), code(12), code(13));
    app.batch(
        &court,
        vec![list_entry("FY-4", &a, "court.dishonest_debtor")],
    )
    .await;
    // A conditional record: the check applies it, but the system may not read its details.
    let mut t = list_entry("SW-1", &cc, "tax.major_violation");
    t["sharing_class"] = json!("conditional");
    app.batch(&tax, vec![t]).await;
    let body = json!({"scenario": "procurement", "purpose": "联合体成员资格审查", "reference": "ZFCG-2026-0458",
                      "subjects": [{"uscc": a}, {"uscc": "bad"}, {"uscc": bb}, {"uscc": cc}]});
    let r = app.post("/api/v1/checks/batch", Some(&system), &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let reports = r.body["reports"].as_array().unwrap();
    let verdicts: Vec<&str> = reports
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["prohibited", "clear", "prohibited"]);
    assert_eq!(r.body["errors"][0]["index"], 1);
    assert_eq!(
        r.body["errors"][0]["errors"][0]["field"],
        "subjects[1].uscc"
    );
    let hidden = &reports[2]["findings"][0];
    assert_eq!(hidden["measure_id"], "procurement.major_tax_violation");
    assert_eq!(hidden["records"][0]["restricted"], true);
    assert!(
        hidden["records"][0].get("decision_no").is_none(),
        "{hidden}"
    );
    assert!(
        !reports[2].to_string().contains("京01执123号"),
        "restricted details leaked"
    );
    assert!(hidden["explanation"]
        .as_str()
        .unwrap()
        .contains("受共享类别限制"));

    let too_many: Vec<Value> = (0..501).map(|_| json!({"uscc": a})).collect();
    let r = app
        .post(
            "/api/v1/checks/batch",
            Some(&system),
            &json!({"scenario": "procurement", "purpose": "资格审查", "subjects": too_many}),
        )
        .await;
    assert_eq!(r.status, 413);

    let no = reports[0]["report_no"].as_str().unwrap();
    let fb = app
        .post(
            &format!("/api/v1/checks/{no}/feedback"),
            Some(&system),
            &json!({"action": "restricted", "note": "已拒绝其投标"}),
        )
        .await;
    assert_eq!(fb.status, 201, "{}", fb.text);
    assert_eq!(fb.body["action"], "restricted");
    // Another organisation's officer: the report is answered as absent, as an unknown one is.
    let stranger = app.key("JTJ", "officer").await;
    let foreign = app
        .post(
            &format!("/api/v1/checks/{no}/feedback"),
            Some(&stranger),
            &json!({"action": "not_restricted"}),
        )
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.text);
    let unknown = app
        .post(
            "/api/v1/checks/CR-20200101-000001/feedback",
            Some(&stranger),
            &json!({"action": "not_restricted"}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        foreign.body["detail"].as_str().map(|d| d.replace(no, "N")),
        unknown.body["detail"]
            .as_str()
            .map(|d| d.replace("CR-20200101-000001", "N")),
        "the same answer for a report of another organisation and for none"
    );
    let bad = app
        .post(
            &format!("/api/v1/checks/{no}/feedback"),
            Some(&system),
            &json!({"action": "ignored"}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["errors"][0]["field"], "action");
    let missing = app
        .post(
            "/api/v1/checks/CR-20200101-000001/feedback",
            Some(&system),
            &json!({"action": "restricted"}),
        )
        .await;
    assert_eq!(missing.status, 404);
}

async fn rules_are_shown_and_reloaded_atomically(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    copy_dir(&src, dir.path());
    let app = spawn_app_with(
        b,
        Options {
            rules_dir: Some(dir.path().to_path_buf()),
            ..Options::default()
        },
    )
    .await;
    let officer = app.key("CGZX", "officer").await;
    let rules = app.get("/api/v1/rules", Some(&officer)).await;
    assert_eq!(rules.status, 200);
    let digest = rules.body["digest"].as_str().unwrap().to_string();
    let scenarios: Vec<&str> = rules.body["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        scenarios,
        ["bidding", "market_entry", "procurement", "subsidy"]
    );
    for s in rules.body["scenarios"].as_array().unwrap() {
        for m in s["measures"].as_array().unwrap() {
            assert!(!m["basis"].as_array().unwrap().is_empty(), "{m}");
        }
    }
    assert_eq!(
        app.post("/api/v1/admin/rules/reload", Some(&officer), &json!({}))
            .await
            .status,
        403
    );

    // A broken file: refused with its line, the old set stays.
    let scen = dir.path().join("scenarios/procurement.yaml");
    let good = std::fs::read_to_string(&scen).unwrap();
    std::fs::write(
        &scen,
        good.replace(
            "list_codes: [tax.major_violation]",
            "list_codes: [tax.nope]",
        ),
    )
    .unwrap();
    let r = app
        .post(
            "/api/v1/admin/rules/reload",
            Some(&app.admin_key),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let field = r.body["errors"][0]["field"].as_str().unwrap();
    assert!(field.starts_with("scenarios/procurement.yaml:"), "{field}");
    assert!(r.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("tax.nope"));
    assert_eq!(
        app.get("/api/v1/rules", Some(&officer)).await.body["digest"],
        digest.as_str()
    );

    // A good change: the fine threshold raised; a 2,500,000 fine no longer bars.
    std::fs::write(
        &scen,
        good.replace(
            "fine_at_least: \"2000000.00\"",
            "fine_at_least: \"3000000.00\"",
        ),
    )
    .unwrap();
    let r = app
        .post(
            "/api/v1/admin/rules/reload",
            Some(&app.admin_key),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["changed"], true);
    assert_eq!(r.body["previous_digest"], digest.as_str());
    let scjg = app.key("SCJG", "provider").await;
    let c = code(14);
    app.batch(&scjg, vec![penalty("CF-20", &c)]).await;
    let rep = app.check(&officer, procurement(&c)).await;
    assert_eq!(rep.body["verdict"], "clear", "{}", rep.text);
    assert_eq!(rep.body["rule_set"]["digest"], r.body["digest"]);
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

/// Two instances on one database, checks in parallel: every report number is unique.
async fn report_numbers_are_unique_across_instances(b: Backend) {
    let db = TestDb::new(b);
    let one = spawn_on(&db).await;
    let two = spawn_on(&db).await;
    let k1 = one.key("CGZX", "officer").await;
    let k2 = two.key("ZFCG", "system").await;
    let mut tasks = Vec::new();
    for i in 0..60u32 {
        let (app, key) = if i % 2 == 0 { (&one, &k1) } else { (&two, &k2) };
        tasks.push(app.check(key, procurement(&code(100 + i))));
    }
    let answers = futures_util::future::join_all(tasks).await;
    let mut numbers: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 201, "{}", a.text);
            a.body["report_no"].as_str().unwrap().to_string()
        })
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 60, "duplicate report numbers");
    assert!(numbers.iter().all(|n| n.starts_with("CR-20261124-")));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
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
    reports_are_stored_and_verifiable,
    bad_requests_are_named,
    batches_feedback_and_restricted_records,
    rules_are_shown_and_reloaded_atomically,
    a_natural_person_is_checked_by_id_number,
    report_numbers_are_unique_across_instances,
);
