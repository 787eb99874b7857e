//! The console's checks and reports (API.md "Console and printed reports"): the check form and
//! its field errors, the report page and the API's stored report, the list of reports, the PDF
//! and its text, the public verify page, an objection filed from a finding, masked ID numbers,
//! the policy point shared with the API, and what every page owes a screen reader.

mod common;
mod console_support;

use common::*;
use console_support::*;
use serde_json::{json, Value};

on_both_backends!(
    a_check_from_the_console_is_the_apis_check,
    a_person_sees_what_their_role_may,
    a_profile_is_read_with_a_purpose,
    an_objection_is_filed_from_a_finding,
    the_public_verify_page_tells_only_what_it_may,
    id_numbers_are_masked_on_pages_and_in_the_pdf,
    pages_are_labelled_and_in_reading_order,
);

async fn a_check_from_the_console_is_the_apis_check(b: Backend) {
    let app = spawn_app(b).await;
    let c = listed_subject(&app).await;
    let mut p = signed_in_person(&app.base, &app.db_url, "ZWFW", "wu.jiu", "officer").await;
    let form = p.get("/console/checks/new").await;
    for name in ["uscc", "id_number", "scenario", "purpose", "reference"] {
        assert!(form.text.contains(&format!("name=\"{name}\"")), "{name}");
        assert!(
            form.text.contains(&format!("for=\"{name}\"")),
            "label for {name}"
        );
    }
    // Field errors next to their fields, as the API words them; what was typed is kept.
    let mut bad = c.clone();
    bad.pop();
    bad.push(if c.ends_with('0') { '1' } else { '0' });
    let r = p
        .check(&[
            ("uscc", &bad),
            ("scenario", "tendering"),
            ("purpose", "x"),
            ("reference", "ZB-7"),
        ])
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    for id in ["uscc-error", "purpose-error", "scenario-error"] {
        assert!(
            r.by_id(id).is_some_and(|m| !m.is_empty()),
            "{id}:\n{}",
            r.text
        );
    }
    assert_eq!(field_value(&r.text, "reference").as_deref(), Some("ZB-7"));
    // A good check: 303 to its page, which carries number and verdict for machines.
    let ok = p
        .check(&[
            ("uscc", &c),
            ("scenario", "procurement"),
            ("purpose", "政府采购资格审查"),
            ("reference", "ZFCG-2026-0457"),
        ])
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    let path = ok.location.clone().unwrap();
    let no = path.strip_prefix("/console/reports/").unwrap().to_string();
    let page = p.get(&path).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.attr("data-report-no").as_deref(), Some(no.as_str()));
    assert_eq!(page.attr("data-verdict").as_deref(), Some("prohibited"));
    assert!(page.text.contains("禁止"));
    assert!(page
        .text
        .contains("data-measure-id=\"procurement.dishonest_debtor\""));
    // The measure's legal bases, as the rule set words them.
    assert!(page.text.contains("财库〔2016〕125号"), "{}", page.text);
    assert!(page.text.contains("发改财金〔2016〕141号"));
    // The API reads the same stored report: the person's organisation asked it.
    let officer = app.key("ZWFW", "officer").await;
    let api = app
        .get(&format!("/api/v1/checks/{no}"), Some(&officer))
        .await;
    assert_eq!(api.status, 200, "{}", api.text);
    assert_eq!(api.body["requested_by"]["org_code"], "ZWFW");
    assert_eq!(api.body["requested_by"]["role"], "officer");
    assert!(page.text.contains(api.body["digest"].as_str().unwrap()));
    let runs = audit_actions(&app, "usr_", "check.run").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["reference"], "ZFCG-2026-0457");
    // The list finds it by code, by reference prefix and by day; another code finds nothing.
    for q in [
        format!("code={c}"),
        "reference=ZFCG-2026".to_string(),
        "from=2026-11-24&to=2026-11-24".to_string(),
    ] {
        let l = p.get(&format!("/console/reports?{q}")).await;
        assert_eq!(l.status, 200, "{q}");
        assert!(l.text.contains(&no), "{q}");
    }
    // Another code, another case, or LIKE's wildcards find nothing (on both databases).
    for q in [
        format!("code={}", code(8)),
        "reference=zfcg-2026".into(),
        "reference=ZFCG%25".into(),
        "reference=ZFCG_2026".into(),
    ] {
        let l = p.get(&format!("/console/reports?{q}")).await;
        assert_eq!(l.status, 200, "{q}");
        assert!(!l.text.contains(&no), "{q}");
    }
    let bad_day = p.get("/console/reports?from=24.11.2026").await;
    assert_eq!(bad_day.status, 422);
    assert!(bad_day.by_id("from-error").is_some());
    // The PDF: a PDF, with the number, the subject and the verdict in its text.
    let pdf = p.get(&format!("/console/reports/{no}.pdf")).await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    assert!(pdf.bytes.starts_with(b"%PDF"));
    let text = pdf_text(&pdf.bytes);
    for want in [no.as_str(), c.as_str(), "上海示例贸易有限公司", "禁止"] {
        assert!(text.contains(want), "{want} not in the PDF:\n{text}");
    }
    // The print view carries the same report without the buttons.
    let print = p.get(&format!("/console/reports/{no}/print")).await;
    assert_eq!(print.attr("data-report-no").as_deref(), Some(no.as_str()));
    assert!(!print.text.contains("对该记录提出异议"));
}

