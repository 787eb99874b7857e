//! The HTTP contract of API.md, through the real application, on SQLite and on PostgreSQL.

mod common;

use common::*;
use serde_json::{json, Value};

const CODE_A: &str = "91110000MA00000152";
const CODE_B: &str = "91420100MA0000015F";
const CODE_C: &str = "914201001234567883";

async fn service_endpoints_answer(b: Backend) {
    let app = spawn_app(b).await;
    let h = app.get("/healthz", None).await;
    assert_eq!(h.status, 200);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "ready", "{}", r.text);
    assert_eq!(r.body["database"]["status"], "ok");
    let expected_backend = match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(r.body["database"]["kind"], expected_backend);
    assert_eq!(r.body["cache"]["kind"], "memory");

    let spec = app.get("/openapi.json", None).await;
    assert_eq!(spec.status, 200);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(spec.body["paths"]["/api/v1/records/batch"]["post"].is_object());

    // The docs page and its assets come from this server only (government networks are closed).
    let docs = app.get("/docs/", None).await;
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("swagger"), "{}", docs.text);
    for marker in ["src=\"http", "href=\"http", "cdn", "unpkg"] {
        assert!(
            !docs.text.contains(marker),
            "docs page refers to another host: {marker}"
        );
    }
    // Swagger UI's validator badge would send the document to validator.swagger.io.
    let init = app.get("/docs/swagger-initializer.js", None).await;
    assert_eq!(init.status, 200);
    assert!(
        init.text.contains("\"validatorUrl\": \"none\"")
            || init.text.contains("\"validatorUrl\":\"none\""),
        "{}",
        init.text
    );

    let m = app.get("/metrics", None).await;
    assert_eq!(m.status, 200);
    assert!(
        m.text.contains("creditgate_http_requests_total"),
        "{}",
        m.text
    );
    assert!(m.text.contains("route=\"/readyz\""));

    let missing = app.get("/api/v1/nothing-here", Some(&app.admin_key)).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type, "application/problem+json");
}

async fn keys_are_required_and_roles_enforced(b: Backend) {
    let app = spawn_app(b).await;
    let none = app.batch_without_key().await;
    assert_eq!(none.status, 401);
    assert_eq!(none.content_type, "application/problem+json");
    assert_eq!(none.body["code"], "unauthorized");

    let unknown = app.subject("cg_not_a_key", CODE_A).await;
    assert_eq!(unknown.status, 401);

    let officer = app.key("ZWFW", "officer").await;
    let denied = app.batch(&officer, vec![penalty("X-1", CODE_A)]).await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert!(denied.body["detail"].as_str().unwrap().contains("provider"));

    let partner = app.key("BANK", "partner").await;
    let p = app.subject(&partner, CODE_A).await;
    assert_eq!(p.status, 403);
}

