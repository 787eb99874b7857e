//! Check reports through the real app on both backends: stored and verifiable, numbered
//! uniquely across instances; bad requests named; batches, feedback and restricted records; the
//! rules shown and reloaded atomically.

mod common;

use common::*;
use serde_json::{json, Value};

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
    // Read again, a report adds what changed since in its records: nothing yet.
    let mut stored = again.body.clone();
    let later = stored.as_object_mut().unwrap().remove("later_changes");
    assert_eq!(later, Some(serde_json::json!([])), "{}", again.text);
    assert_eq!(stored, rep.body, "the stored report is the answer as given");
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
    // What is no digest at all is said so (the document says sha256: and 64 hex digits).
    let malformed = app
        .get(
            &format!("/api/v1/checks/{no}/verify?digest=null"),
            Some(&other),
        )
        .await;
    assert_eq!(malformed.status, 422, "{}", malformed.text);
    assert_eq!(malformed.body["errors"][0]["code"], "invalid_digest");
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
    future["as_of"] = json!("2028-01-01");
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

on_both_backends!(
    reports_are_stored_and_verifiable,
    bad_requests_are_named,
    batches_feedback_and_restricted_records,
    rules_are_shown_and_reloaded_atomically,
    report_numbers_are_unique_across_instances,
);
