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

fn count(db: &TestDb, query: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let pool = creditgate::store::connect(&db.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    diesel::sql_query(query)
        .get_result::<N>(&mut *conn)
        .unwrap()
        .n
}

/// Retention (MLPS 2.0 level 3: six months at least): entries older than a cut-off are archived
/// with a signed manifest, each archive continuing the one before in the same directory, and
/// with --prune removed; the chain in the database then begins at the archives' end, sealing
/// goes on, and an archive, an anchor or an entry put back that was changed is named.
async fn old_entries_are_archived_and_the_chain_goes_on(b: Backend) {
    use std::sync::atomic::{AtomicI64, Ordering};
    let db = TestDb::new(b);
    // The service's clock runs this many seconds behind the real one (which the command line
    // judges the six months by): 240 days back, then 220, then yesterday.
    let behind = std::sync::Arc::new(AtomicI64::new(240 * 86_400));
    let clock = {
        let behind = behind.clone();
        creditgate::service::Clock::from_fn(move || {
            chrono::Utc::now() - chrono::TimeDelta::seconds(behind.load(Ordering::SeqCst))
        })
    };
    let app = spawn_on_with(
        &db,
        Options {
            clock: Some(clock),
            ..Default::default()
        },
    )
    .await;
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    for i in 0..3 {
        app.batch(&scjg, vec![penalty(&format!("CF-{i}"), &code(i))])
            .await;
        app.subject(&officer, &code(i)).await;
    }
    let cps = tempfile::tempdir().unwrap();
    let cps_s = cps.path().to_str().unwrap().to_string();
    let (ok, out) = cli(&db, &["audit", "checkpoint", &cps_s]);
    assert!(ok, "{out}");
    for (days, reads) in [(220, 3), (1, 3)] {
        behind.store(days * 86_400, Ordering::SeqCst);
        for i in 0..reads {
            app.subject(&officer, &code(i)).await;
        }
        let (ok, out) = cli(&db, &["audit", "seal"]);
        assert!(ok, "{out}");
    }
    let day = |days: i64| {
        (chrono::Utc::now() - chrono::TimeDelta::days(days))
            .format("%Y-%m-%d")
            .to_string()
    };
    let entries_in_db = || count(&db, "SELECT count(*) AS n FROM access_log");
    let before = |days: i64| {
        count(
            &db,
            &format!(
                "SELECT count(*) AS n FROM access_log WHERE at < '{} 00:00:00'",
                day(days)
            ),
        )
    };
    let (total, first, old) = (entries_in_db(), before(230), before(200));
    assert!(
        first >= 6 && old == first + 3 && old < total,
        "{first} {old} {total}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let kept = path("kept");

    // Within six months: --prune is refused, nothing written or removed.
    let (ok, out) = cli(
        &db,
        &["audit", "archive", "--before", &day(30), "--prune", &kept],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("kept at least 6 months"), "{out}");
    assert!(!dir.path().join("kept").exists());
    assert_eq!(entries_in_db(), total);
    // Without --prune, an export only.
    let (ok, out) = cli(&db, &["audit", "archive", "--before", &day(230), &kept]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("archived {first} entries (seq 1 to {first})")),
        "{out}"
    );
    assert_eq!(entries_in_db(), total);
    // --prune with the same date writes nothing new and removes what the export holds.
    let (ok, out) = cli(
        &db,
        &["audit", "archive", "--before", &day(230), "--prune", &kept],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("nothing new to archive")
            && out.contains(&format!(
                "removed {first} entries from the database; its chain now begins after seq {first}"
            )),
        "{out}"
    );
    assert_eq!(entries_in_db(), total - first);
    // The next archive in the same directory continues it, and its range is removed too.
    let (ok, out) = cli(
        &db,
        &["audit", "archive", "--before", &day(200), "--prune", &kept],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("archived 3 entries (seq {} to {old})", first + 1))
            && out.contains("removed 3 entries from the database"),
        "{out}"
    );
    assert_eq!(entries_in_db(), total - old);
    let (ok, out) = cli(&db, &["audit", "verify"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("0 breaks")
            && out.contains(&format!(
                "entries up to seq {old} were archived and removed"
            )),
        "{out}"
    );
    // The archives join, and the checkpoint taken at seq {first} (now archived) agrees with them.
    let (ok, out) = cli(
        &db,
        &[
            "audit",
            "verify",
            "--archive",
            &kept,
            "--checkpoints",
            &cps_s,
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "2 archives in {kept} hold {old} entries, seq 1 to {old}"
        )) && out.contains("checked against 1 checkpoints"),
        "{out}"
    );
    let (ok, out) = cli(
        &db,
        &["audit", "archive", "--before", &day(200), "--prune", &kept],
    );
    assert!(
        ok && out.contains("nothing new to archive") && !out.contains("removed"),
        "{out}"
    );
    assert_eq!(entries_in_db(), total - old);
    // A checkpoint (signed) that disagrees with an archived entry is named.
    {
        use creditgate::service::audit::checkpoint::{file_name, Checkpoint};
        let keys = creditgate::crypto::DataKeys::parse(TEST_DATA_KEY).unwrap();
        let bad = dir.path().join("bad-checkpoints");
        std::fs::create_dir(&bad).unwrap();
        let c = Checkpoint::new(&keys, 2, "1".repeat(64), "2026-01-01T00:00:00Z".into());
        std::fs::write(bad.join(file_name(2)), serde_json::to_vec(&c).unwrap()).unwrap();
        let (ok, out) = cli(
            &db,
            &[
                "audit",
                "verify",
                "--archive",
                &kept,
                "--checkpoints",
                bad.to_str().unwrap(),
            ],
        );
        assert!(!ok, "{out}");
        assert!(
            out.contains(
                "(seq 2) has another chain hash than checkpoint checkpoint-000000000002.json"
            ),
            "{out}"
        );
        let (_, out) = cli(
            &db,
            &["audit", "verify", "--checkpoints", bad.to_str().unwrap()],
        );
        assert!(
            out.contains("1 of the checkpoints cover archived entries only"),
            "{out}"
        );
    }
    // Sealing goes on after an archive.
    app.subject(&officer, &code(0)).await;
    let (ok, out) = cli(&db, &["audit", "seal"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&db, &["audit", "verify", "--archive", &kept]);
    assert!(ok && out.contains("0 breaks"), "{out}");
    // The auditors' API reads what the database still holds.
    let auditor = app.key("CGZX", "auditor").await;
    assert!(!entries(&app, &auditor, "limit=100").await.is_empty());

    // Archives that stop short of where the database begins; another directory for the next.
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path().join("kept"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let short = dir.path().join("short");
    std::fs::create_dir(&short).unwrap();
    for f in files.iter().filter(|f| {
        f.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&format!("access-log-{:012}-", 1))
    }) {
        std::fs::copy(f, short.join(f.file_name().unwrap())).unwrap();
    }
    let (ok, out) = cli(
        &db,
        &["audit", "verify", "--archive", short.to_str().unwrap()],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "entries up to seq {old} were removed from the database, but the archives reach only seq {first}"
        )),
        "{out}"
    );
    let (ok, out) = cli(
        &db,
        &["audit", "archive", "--before", &day(1), &path("elsewhere")],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("archive into the directory that holds them"),
        "{out}"
    );
    assert!(
        !dir.path().join("elsewhere").exists()
            || std::fs::read_dir(dir.path().join("elsewhere"))
                .unwrap()
                .next()
                .is_none()
    );

    // An archive that was changed is named, by its hash and by the entry's own.
    let changed = dir.path().join("changed");
    std::fs::create_dir(&changed).unwrap();
    copy_dir(&dir.path().join("kept"), &changed);
    let file = changed.join(format!("access-log-{:012}-{first:012}.jsonl", 1));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut line: Value = serde_json::from_str(&lines[0]).unwrap();
    line["org_code"] = json!("NOBODY");
    lines[0] = line.to_string();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (ok, out) = cli(
        &db,
        &["audit", "verify", "--archive", changed.to_str().unwrap()],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("is not the file written") && out.contains("(seq 1) was edited"),
        "{out}"
    );
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let (ok, out) = cli(&db, &["audit", "verify", "--archive", &path("empty")]);
    assert!(!ok && out.contains("no archive in"), "{out}");

    // An archived entry put back into the database is named, and no archive runs over it.
    sql(
        &db,
        &format!(
            "INSERT INTO access_log (id, at, key_id, org_code, role, action, subject_key, records, \
             purpose, reference, outcome, detail, entry_hash, seq, prev_hash, chain_hash, sealed_at) \
             SELECT 'acc_put_back', at, key_id, org_code, role, action, subject_key, records, \
             purpose, reference, outcome, detail, entry_hash, 1, prev_hash, chain_hash, sealed_at \
             FROM access_log WHERE seq = {}",
            old + 1
        ),
    );
    let (ok, out) = cli(&db, &["audit", "verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "1 entries with seq at most {old} are in the database"
        )),
        "{out}"
    );
    let (ok, out) = cli(&db, &["audit", "archive", "--before", &day(1), &kept]);
    assert!(!ok && out.contains("nothing was archived"), "{out}");
    sql(&db, "DELETE FROM access_log WHERE id = 'acc_put_back'");
    // An anchor moved to hide more removed entries is refused for its MAC.
    sql(&db, "UPDATE audit_anchor SET seq = seq + 1");
    let (ok, out) = cli(&db, &["audit", "verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("the archive anchor") && out.contains("does not carry the key's MAC"),
        "{out}"
    );
}

