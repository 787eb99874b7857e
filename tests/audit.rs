//! The access log: reads and changes leave entries; auditors read and export them; the chain
//! names every edited, deleted, inserted or reordered entry (`creditgate audit verify`).

mod common;

use std::process::Command;

use common::*;
use diesel::RunQueryDsl;
use serde_json::{json, Value};

fn cli(db: &TestDb, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_creditgate"))
        .args(args)
        .env("CREDITGATE_DATABASE_URL", &db.url)
        .env(
            "CREDITGATE_RULES_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
        )
        .env("CREDITGATE_DATA_KEY", TEST_DATA_KEY)
        .env("CREDITGATE_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn sql(db: &TestDb, statement: &str) {
    let pool = creditgate::store::connect(&db.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    diesel::sql_query(statement).execute(&mut *conn).unwrap();
}

async fn entries(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/audit/entries?{query}"), Some(key))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["entries"].as_array().unwrap().clone()
}

async fn reads_and_changes_are_logged_and_exported(b: Backend) {
    let app = spawn_app(b).await;
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let partner = app.key("BANK", "partner").await;
    let auditor = app.key("SJJ", "auditor").await;
    let c = code(1);
    let sub = app.batch(&scjg, vec![penalty("CF-1", &c)]).await;
    let record_id = sub.body["results"][0]["id"].as_str().unwrap().to_string();
    app.subject(&officer, &c).await;
    assert_eq!(app.subject(&partner, &c).await.status, 403);
    let rep = app
        .post("/api/v1/checks", Some(&officer), &json!({"scenario": "procurement", "subject": {"uscc": c}, "purpose": "资格审查", "reference": "ZFCG-1"}))
        .await;
    let report_no = rep.body["report_no"].as_str().unwrap().to_string();

    assert_eq!(
        app.get("/api/v1/audit/entries", Some(&officer))
            .await
            .status,
        403
    );
    let all = entries(&app, &auditor, "limit=500").await;
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "records.submit",
            "profile.read",
            "profile.read",
            "check.run",
            // The officer's refused read of the log: refusals are logged too.
            "audit.read"
        ],
        "{all:#?}"
    );
    assert_eq!(all[4]["outcome"], "denied");
    assert_eq!(all[4]["org_code"], "ZWFW");
    assert!(
        all[4]["detail"]["reason"]
            .as_str()
            .unwrap()
            .contains("officer"),
        "{:#}",
        all[4]
    );
    assert_eq!(all[0]["records"], json!([record_id]));
    assert_eq!(all[0]["org_code"], "SCJG");
    let read = &all[1];
    assert_eq!(read["role"], "officer");
    assert_eq!(read["purpose"], "资格审查");
    assert_eq!(read["subject_key"], format!("uscc:{c}"));
    assert_eq!(read["records"], json!([record_id]));
    assert_eq!(read["outcome"], "ok");
    assert_eq!(all[2]["outcome"], "denied");
    assert_eq!(all[2]["org_code"], "BANK");
    assert_eq!(all[3]["detail"]["report_no"], report_no.as_str());
    assert_eq!(all[3]["reference"], "ZFCG-1");

    let only = entries(&app, &auditor, "action=profile.read&org=ZWFW").await;
    assert_eq!(only.len(), 1);
    let by_subject = entries(&app, &auditor, &format!("uscc={c}")).await;
    assert_eq!(by_subject.len(), 3);
    let page = app
        .get("/api/v1/audit/entries?limit=2", Some(&auditor))
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    let rest = entries(&app, &auditor, &format!("limit=500&cursor={cursor}")).await;
    assert!(rest.len() >= 2 && rest[0]["id"] != page.body["entries"][0]["id"]);
    assert_eq!(
        app.get("/api/v1/audit/entries?from=yesterday", Some(&auditor))
            .await
            .status,
        422
    );

    let csv = app
        .get(
            "/api/v1/audit/entries?format=csv&action=check.run",
            Some(&auditor),
        )
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.content_type.starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert!(
        lines[0].contains("id,at,key_id,org_code,role,action"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 2, "{}", csv.text);
    assert!(lines[1].contains("check.run") && lines[1].contains("ZFCG-1"));
    // Reading the log is logged too.
    let reads = entries(&app, &auditor, "action=audit.read&limit=500").await;
    assert!(reads.len() >= 5);
}

/// A database with a sealed chain of a dozen entries, and its entries in chain order.
async fn sealed_log(b: Backend) -> (TestDb, Vec<(String, i64)>) {
    let db = TestDb::new(b);
    {
        let app = spawn_on(&db).await;
        let scjg = app.key("SCJG", "provider").await;
        let officer = app.key("ZWFW", "officer").await;
        for i in 0..4 {
            let c = code(i);
            app.batch(&scjg, vec![penalty(&format!("CF-{i}"), &c)])
                .await;
            app.subject(&officer, &c).await;
            app.subject(&officer, &c).await;
        }
    }
    let (ok, out) = cli(&db, &["audit", "seal"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&db, &["audit", "verify"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("12 sealed entries") && out.contains("0 breaks"),
        "{out}"
    );
    let pool = creditgate::store::connect(&db.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let rows = creditgate::store::audit::sealed_after(&mut conn, 0, 100).unwrap();
    let order = rows.into_iter().map(|r| (r.id, r.seq.unwrap())).collect();
    (db, order)
}

async fn an_edited_entry_is_named(b: Backend) {
    let (db, order) = sealed_log(b).await;
    let (id, seq) = &order[4];
    sql(
        &db,
        &format!("UPDATE access_log SET purpose = '随便看看' WHERE id = '{id}'"),
    );
    let (ok, out) = cli(&db, &["audit", "verify"]);
    assert!(!ok);
    assert!(
        out.contains(&format!("entry {id} (seq {seq}) was edited")),
        "{out}"
    );
}

async fn a_deleted_entry_is_named(b: Backend) {
    let (db, order) = sealed_log(b).await;
    let (id, seq) = &order[6];
    sql(&db, &format!("DELETE FROM access_log WHERE id = '{id}'"));
    let (ok, out) = cli(&db, &["audit", "verify"]);
    assert!(!ok);
    assert!(
        out.contains(&format!("entry seq {seq} is missing (deleted)")),
        "{out}"
    );
}

async fn an_inserted_entry_is_named(b: Backend) {
    let (db, order) = sealed_log(b).await;
    // A forged entry squeezed in between seq 3 and 4: the later entries are moved up by one.
    let (_, seq) = &order[3];
    sql(
        &db,
        &format!("UPDATE access_log SET seq = seq + 1000 WHERE seq > {seq}"),
    );
    sql(
        &db,
        "UPDATE access_log SET seq = seq - 999 WHERE seq > 1000",
    );
    let forged = "acc_01FORGEDFORGEDFORGEDFORGED";
    let prev = "0".repeat(64);
    sql(
        &db,
        &format!(
            "INSERT INTO access_log (id, at, key_id, org_code, role, action, records, outcome, entry_hash, seq, prev_hash, chain_hash, sealed_at) \
             VALUES ('{forged}', '2026-11-24 08:30:00', 'key_x', 'ZWFW', 'officer', 'profile.read', '[]', 'ok', '{prev}', {}, '{prev}', '{prev}', '2026-11-24 08:30:00')",
            seq + 1
        ),
    );
    let (ok, out) = cli(&db, &["audit", "verify"]);
    assert!(!ok);
    assert!(
        out.contains(&format!("entry {forged} (seq {})", seq + 1)),
        "{out}"
    );
}

async fn reordered_entries_are_named(b: Backend) {
    let (db, order) = sealed_log(b).await;
    let (a, sa) = &order[2];
    let (c, sc) = &order[3];
    sql(
        &db,
        &format!("UPDATE access_log SET seq = -1 WHERE id = '{a}'"),
    );
    sql(
        &db,
        &format!("UPDATE access_log SET seq = {sa} WHERE id = '{c}'"),
    );
    sql(
        &db,
        &format!("UPDATE access_log SET seq = {sc} WHERE id = '{a}'"),
    );
    let (ok, out) = cli(&db, &["audit", "verify"]);
    assert!(!ok);
    assert!(out.contains(&format!("entry {c} (seq {sa})")), "{out}");
    assert!(out.contains(&format!("entry {a} (seq {sc})")), "{out}");
}

/// Cells a spreadsheet would run as formulas are exported as text (OWASP CSV injection): the
/// purpose and reference are the caller's own words.
async fn exported_cells_never_start_a_formula(b: Backend) {
    let app = spawn_app(b).await;
    let officer = app.key("ZWFW", "officer").await;
    let auditor = app.key("SJJ", "auditor").await;
    let c = code(7);
    let hostile = [
        ("=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1"),
        ("@SUM(A1:A9)", "-2-3"),
        ("审查 =1", "\t=cmd|' /C calc'!A0"),
    ];
    for (purpose, reference) in hostile {
        let r = app
            .post(
                "/api/v1/checks",
                Some(&officer),
                &json!({"scenario": "market_entry", "subject": {"uscc": c},
                        "purpose": purpose, "reference": reference}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let csv = app
        .get(
            "/api/v1/audit/entries?format=csv&action=check.run",
            Some(&auditor),
        )
        .await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    let body = csv.text.trim_start_matches('\u{feff}');
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3, "{body}");
    for row in &rows {
        for cell in row.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} would run as a formula: {body}"
            );
        }
    }
    // The text itself is kept, behind the quote mark.
    let cells: Vec<(&str, &str)> = rows.iter().map(|r| (&r[8], &r[9])).collect();
    assert!(
        cells.contains(&("'=HYPERLINK(\"http://evil.example\",\"x\")", "'+1+1")),
        "{cells:?}"
    );
    assert!(cells.contains(&("'@SUM(A1:A9)", "'-2-3")), "{cells:?}");
    assert!(
        cells
            .iter()
            .any(|(p, r)| *p == "审查 =1" && r.starts_with("'")),
        "{cells:?}"
    );
}

/// A cut-off tail leaves a chain that is whole: only a checkpoint kept outside the database
/// finds it. A tail replaced by other entries (what someone holding the key, or the sealer
/// itself after a deletion, makes) is whole too: the checkpoint's hash finds it. A checkpoint
/// edited by hand is not believed.
async fn checkpoints_find_a_cut_off_or_replaced_tail(b: Backend) {
    let (db, _) = sealed_log(b).await;
    let dir = tempfile::tempdir().unwrap();
    let dir_s = dir.path().to_str().unwrap().to_string();
    let (ok, out) = cli(&db, &["audit", "checkpoint", &dir_s]);
    assert!(ok && out.contains("checkpoint of seq 12"), "{out}");
    let file = dir.path().join("checkpoint-000000000012.json");
    assert!(file.exists(), "{out}");
    let (ok, out) = cli(&db, &["audit", "verify", "--checkpoints", &dir_s]);
    assert!(ok, "{out}");
    assert!(
        out.contains("0 breaks") && out.contains("checked against 1 checkpoints"),
        "{out}"
    );
    // The last three entries deleted: the chain alone is whole.
    sql(&db, "DELETE FROM access_log WHERE seq > 9");
    let (ok, out) = cli(&db, &["audit", "verify"]);
    assert!(ok && out.contains("9 sealed entries"), "{out}");
    let (ok, out) = cli(&db, &["audit", "verify", "--checkpoints", &dir_s]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("the chain ends at seq 9, but checkpoint checkpoint-000000000012.json")
            && out.contains("entries after seq 9 were cut off"),
        "{out}"
    );
    // Other entries sealed in their place: seq 10 to 14, the chain is whole, but
    // not the one the checkpoint saw.
    {
        let app = spawn_on(&db).await;
        let officer = app.key("ZWFW", "officer").await;
        for i in 0..5 {
            app.subject(&officer, &code(i % 4)).await;
        }
    }
    let (ok, out) = cli(&db, &["audit", "seal"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&db, &["audit", "verify"]);
    assert!(ok && out.contains("0 breaks"), "{out}");
    let (ok, out) = cli(&db, &["audit", "verify", "--checkpoints", &dir_s]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "(seq 12) has another chain hash than checkpoint checkpoint-000000000012.json"
        ) && out.contains("the chain was rewritten at or before seq 12"),
        "{out}"
    );
    // A checkpoint whose head is edited to match is refused for its MAC.
    let now_head = {
        let pool = creditgate::store::connect(&db.url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        creditgate::store::audit::sealed_after(&mut conn, 11, 1).unwrap()[0]
            .chain_hash
            .clone()
            .unwrap()
    };
    let mut c: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    c["head"] = json!(now_head);
    std::fs::write(&file, serde_json::to_vec(&c).unwrap()).unwrap();
    let (ok, out) = cli(&db, &["audit", "verify", "--checkpoints", &dir_s]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("checkpoint checkpoint-000000000012.json does not carry the key's MAC"),
        "{out}"
    );
    // A file that is not a checkpoint at all is named.
    std::fs::write(dir.path().join("checkpoint-x.json"), "not json").unwrap();
    let (_, out) = cli(&db, &["audit", "verify", "--checkpoints", &dir_s]);
    assert!(
        out.contains("checkpoint file checkpoint-x.json cannot be read as a checkpoint"),
        "{out}"
    );
    // Every checkpoint deleted is not a pass.
    let empty = tempfile::tempdir().unwrap();
    let (ok, out) = cli(
        &db,
        &[
            "audit",
            "verify",
            "--checkpoints",
            empty.path().to_str().unwrap(),
        ],
    );
    assert!(!ok && out.contains("no checkpoint in"), "{out}");
}

on_both_backends!(
    checkpoints_find_a_cut_off_or_replaced_tail,
    exported_cells_never_start_a_formula,
    reads_and_changes_are_logged_and_exported,
    an_edited_entry_is_named,
    a_deleted_entry_is_named,
    an_inserted_entry_is_named,
    reordered_entries_are_named,
);