async fn bad_check_character_rejects_only_that_item(b: Backend) {
    let app = spawn_app(b).await;
    let provider = app.key("SCJG", "provider").await;
    let mut bad = penalty("SCJG-2", CODE_B);
    bad["subject"]["uscc"] = json!("91420100MA00000153");
    let r = app
        .batch(
            &provider,
            vec![penalty("SCJG-1", CODE_A), bad, penalty("SCJG-3", CODE_C)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(statuses(&r.body), ["created", "rejected", "created"]);
    assert_eq!(
        r.body["summary"],
        json!({"created": 2, "updated": 0, "unchanged": 0, "rejected": 1})
    );
    let err = &r.body["results"][1]["errors"][0];
    assert_eq!(err["field"], "subject.uscc");
    assert_eq!(err["code"], "uscc_check_digit");
    assert_eq!(err["message"], "check character should be 'F', found '3'");
    assert_eq!(r.body["results"][1]["index"], 1);
    assert!(r.body["results"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("rec_"));

    let officer = app.key("ZWFW", "officer").await;
    assert_eq!(app.subject(&officer, CODE_A).await.status, 200);
    assert_eq!(app.subject(&officer, CODE_C).await.status, 200);
    // Nothing of the rejected item was written: not even its subject.
    assert_eq!(
        app.subject(&officer, "91420100MA0000015F").await.status,
        404
    );
}

async fn versions_decide_replacement(b: Backend) {
    let app = spawn_app(b).await;
    let provider = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let first = app.batch(&provider, vec![penalty("V-1", CODE_A)]).await;
    assert_eq!(statuses(&first.body), ["created"]);
    let id = first.body["results"][0]["id"].as_str().unwrap().to_string();

    let again = app.batch(&provider, vec![penalty("V-1", CODE_A)]).await;
    assert_eq!(statuses(&again.body), ["unchanged"]);
    assert_eq!(again.body["results"][0]["id"], id.as_str());

    let mut v2 = penalty("V-1", CODE_A);
    v2["version"] = json!(2);
    v2["fine_amount"] = json!(3000000);
    let upd = app.batch(&provider, vec![v2]).await;
    assert_eq!(statuses(&upd.body), ["updated"]);
    assert_eq!(upd.body["results"][0]["id"], id.as_str());

    let mut stale = penalty("V-1", CODE_A);
    stale["fine_amount"] = json!("100.00");
    let s = app.batch(&provider, vec![stale]).await;
    assert_eq!(statuses(&s.body), ["rejected"]);
    assert_eq!(s.body["results"][0]["errors"][0]["code"], "stale_version");
    assert_eq!(s.body["results"][0]["errors"][0]["field"], "version");

    let rec = app
        .get(
            &format!("/api/v1/records/{id}?purpose=核查"),
            Some(&officer),
        )
        .await;
    assert_eq!(rec.status, 200, "{}", rec.text);
    assert_eq!(rec.body["version"], 2);
    assert_eq!(rec.body["fine_amount"], "3000000.00");
    assert_eq!(rec.body["subject"]["uscc"], CODE_A);

    // The earlier version is kept in the history.
    let versions = app.versions(&id).await;
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    let v1: Value = serde_json::from_str(&versions[0].content).unwrap();
    assert_eq!(v1["fine_amount"], "2500000.00");
}

async fn malformed_and_oversized_bodies(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            max_body_bytes: Some(64 * 1024),
            ..Options::default()
        },
    )
    .await;
    let provider = app.key("SCJG", "provider").await;
    let bad = app
        .post_raw(
            "/api/v1/records/batch",
            Some(&provider),
            b"{\"records\": [".to_vec(),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.content_type, "application/problem+json");
    assert_eq!(bad.body["code"], "malformed_json");

    let shape = app
        .post(
            "/api/v1/records/batch",
            Some(&provider),
            &json!({"records": "x"}),
        )
        .await;
    assert_eq!(shape.status, 422);
    assert_eq!(shape.body["errors"][0]["field"], "records");

    let empty = app.batch(&provider, vec![]).await;
    assert_eq!(empty.status, 422);

    let too_many: Vec<Value> = (0..1001).map(|i| json!({"source_record_id": i})).collect();
    let many = app.batch(&provider, too_many).await;
    assert_eq!(many.status, 413);

    let big = vec![b' '; 70 * 1024];
    let huge = app
        .post_raw("/api/v1/records/batch", Some(&provider), big)
        .await;
    assert_eq!(huge.status, 413);
    assert_eq!(huge.content_type, "application/problem+json");
}

async fn item_errors_name_fields(b: Backend) {
    let app = spawn_app(b).await;
    let provider = app.key("SCJG", "provider").await;
    let mut typo = penalty("E-1", CODE_A);
    typo["fine_ammount"] = json!("1");
    let mut wrong_type = penalty("E-2", CODE_A);
    wrong_type["version"] = json!("two");
    let mut unknown_list = list_entry("E-3", CODE_A, "court.dishonest_debtor");
    unknown_list["list_code"] = json!("no.such_list");
    let mut no_fine = penalty("E-4", CODE_A);
    no_fine["fine_amount"] = json!("12.345");
    let mut other_source = penalty("E-5", CODE_A);
    other_source["source_code"] = json!("SW");
    let mut bad_id = penalty("E-6", CODE_A);
    bad_id["subject"]["legal_rep"]["id_number"] = json!("110101199003070012");
    // Versions past the bound (i64::MAX would overflow the next version), and none below 1.
    let mut huge = penalty("E-8", CODE_A);
    huge["version"] = json!(i64::MAX);
    let mut zero = penalty("E-9", CODE_A);
    zero["version"] = json!(0);
    let r = app
        .batch(
            &provider,
            vec![
                typo,
                wrong_type,
                unknown_list,
                no_fine,
                other_source,
                bad_id,
                huge,
                zero,
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let errs: Vec<(String, String)> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["errors"][0]["field"].as_str().unwrap().to_string(),
                x["errors"][0]["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errs,
        [
            ("fine_ammount".to_string(), "unknown_field".to_string()),
            ("version".into(), "invalid_type".into()),
            ("list_code".into(), "unknown_list_code".into()),
            ("fine_amount".into(), "invalid_amount".into()),
            ("source_code".into(), "source_code_forbidden".into()),
            (
                "subject.legal_rep.id_number".into(),
                "id_number_check_digit".into()
            ),
            ("version".into(), "out_of_range".into()),
            ("version".into(), "out_of_range".into()),
        ]
    );
    assert!(r.body["results"][0]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("fine_ammount"));
    // An admin may file under another source.
    let mut as_admin = penalty("E-7", CODE_A);
    as_admin["source_code"] = json!("SW");
    let a = app.batch(&app.admin_key, vec![as_admin]).await;
    assert_eq!(statuses(&a.body), ["created"]);
}

async fn profile_masks_and_filters(b: Backend) {
    let app = spawn_app(b).await;
    let court = app.key("FY", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let mut hidden = penalty("C-2", CODE_A);
    hidden["sharing_class"] = json!("conditional");
    let r = app
        .batch(
            &court,
            vec![
                list_entry("C-1", CODE_A, "court.dishonest_debtor"),
                penalty("C-3", CODE_A),
                hidden,
            ],
        )
        .await;
    assert_eq!(statuses(&r.body), ["created", "created", "created"]);
    let hidden_id = r.body["results"][2]["id"].as_str().unwrap().to_string();

    let p = app.subject(&officer, CODE_A).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["subject"]["uscc"], CODE_A);
    // The court is not the registration authority: its records name a legal representative
    // (shown masked) without making them the subject's (privacy.rs has the subject's, masked).
    assert!(p.body["subject"]["legal_rep"].is_null(), "{}", p.text);
    let penalty_rec = p.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "penalty")
        .unwrap();
    assert_eq!(penalty_rec["legal_rep"]["id_number"], "110101********0011");
    assert!(
        !p.text.contains("110101199003070011"),
        "full ID number in answer"
    );
    assert_eq!(p.body["records"].as_array().unwrap().len(), 2);
    assert_eq!(
        p.body["summary"]["by_kind"],
        json!({"list_entry": 1, "penalty": 1})
    );
    assert_eq!(
        p.body["summary"]["active_lists"],
        json!(["court.dishonest_debtor"])
    );
    assert_eq!(p.body["summary"]["restricted_records"], 1);
    assert_clock_time(&p.body["as_of"]);
    assert_eq!(p.body["records"][0]["under_objection"], false);
    assert_eq!(p.body["records"][0]["source_code"], "FY");

    // The conditional record: its provider sees it, an officer does not.
    let path = format!("/api/v1/records/{hidden_id}?purpose=核查");
    assert_eq!(app.get(&path, Some(&officer)).await.status, 404);
    assert_eq!(app.get(&path, Some(&court)).await.status, 200);
    assert_eq!(
        app.subject(&court, CODE_A).await.body["records"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let invalid = app.subject(&officer, "91110000MA00000153").await;
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.body["errors"][0]["code"], "uscc_check_digit");
    assert_eq!(app.subject(&officer, CODE_C).await.status, 404);
    let no_purpose = app
        .get(&format!("/api/v1/subjects/{CODE_A}"), Some(&officer))
        .await;
    assert_eq!(no_purpose.status, 422);
    assert_eq!(no_purpose.body["errors"][0]["field"], "purpose");
    let lower = app.subject(&officer, &CODE_A.to_lowercase()).await;
    assert_eq!(lower.status, 200);
}

async fn ended_list_entries_are_not_active(b: Backend) {
    let app = spawn_app(b).await;
    let p = app.key("CZ", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let mut ended = list_entry("L-1", CODE_A, "procurement.serious_dishonesty");
    ended["valid_to"] = json!("2026-11-23");
    let mut running = list_entry("L-2", CODE_A, "tax.major_violation");
    running["valid_to"] = json!("2026-11-24");
    let mut revoked = list_entry("L-3", CODE_A, "labor.wage_arrears");
    revoked["status"] = json!("revoked");
    let r = app.batch(&p, vec![ended, running, revoked]).await;
    assert_eq!(
        statuses(&r.body),
        ["created", "created", "created"],
        "{}",
        r.text
    );
    let prof = app.subject(&officer, CODE_A).await;
    assert_eq!(
        prof.body["summary"]["active_lists"],
        json!(["tax.major_violation"])
    );
}

/// One batch that names one record several times: each item is decided after the ones before
/// it, as if they had come one by one (API.md "Records": unchanged, newer replaces, stale).
async fn items_of_one_batch_see_the_ones_before(b: Backend) {
    let app = spawn_app(b).await;
    let provider = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let mut v2 = penalty("SEQ-1", CODE_A);
    v2["version"] = json!(2);
    v2["fine_amount"] = json!("3000000.00");
    let mut late_v1 = penalty("SEQ-1", CODE_A);
    late_v1["fine_amount"] = json!("1.00");
    let r = app
        .batch(
            &provider,
            vec![
                penalty("SEQ-1", CODE_A),
                penalty("SEQ-1", CODE_A),
                v2.clone(),
                late_v1,
                v2,
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        statuses(&r.body),
        ["created", "unchanged", "updated", "rejected", "unchanged"]
    );
    let id = r.body["results"][0]["id"].as_str().unwrap();
    for i in [1, 2, 4] {
        assert_eq!(r.body["results"][i]["id"], id, "{}", r.text);
    }
    let stale = &r.body["results"][3]["errors"][0];
    assert_eq!(stale["code"], "stale_version");
    assert!(stale["message"]
        .as_str()
        .unwrap()
        .contains("stored version 2"));
    let rec = app
        .get(
            &format!("/api/v1/records/{id}?purpose=核查"),
            Some(&officer),
        )
        .await;
    assert_eq!(rec.body["version"], 2, "{}", rec.text);
    assert_eq!(rec.body["fine_amount"], "3000000.00");
    let versions = app.versions(id).await;
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
}

async fn concurrent_batches_about_the_same_subjects(b: Backend) {
    let app = spawn_app(b).await;
    let provider = app.key("SCJG", "provider").await;
    let codes = [CODE_A, CODE_B, CODE_C];
    let batches = (0..6).map(|k| {
        let records: Vec<Value> = (0..30)
            .map(|i| penalty(&format!("CC-{k}-{i}"), codes[i % codes.len()]))
            .collect();
        app.batch(&provider, records)
    });
    // The same records twice at once as well: one creates, the other finds them unchanged.
    let same = (0..2).map(|_| app.batch(&provider, vec![penalty("CC-same", CODE_A)]));
    let answers = futures_util::future::join_all(batches.chain(same)).await;
    let mut created = 0;
    let mut unchanged = 0;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["summary"]["rejected"], 0, "{}", a.text);
        created += a.body["summary"]["created"].as_u64().unwrap();
        unchanged += a.body["summary"]["unchanged"].as_u64().unwrap();
    }
    assert_eq!((created, unchanged), (181, 1));
    let officer = app.key("ZWFW", "officer").await;
    let p = app.subject(&officer, CODE_A).await;
    assert_eq!(p.body["records"].as_array().unwrap().len(), 61);
}

trait NoKey {
    async fn batch_without_key(&self) -> Answer;
}

impl NoKey for TestApp {
    async fn batch_without_key(&self) -> Answer {
        self.post(
            "/api/v1/records/batch",
            None,
            &json!({"records": [penalty("A", CODE_A)]}),
        )
        .await
    }
}

/// Unknown keys cost a hash and a database query each: an address that sends too many in a
/// minute is refused before any lookup, while keys that worked go on working from it.
async fn unknown_keys_are_limited_by_address(b: Backend) {
    let app = spawn_app(b).await;
    let known = app.key("ZWFW", "officer").await;
    assert_eq!(app.get("/api/v1/rules", Some(&known)).await.status, 200);
    let mut statuses = Vec::new();
    for i in 0..35 {
        let r = app
            .get("/api/v1/rules", Some(&format!("cg_guess_{i:040}")))
            .await;
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..30], &[401; 30][..], "{statuses:?}");
    assert_eq!(&statuses[30..], &[429; 5][..], "{statuses:?}");
    let refused = app.get("/api/v1/rules", Some("cg_guess_again")).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["code"], "rate_limited", "{}", refused.text);
    assert_eq!(app.get("/api/v1/rules", Some(&known)).await.status, 200);
    // A key that has not worked from anywhere yet waits like the guesses.
    let fresh = app.key("ZFCG", "system").await;
    assert_eq!(app.get("/api/v1/rules", Some(&fresh)).await.status, 429);
}

/// Readiness is worked out at most once a second, however many ask: within the second a
/// change (Redis cut off) is not seen yet; after it, it is.
async fn readiness_is_shared_for_a_second(b: Backend) {
    let proxy = CutProxy::start("127.0.0.1:6379").await;
    let app = spawn_app_with(
        b,
        Options {
            redis: Some(format!("redis://127.0.0.1:{}", proxy.port)),
            ..Options::default()
        },
    )
    .await;
    let first = app.get("/readyz", None).await;
    assert_eq!(first.body["cache"]["status"], "ok", "{}", first.text);
    proxy.cut();
    let answers = futures_util::future::join_all((0..20).map(|_| app.get("/readyz", None))).await;
    assert!(
        answers.iter().all(|a| a.body == first.body),
        "the same answer within the second"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later = app.get("/readyz", None).await;
    assert_eq!(later.body["cache"]["status"], "degraded", "{}", later.text);
}

on_both_backends!(
    unknown_keys_are_limited_by_address,
    readiness_is_shared_for_a_second,
    service_endpoints_answer,
    keys_are_required_and_roles_enforced,
    bad_check_character_rejects_only_that_item,
    versions_decide_replacement,
    malformed_and_oversized_bodies,
    item_errors_name_fields,
    profile_masks_and_filters,
    ended_list_entries_are_not_active,
    concurrent_batches_about_the_same_subjects,
    items_of_one_batch_see_the_ones_before,
);