/// Archive files made to break the reader: each is named as what it is, the reader never
/// follows a path out of the directory, never holds an endless line, and stops listing junk.
async fn hostile_archives_are_named_not_followed(b: Backend) {
    let (db, _) = sealed_log(b).await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    let (ok, out) = cli(
        &db,
        &[
            "audit",
            "archive",
            "--before",
            &tomorrow,
            good.to_str().unwrap(),
        ],
    );
    assert!(
        ok && out.contains("archived 11 entries (seq 1 to 11)"),
        "{out}"
    );
    let stem = format!("access-log-{:012}-{:012}", 1, 11);
    let variant = |name: &str, change: &dyn Fn(&std::path::Path)| -> String {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        copy_dir(&good, &d);
        change(&d);
        let (ok, out) = cli(&db, &["audit", "verify", "--archive", d.to_str().unwrap()]);
        assert!(!ok, "{name}: {out}");
        out
    };
    // A manifest pointed out of its directory: refused for its MAC before its file is opened
    // (a manifest is read only when signed; the reader also takes plain file names only).
    let out = variant("escape", &|d| {
        let p = d.join(format!("{stem}.json"));
        let mut m: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        m["file"] = json!("../../../../etc/passwd");
        std::fs::write(&p, m.to_string()).unwrap();
    });
    assert!(
        out.contains("does not carry the key's MAC") && out.contains("no archive in"),
        "{out}"
    );
    // One endless line.
    let out = variant("endless", &|d| {
        std::fs::write(d.join(format!("{stem}.jsonl")), vec![b'x'; 17 << 20]).unwrap();
    });
    assert!(
        out.contains("line 1, is longer than 16777216 bytes"),
        "{out}"
    );
    // Thousands of lines of junk: named, then no more.
    let out = variant("junk", &|d| {
        std::fs::write(d.join(format!("{stem}.jsonl")), "{\"x\":1}\n".repeat(5000)).unwrap();
    });
    assert!(
        out.contains("more than 100 problems; not read further"),
        "{out}"
    );
    assert!(
        out.lines().filter(|l| l.starts_with("BREAK")).count() <= 102,
        "{out}"
    );
    // A manifest of junk, and a huge one.
    let out = variant("manifest", &|d| {
        std::fs::write(d.join(format!("{stem}.json")), vec![b'{'; 1 << 20]).unwrap();
    });
    assert!(
        out.contains("cannot be read") && out.contains("no archive in"),
        "{out}"
    );
    // The file cut short.
    let out = variant("cut", &|d| {
        let p = d.join(format!("{stem}.jsonl"));
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    });
    assert!(
        out.contains("is not the file written")
            && out.contains("its manifest says 11 up to seq 11"),
        "{out}"
    );
    // The file missing.
    let out = variant("missing", &|d| {
        std::fs::remove_file(d.join(format!("{stem}.jsonl"))).unwrap();
    });
    assert!(
        out.contains(&format!("archive {stem}.jsonl of seq 1-11 is missing")),
        "{out}"
    );
    // Another database's archives (under the same key): nothing is archived or removed there.
    let (other, _) = sealed_log(b).await;
    let (ok, out) = cli(
        &other,
        &[
            "audit",
            "archive",
            "--before",
            &tomorrow,
            good.to_str().unwrap(),
        ],
    );
    assert!(
        !ok && out.contains("are not of this database's chain"),
        "{out}"
    );
    assert_eq!(std::fs::read_dir(&good).unwrap().count(), 2);
}