async fn a_person_sees_what_their_role_may(b: Backend) {
    let app = spawn_app(b).await;
    let c = listed_subject(&app).await;
    let mut officer =
        signed_in_person(&app.base, &app.db_url, "ZWFW", "zheng.shi", "officer").await;
    let ok = officer
        .check(&[
            ("uscc", &c),
            ("scenario", "procurement"),
            ("purpose", "政府采购资格审查"),
        ])
        .await;
    let path = ok.location.unwrap();
    // An officer of another organisation: the report is not there for them.
    let mut other = signed_in_person(&app.base, &app.db_url, "CZJ", "feng.yi", "officer").await;
    assert_eq!(other.get(&path).await.status, 404);
    assert_eq!(other.get(&format!("{path}.pdf")).await.status, 404);
    assert!(!other
        .get("/console/reports")
        .await
        .text
        .contains(&path[17..]));
    // An auditor reads every report but runs no check (the API's rule for the role).
    let mut auditor = signed_in_person(&app.base, &app.db_url, "AUDIT", "chen.er", "auditor").await;
    assert_eq!(auditor.get(&path).await.status, 200);
    // Every organisation's reports; no button to file an objection, no check in the menu.
    assert!(auditor
        .get("/console/reports")
        .await
        .text
        .contains(&path[17..]));
    let seen = auditor.get(&path).await;
    assert!(
        !seen.text.contains("/console/objections/new"),
        "{}",
        seen.text
    );
    assert!(!seen.text.contains("href=\"/console/checks/new\""));
    assert_eq!(auditor.get("/console/checks/new").await.status, 403);
    let refused = auditor
        .check(&[
            ("uscc", &c),
            ("scenario", "procurement"),
            ("purpose", "审计抽查"),
        ])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let denied = audit_actions(&app, "usr_", "check.run").await;
    assert!(
        denied.iter().any(|e| e["outcome"] == "denied"),
        "{denied:?}"
    );
}

async fn an_objection_is_filed_from_a_finding(b: Backend) {
    let app = spawn_app(b).await;
    let c = listed_subject(&app).await;
    let mut p = signed_in_person(&app.base, &app.db_url, "ZWFW", "qian.san", "officer").await;
    let (path, no) = p.procurement_report(&c).await;
    let page = p.get(&path).await;
    let link_at = page
        .text
        .find("/console/objections/new?record=")
        .expect("a file-objection link");
    let link = &page.text[link_at..];
    let link = link[..link.find('"').unwrap()].replace("&amp;", "&");
    let record_id = link
        .split("record=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let form = p.get(&link).await;
    assert_eq!(form.status, 200);
    assert_eq!(
        field_value(&form.text, "record_id").as_deref(),
        Some(record_id.as_str())
    );
    let token = form.csrf();
    // Too short grounds: the field says so, nothing is filed.
    let short = p
        .post(
            "/console/objections",
            &[
                ("csrf", &token),
                ("record_id", &record_id),
                ("report", &no),
                ("grounds", "错了"),
                ("filer_name", "区政务服务中心"),
            ],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(short.by_id("grounds-error").is_some(), "{}", short.text);
    let filed = p
        .post(
            "/console/objections",
            &[
                ("csrf", &token),
                ("record_id", &record_id),
                ("report", &no),
                ("grounds", "该失信被执行人名单记录已于上月移出，请核查"),
                ("filer_name", "区政务服务中心"),
                ("filer_contact", "010-12345678"),
            ],
        )
        .await;
    assert_eq!(filed.status, 303, "{}", filed.text);
    assert_eq!(filed.location.as_deref(), Some(path.as_str()));
    // The record is marked at once, in the API's profile and on the console's lists.
    let officer = app.key("ZWFW", "officer").await;
    let profile = app.subject(&officer, &c).await;
    assert_eq!(
        profile.body["records"][0]["under_objection"], true,
        "{}",
        profile.text
    );
    let list = p.get("/console/objections").await;
    assert!(list.text.contains(&record_id), "{}", list.text);
    assert!(list.text.contains("data-status=\"open\""));
    let again = p
        .check(&[
            ("uscc", &c),
            ("scenario", "procurement"),
            ("purpose", "政府采购资格审查"),
        ])
        .await;
    let fresh = p.get(again.location.as_deref().unwrap()).await;
    assert!(
        fresh.text.contains("data-under-objection=\"true\""),
        "{}",
        fresh.text
    );
}

async fn the_public_verify_page_tells_only_what_it_may(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            public_url: Some("https://credit.example.gov.cn".into()),
            ..Default::default()
        },
    )
    .await;
    let c = listed_subject(&app).await;
    let mut p = signed_in_person(&app.base, &app.db_url, "ZWFW", "li.wu", "officer").await;
    let (path, no) = p.procurement_report(&c).await;
    let page = p.get(&path).await;
    // The verify link on the page (and in the QR code) is under CREDITGATE_PUBLIC_URL.
    let prefix = format!("https://credit.example.gov.cn/verify/{no}?d=sha256:");
    let at = page.text.find(&prefix).expect("verify link");
    let digest = page.text[at + prefix.len() - 7..at + prefix.len() + 64].to_string();
    let anyone = reqwest::Client::new();
    let ask = |d: String, json: bool| {
        let mut r = anyone.get(format!("{}/verify/{no}?d={d}", app.base));
        if json {
            r = r.header("Accept", "application/json");
        }
        r.send()
    };
    let v: Value = ask(digest.clone(), true)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "issued_at",
            "issuer",
            "report_no",
            "scenario",
            "valid",
            "verdict"
        ]
    );
    assert_eq!(v["valid"], true);
    assert_eq!(v["verdict"], "prohibited");
    assert_eq!(v["scenario"], "procurement");
    assert_eq!(v["issuer"], "ZWFW");
    let html = ask(digest.clone(), false)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-valid=\"true\""));
    assert!(
        !html.contains(&c) && !html.contains("上海示例贸易"),
        "no subject: {html}"
    );
    let mut tampered = digest.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let v: Value = ask(tampered.clone(), true)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"valid": false, "report_no": no}));
    let html = ask(tampered, false).await.unwrap().text().await.unwrap();
    assert!(html.contains("data-valid=\"false\"") && html.contains("无效"));
    // An unknown number answers as a wrong digest does.
    let v = verify_json(&format!(
        "{}/verify/CR-20990101-000001?d={digest}",
        app.base
    ))
    .await;
    assert_eq!(v["valid"], false);
    // Limited per address: past 30 in a minute, 429 with Retry-After.
    let mut limited = None;
    for _ in 0..40 {
        let r = ask(digest.clone(), true).await.unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429 within 40 verifications");
    assert!(r.headers().contains_key("retry-after"));
}

async fn id_numbers_are_masked_on_pages_and_in_the_pdf(b: Backend) {
    let app = spawn_app(b).await;
    let court = app.key("FY", "provider").await;
    let person = json!({
        "source_record_id": "FY-P-9", "kind": "list_entry", "list_code": "court.dishonest_debtor",
        "subject": {"kind": "natural_person", "name": "李四", "id_number": "11010119800101007X"},
        "decision_date": "2026-01-05", "valid_from": "2026-01-05",
        "sharing_class": "unconditional", "open_class": "open"
    });
    assert_eq!(app.batch(&court, vec![person]).await.status, 200);
    let mut p = signed_in_person(&app.base, &app.db_url, "ZWFW", "he.qi", "officer").await;
    let ok = p
        .check(&[
            ("id_number", "11010119800101007X"),
            ("name", "李四"),
            ("scenario", "subsidy"),
            ("purpose", "创业补贴审核"),
        ])
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    let path = ok.location.unwrap();
    let page = p.get(&path).await;
    assert_eq!(page.attr("data-verdict").as_deref(), Some("restricted"));
    assert!(page.text.contains("110101********007X"));
    let pdf = p.get(&format!("{path}.pdf")).await;
    let text = pdf_text(&pdf.bytes);
    assert!(text.contains("110101********007X"), "{text}");
    // Searched with the form (a POST): the number is in no URL, and not echoed.
    let in_url = p.get("/console/reports?code=11010119800101007X").await;
    assert_eq!(in_url.status, 422);
    assert!(in_url.by_id("code-error").is_some());
    let token = p.token().await;
    let list = p
        .post(
            "/console/reports",
            &[("csrf", &token), ("code", "11010119800101007X")],
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.text.contains(path.rsplit('/').next().unwrap()));
    // The form that failed does not send the number back; no page, no PDF holds it in full.
    let bad = p
        .check(&[
            ("id_number", "11010119800101007X"),
            ("scenario", "subsidy"),
            ("purpose", "x"),
        ])
        .await;
    assert_eq!(bad.status, 422);
    for (what, text) in [
        ("page", &page.text),
        ("pdf", &text),
        ("list", &list.text),
        ("form", &bad.text),
        ("refusal", &in_url.text),
    ] {
        assert!(
            !text.contains("11010119800101007"),
            "full ID number in the {what}"
        );
    }
}