/// A prune goes in steps, each its own transaction moving the anchor on; the steps end where
/// one long transaction would.
async fn a_prune_goes_in_steps(b: Backend) {
    use creditgate::service::audit::archive::{archive, Run};
    let (db, _) = sealed_log(b).await;
    let keys = creditgate::crypto::DataKeys::parse(TEST_DATA_KEY).unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let pool = creditgate::store::connect(&db.url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        // A year on: the log's entries are past the six months.
        let now = (chrono::Utc::now() + chrono::TimeDelta::days(400)).naive_utc();
        let mut run = Run::new(now - chrono::TimeDelta::days(200), now, true);
        run.prune_step = 3;
        let done = archive(&mut conn, &keys, dir.path(), &run, &|_, _| {}).unwrap();
        assert_eq!((done.pruned, done.pruned_to), (11, Some(11)));
        let anchor = creditgate::store::audit::anchor(&mut conn)
            .unwrap()
            .unwrap();
        assert_eq!(anchor.seq, 11);
        assert_eq!(
            anchor.archive,
            format!("access-log-{:012}-{:012}.jsonl", 1, 11)
        );
    }
    let (ok, out) = cli(
        &db,
        &["audit", "verify", "--archive", dir.path().to_str().unwrap()],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("0 breaks") && out.contains("entries up to seq 11 were archived and removed"),
        "{out}"
    );
    assert_eq!(count(&db, "SELECT count(*) AS n FROM access_log"), 1);
}

on_both_backends!(
    a_prune_goes_in_steps,
    hostile_archives_are_named_not_followed,
    old_entries_are_archived_and_the_chain_goes_on,
    checkpoints_find_a_cut_off_or_replaced_tail,
    exported_cells_never_start_a_formula,
    reads_and_changes_are_logged_and_exported,
    an_edited_entry_is_named,
    a_deleted_entry_is_named,
    an_inserted_entry_is_named,
    reordered_entries_are_named,
);