async fn pages_are_labelled_and_in_reading_order(b: Backend) {
    let app = spawn_app(b).await;
    let c = listed_subject(&app).await;
    let mut anon = Browser::new(&app.base);
    assert_accessible("sign-in", &anon.get("/console/").await.text);
    let mut p = signed_in_person(&app.base, &app.db_url, "ZWFW", "lin.yi", "officer").await;
    let ok = p
        .check(&[
            ("uscc", &c),
            ("scenario", "procurement"),
            ("purpose", "政府采购资格审查"),
        ])
        .await;
    let report = ok.location.unwrap();
    // Focus follows the page: the check form's fields come in the order a person fills them.
    let form = p.get("/console/checks/new").await;
    let at = |name: &str| {
        form.text
            .find(&format!("name=\"{name}\""))
            .unwrap_or_else(|| panic!("{name}"))
    };
    let order = [
        "uscc",
        "id_number",
        "name",
        "scenario",
        "purpose",
        "reference",
        "as_of",
    ];
    for w in order.windows(2) {
        assert!(at(w[0]) < at(w[1]), "{} before {}", w[0], w[1]);
    }
    let bad = p.check(&[("uscc", "123"), ("purpose", "x")]).await;
    assert_eq!(bad.status, 422);
    assert_accessible("check form with errors", &bad.text);
    assert!(bad.text.contains(r#"role="alert""#));
    for path in [
        "/console/",
        "/console/password",
        "/console/checks/new",
        report.as_str(),
        &format!("{report}/print"),
        "/console/reports",
        &format!("/console/subjects?uscc={c}"),
        "/console/objections",
        "/console/objections/new?record=rec_1",
    ] {
        let page = p.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        if path.ends_with("/print") {
            assert!(!page.text.contains("<script"));
            continue;
        }
        assert_accessible(path, &page.text);
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
    }
}

async fn a_profile_is_read_with_a_purpose(b: Backend) {
    let app = spawn_app(b).await;
    let c = listed_subject(&app).await;
    let mut p = signed_in_person(&app.base, &app.db_url, "ZWFW", "tang.ba", "officer").await;
    // A link fills the code in; nothing is read until the form is sent with a purpose.
    let form = p.get(&format!("/console/subjects?uscc={c}")).await;
    assert_eq!(field_value(&form.text, "uscc").as_deref(), Some(c.as_str()));
    assert!(!form.text.contains("data-record-id"));
    let token = form.csrf();
    let none = p
        .post(
            "/console/subjects",
            &[("csrf", &token), ("uscc", &c), ("purpose", "x")],
        )
        .await;
    assert_eq!(none.status, 422);
    assert!(none.by_id("purpose-error").is_some());
    let shown = p
        .post(
            "/console/subjects",
            &[("csrf", &token), ("uscc", &c), ("purpose", "资格审查")],
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert!(shown.text.contains("data-record-id"));
    assert!(shown.text.contains("court.dishonest_debtor"));
    assert!(shown.text.contains("(2025)京01执123号"));
    let reads = audit_actions(&app, "usr_", "profile.read").await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0]["purpose"], "资格审查");
    // An ID number typed into the code field: said so, not shown again, not read.
    let id = p
        .post(
            "/console/subjects",
            &[
                ("csrf", &token),
                ("uscc", "11010119800101007X"),
                ("purpose", "资格审查"),
            ],
        )
        .await;
    assert_eq!(id.status, 422);
    assert!(id.by_id("uscc-error").is_some());
    assert!(!id.text.contains("11010119800101007"));
}
