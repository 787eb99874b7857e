//! Personal data: ID numbers are masked in every answer and never stored in plain text, on every
//! write path (the batch API, the 双公示 import of CSV and XLSX files, the provincial sync, `gen`,
//! the upgrade of a database written before record ids were pseudonymised), and never printed
//! by the command line or sent to the provincial platform inside a record id.
//!
//! The search is over every text cell of every table (read from the database's own catalog, so
//! a new table is searched too), for every ID number the test used and every ID number the
//! database itself knows (found by decrypting its encrypted columns with the test key), and for
//! each number without its check character.

mod common;

use std::process::Command;

use common::*;
use creditgate::crypto::DataKeys;
use creditgate::sync::protocol::Change;
use creditgate::sync::sim::{self as provincial_sim, SimConfig};
use diesel::{QueryableByName, RunQueryDsl};
use serde_json::{json, Value};

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Cell {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    v: Option<String>,
}

/// Every non-null cell of every table, as (`table.column`, text).
fn all_cells(db_url: &str, b: Backend) -> Vec<(String, String)> {
    let pool = creditgate::store::connect(db_url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let tables: Vec<Name> = match b {
        Backend::Postgres => diesel::sql_query(
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public'",
        ),
        Backend::Sqlite => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        ),
    }
    .load(&mut *conn)
    .unwrap();
    assert!(tables.iter().any(|t| t.name == "subjects"));
    let mut out = Vec::new();
    for t in tables {
        let cols: Vec<Name> = match b {
            Backend::Postgres => diesel::sql_query(format!(
                "SELECT column_name::text AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{}'",
                t.name
            )),
            Backend::Sqlite => diesel::sql_query(format!(
                "SELECT name FROM pragma_table_info('{}')",
                t.name
            )),
        }
        .load(&mut *conn)
        .unwrap();
        for c in cols {
            let q = format!(
                "SELECT CAST(\"{}\" AS TEXT) AS v FROM \"{}\"",
                c.name, t.name
            );
            let cells: Vec<Cell> = diesel::sql_query(q).load(&mut *conn).unwrap();
            for cell in cells.into_iter().filter_map(|c| c.v) {
                out.push((format!("{}.{}", t.name, c.name), cell));
            }
        }
    }
    out
}

/// The ID numbers the database holds encrypted.
fn decrypted_numbers(cells: &[(String, String)]) -> Vec<String> {
    let keys = DataKeys::parse(TEST_DATA_KEY).unwrap();
    cells
        .iter()
        .filter(|(_, v)| v.starts_with("sm4ctr1:"))
        .map(|(at, v)| {
            keys.decrypt(v)
                .unwrap_or_else(|e| panic!("{at}: cannot decrypt: {e}"))
        })
        .collect()
}

/// The places where a number (or the number without its check character) stands in plain.
fn plain_hits(texts: &[(String, String)], numbers: &[String]) -> Vec<String> {
    let mut hits = Vec::new();
    for n in numbers {
        let n = n.to_uppercase();
        let stem = &n[..17];
        for (at, v) in texts {
            if v.to_uppercase().contains(stem) {
                hits.push(format!(
                    "{at} holds {}",
                    creditgate::domain::id_number::mask(&n)
                ));
            }
        }
    }
    hits.sort();
    hits.dedup();
    hits
}

/// Searches the database for `used` and for every number it holds encrypted; returns how many
/// distinct numbers were searched for.
async fn assert_no_plain_number_stored(db_url: &str, b: Backend, used: &[&str]) -> usize {
    let url = db_url.to_string();
    let cells = tokio::task::spawn_blocking(move || all_cells(&url, b))
        .await
        .unwrap();
    let mut numbers: Vec<String> = used.iter().map(|s| s.to_uppercase()).collect();
    numbers.extend(decrypted_numbers(&cells));
    numbers.sort();
    numbers.dedup();
    let hits = plain_hits(&cells, &numbers);
    assert!(hits.is_empty(), "plain ID numbers stored: {hits:?}");
    numbers.len()
}

const REP: &str = "110101199003070011";
const PERSON: &str = "11010119800101007X";

/// A natural person on the dishonest-debtor list; each version says so in its details.
fn person_entry(id: &str, number: &str, version: i64) -> Value {
    json!({
        "source_record_id": id, "kind": "list_entry", "list_code": "court.dishonest_debtor",
        "subject": {"kind": "natural_person", "name": "李四", "id_number": number},
        "decision_no": "(2026)京01执9号",
        "decision_date": "2026-02-01", "valid_from": "2026-02-01", "version": version,
        "sharing_class": "unconditional", "open_class": "open",
        // Free text naming the person: kept masked.
        "details": {"BZ": format!("第{version}版"), "CF_NR": format!("当事人（身份证号{number}）未履行"),
                    number: ["附注", number]}
    })
}

/// The batch API, and what every read path answers: profiles, records, checks and reports.
async fn api_paths_keep_id_numbers_masked_and_out_of_storage(b: Backend) {
    let app = spawn_app(b).await;
    let scjg = app.key("SCJG", "provider").await;
    let court = app.key("FY", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let c = code(1);
    let r = app.batch(&scjg, vec![penalty("CF-1", &c)]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    // A provider that makes its record ids the way the 双公示 files do: 决定文书号|ID number.
    let person_id = format!("(2026)京01执9号|{REP}");
    let r = app
        .batch(&court, vec![person_entry(&person_id, REP, 1)])
        .await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    let rec_id = r.body["results"][0]["id"].as_str().unwrap().to_string();
    // The same again is unchanged: neither the random IV nor the pseudonym changes the content.
    let again = app
        .batch(&court, vec![person_entry(&person_id, REP, 1)])
        .await;
    assert_eq!(
        again.body["results"][0]["status"], "unchanged",
        "{}",
        again.text
    );
    let newer = app
        .batch(&court, vec![person_entry(&person_id, REP, 2)])
        .await;
    assert_eq!(
        newer.body["results"][0]["status"], "updated",
        "{}",
        newer.text
    );
    assert_eq!(newer.body["results"][0]["id"], rec_id.as_str());

    let mut answers = vec![r.text, again.text, newer.text];
    let rec = app
        .get(
            &format!("/api/v1/records/{rec_id}?purpose=资格审查"),
            Some(&officer),
        )
        .await;
    assert_eq!(rec.status, 200, "{}", rec.text);
    let shown = rec.body["source_record_id"].as_str().unwrap();
    assert!(
        shown.starts_with("(2026)京01执9号|pid-") && shown.len() == person_id.len() - 18 + 24,
        "the record id keeps its document number and carries a pseudonym: {shown}"
    );
    assert_eq!(rec.body["subject"]["id_number"], "110101********0011");
    answers.push(rec.text);

    let p = app.subject(&officer, &c).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(
        p.body["subject"]["legal_rep"]["id_number"],
        "110101********0011"
    );
    assert_eq!(
        p.body["records"][0]["legal_rep"]["id_number"],
        "110101********0011"
    );
    answers.push(p.text);
    // The person is still found by ID number: the legal representative bars market entry.
    let rep = app
        .post(
            "/api/v1/checks",
            Some(&officer),
            // Free text that names the person: stored and shown masked.
            &json!({"scenario": "market_entry", "subject": {"uscc": c},
                    "purpose": format!("变更登记审查（法定代表人{REP}）"), "reference": format!("ZWFW-{REP}")}),
        )
        .await;
    assert_eq!(rep.body["verdict"], "prohibited", "{}", rep.text);
    assert_eq!(
        rep.body["purpose"],
        "变更登记审查（法定代表人110101********0011）"
    );
    let by_query = app
        .get(
            &format!("/api/v1/subjects/{c}?purpose=核查{REP}"),
            Some(&officer),
        )
        .await;
    assert_eq!(by_query.status, 200, "{}", by_query.text);
    answers.push(by_query.text);
    answers.push(rep.text.clone());
    // And the natural person, checked by the number itself.
    let person = app
        .post(
            "/api/v1/checks",
            Some(&officer),
            &json!({"scenario": "subsidy", "subject": {"id_number": REP, "name": "李四"},
                    "purpose": "补贴资格审查"}),
        )
        .await;
    assert_eq!(person.status, 201, "{}", person.text);
    assert_eq!(person.body["subject"]["id_number"], "110101********0011");
    assert_eq!(person.body["verdict"], "restricted", "{}", person.text);
    answers.push(person.text.clone());
    for report in [&rep, &person] {
        let no = report.body["report_no"].as_str().unwrap();
        let stored = app
            .get(&format!("/api/v1/checks/{no}"), Some(&officer))
            .await;
        assert_eq!(stored.status, 200, "{}", stored.text);
        answers.push(stored.text);
    }
    let answers: Vec<(String, String)> = answers
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("answer {i}"), t))
        .collect();
    let hits = plain_hits(&answers, &[REP.into()]);
    assert!(hits.is_empty(), "plain ID numbers served: {hits:?}");

    // The other free text callers write: an application's purpose and its decision's reason,
    // feedback on a report, an agreement's reference.
    let applied = app
        .post(
            "/api/v1/access-applications",
            Some(&officer),
            &json!({"purpose": format!("核查{REP}的记录"), "valid_to": "2026-12-31"}),
        )
        .await;
    assert_eq!(applied.status, 201, "{}", applied.text);
    let grant = applied.body["id"].as_str().unwrap();
    let decided = app
        .post(
            &format!("/api/v1/admin/access-applications/{grant}/approve"),
            Some(&app.admin_key),
            &json!({"reason": format!("同意核查{REP}")}),
        )
        .await;
    assert_eq!(decided.status, 200, "{}", decided.text);
    let no = rep.body["report_no"].as_str().unwrap();
    let fb = app
        .post(
            &format!("/api/v1/checks/{no}/feedback"),
            Some(&officer),
            &json!({"action": "other", "note": format!("已通知{REP}本人")}),
        )
        .await;
    assert_eq!(fb.status, 201, "{}", fb.text);
    let agreement = app
        .post(
            "/api/v1/admin/agreements",
            Some(&app.admin_key),
            &json!({"org_code": "BANK", "scenarios": ["profile"], "record_kinds": ["penalty"],
                    "valid_from": "2026-01-01", "valid_to": "2026-12-31", "daily_quota": 10,
                    "reference": format!("XY-{REP}")}),
        )
        .await;
    assert_eq!(agreement.status, 201, "{}", agreement.text);
    let texts: Vec<(String, String)> = [applied, decided, fb, agreement]
        .into_iter()
        .enumerate()
        .map(|(i, a)| (format!("free-text answer {i}"), a.text))
        .collect();
    let hits = plain_hits(&texts, &[REP.into()]);
    assert!(hits.is_empty(), "plain ID numbers served: {hits:?}");

    assert_no_plain_number_stored(&app.db_url, b, &[REP]).await;
}

fn creditgate(db: &TestDb) -> Command {
    let mut c = creditgate_cli(&db.url);
    // Everything the commands log, so that the logs are searched too.
    c.env("CREDITGATE_LOG", "debug");
    c
}

/// Runs a command that must succeed; returns what it printed on both streams.
fn run(cmd: &mut Command, what: &str) -> String {
    run_out(cmd, what).1
}

/// Runs a command that must succeed; returns its standard output, and both streams together.
fn run_out(cmd: &mut Command, what: &str) -> (String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed: {text}");
    (stdout, text)
}

const CSV_PERSON: &str = "360426199101010071";
const CSV_REP: &str = "32010220000229003X";
const XLSX_PERSON: &str = "44030419851231002X";
const SYNC_PERSON: &str = "110101199003070011";
const SIM_SECRET: &str = "63697479736563726574303132333435363738396162636465663031323334";

fn write_csv(path: &std::path::Path) {
    let header = "CF_XDR_MC,CF_XDR_LB,CF_XDR_SHXYM,CF_XDR_ZJLX,CF_XDR_ZJHM,CF_FRDB,CF_FR_ZJLX,CF_FR_ZJHM,CF_WSH,CF_CFLB,CF_NR,CF_JDRQ,CF_CFJG,CF_CFJGDM";
    let rows = [
        header.to_string(),
        format!("王五,自然人,,身份证,{CSV_PERSON},,,,京公罚〔2026〕3号,警告,警告,2026-03-01,北京市公安局,11110000MB0000000U"),
        format!("北京示例科技有限公司,法人及非法人组织,91110000MA00000152,,,赵六,身份证,{CSV_REP},京市监罚〔2026〕12号,警告,警告,2026-03-02,北京市市场监督管理局,11110000MB0000000U"),
    ];
    std::fs::write(path, format!("{}\n", rows.join("\n"))).unwrap();
}

fn write_xlsx(path: &std::path::Path) {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let sheet = wb.add_worksheet();
    let cells = [
        ("XK_XDR_MC", "孙七"),
        ("XK_XDR_LB", "自然人"),
        ("XK_XDR_ZJLX", "身份证"),
        ("XK_XDR_ZJHM", XLSX_PERSON),
        ("XK_XKWS", "食品经营许可证"),
        ("XK_WSH", "JY11101050002"),
        ("XK_XKLB", "普通"),
        ("XK_NR", "食品销售"),
        ("XK_JDRQ", "2026-01-05"),
        ("XK_YXQZ", "2026-01-05"),
        ("XK_YXQZI", "2031-01-04"),
        ("XK_XKJG", "北京市市场监督管理局"),
        ("XK_XKJGDM", "11110000MB0000000U"),
    ];
    for (i, (h, v)) in cells.iter().enumerate() {
        sheet.write_string(0, i as u16, *h).unwrap();
        sheet.write_string(1, i as u16, *v).unwrap();
    }
    wb.save(path).unwrap();
}

/// A natural person's record pulled from the province, named the 双公示 way, then its second
/// version, then its removal; and one whose id names a person not otherwise in the record.
fn provincial_person_changes() -> Vec<Change> {
    let id = format!("FY-2026-9|{SYNC_PERSON}");
    let record = |v: i64| {
        json!({
            "kind": "list_entry", "list_code": "court.dishonest_debtor",
            "subject": {"kind": "natural_person", "name": "周八", "id_number": SYNC_PERSON},
            "decision_no": "(2026)京02执1号", "decision_date": "2026-02-01",
            "valid_from": "2026-02-01", "sharing_class": "unconditional", "open_class": "open",
            "details": {"BZ": format!("第{v}版")}
        })
    };
    let change = |op: &str, v: i64, record: Option<Value>| Change {
        cursor: String::new(),
        op: op.into(),
        source_code: "PROV-FY".into(),
        source_record_id: id.clone(),
        version: v,
        record,
    };
    vec![
        change("upsert", 1, Some(record(1))),
        change("upsert", 2, Some(record(2))),
        change("remove", 3, None),
    ]
}

/// The command-line write paths: import (CSV, XLSX), gen, sync; their output; what is pushed.
async fn command_line_paths_store_and_print_no_id_number(b: Backend) {
    let db = TestDb::new(b);
    make_provider(&db.url, "SCJG");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("cf.csv");
    write_csv(&csv);
    let xlsx = dir.path().join("xk.xlsx");
    write_xlsx(&xlsx);
    let mut printed = Vec::new();
    for (file, source, created) in [(&csv, "SCJG", "2 created"), (&xlsx, "SCJG", "1 created")] {
        let text = run(
            creditgate(&db).args(["import", file.to_str().unwrap(), "--source", source]),
            "import",
        );
        assert!(text.contains(created), "{text}");
        printed.push(("import".to_string(), text));
    }
    // The same file again: the pseudonymised ids find the stored records.
    let text = run(
        creditgate(&db).args(["import", csv.to_str().unwrap(), "--source", "SCJG"]),
        "import again",
    );
    assert!(text.contains("2 unchanged"), "{text}");
    printed.push(("import again".into(), text));
    let text = run(
        creditgate(&db).args(["gen", "--subjects", "30", "--records-per-subject", "2"]),
        "gen",
    );
    printed.push(("gen".into(), text));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sim_url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = provincial_sim::serve(
        SimConfig {
            seed: 3,
            size: 50,
            key_id: "city".into(),
            secret: hex::decode(SIM_SECRET).unwrap(),
            faults: Default::default(),
            extra: provincial_person_changes(),
            tls: None,
        },
        listener,
    )
    .unwrap();
    tokio::spawn(server);
    let mut sync = creditgate(&db);
    sync.args(["sync", "--once"])
        .env("CREDITGATE_PROVINCIAL_URL", &sim_url)
        .env("CREDITGATE_PROVINCIAL_INSECURE", "1")
        .env("CREDITGATE_PROVINCIAL_SECRET", SIM_SECRET);
    let text = tokio::task::spawn_blocking(move || run(&mut sync, "sync --once"))
        .await
        .unwrap();
    printed.push(("sync".into(), text));

    let used = [CSV_PERSON, CSV_REP, XLSX_PERSON, SYNC_PERSON];
    let numbers: Vec<String> = used.iter().map(|s| s.to_string()).collect();
    let hits = plain_hits(&printed, &numbers);
    assert!(hits.is_empty(), "plain ID numbers printed: {hits:?}");

    // Pushed to the province: the local records, the imported natural persons among them, each
    // under an id that names no person.
    let received: Vec<(String, String, i64)> = reqwest::get(format!("{sim_url}/received"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = received.iter().map(|r| r.1.as_str()).collect();
    assert!(
        ids.iter().any(|i| i.starts_with("京公罚〔2026〕3号|pid-")),
        "the imported person's record was pushed under its pseudonym: {ids:?}"
    );
    let pushed: Vec<(String, String)> = received
        .iter()
        .map(|r| ("pushed id".to_string(), r.1.clone()))
        .collect();
    let hits = plain_hits(&pushed, &numbers);
    assert!(hits.is_empty(), "ID numbers in pushed record ids: {hits:?}");

    // The pulled person's record went through its versions and its removal under one id.
    let (officer, _) = run_out(
        creditgate(&db).args(["keys", "create", "--org", "ZWFW", "--role", "officer"]),
        "keys create",
    );
    let officer = officer.trim().to_string();
    let app = spawn_on(&db).await;
    let person = app
        .post(
            "/api/v1/checks",
            Some(&officer),
            &json!({"scenario": "subsidy", "subject": {"id_number": SYNC_PERSON, "name": "周八"},
                    "purpose": "补贴资格审查"}),
        )
        .await;
    assert_eq!(person.status, 201, "{}", person.text);
    // Pulled as a dishonest debtor, then removed: the removal found the record its id names (one
    // record, revoked; a revoked record leaves the check `known: false`).
    assert_eq!(person.body["verdict"], "clear", "{}", person.text);
    assert_eq!(person.body["subject"]["known"], false, "{}", person.text);
    let person_key = format!(
        "pid:{}",
        DataKeys::parse(TEST_DATA_KEY)
            .unwrap()
            .lookup_hash(&creditgate::domain::IdNumber::parse(SYNC_PERSON).unwrap())
    );
    let url = db.url.clone();
    let statuses = tokio::task::spawn_blocking(move || {
        let pool = creditgate::store::connect(&url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        let (_, records) = creditgate::store::records::of_subject_key(&mut conn, &person_key)
            .unwrap()
            .expect("the person is held");
        records
            .iter()
            .map(|r| r.status.as_str().to_string())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(statuses, ["revoked"]);
    // The access log's archive (a file an operator keeps): the person's check is in it, under
    // the person's keyed hash, and no ID number is.
    let no = person.body["report_no"].as_str().unwrap().to_string();
    let read = app
        .get(&format!("/api/v1/checks/{no}"), Some(&officer))
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    let arch = dir.path().join("access-log");
    let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    let text = run(
        creditgate(&db).args([
            "audit",
            "archive",
            "--before",
            &tomorrow,
            arch.to_str().unwrap(),
        ]),
        "audit archive",
    );
    assert!(text.contains("archived"), "{text}");
    let files: Vec<(String, String)> = std::fs::read_dir(&arch)
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            (name, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    assert!(
        files.iter().any(|(_, t)| t.contains(&no)),
        "the person's check is not in the archive"
    );
    let hits = plain_hits(&files, &numbers);
    assert!(
        hits.is_empty(),
        "ID numbers in the access-log archive: {hits:?}"
    );
    let n = assert_no_plain_number_stored(&db.url, b, &used).await;
    assert!(
        n > 30,
        "gen's legal representatives were searched for too ({n})"
    );
}

/// A database written before record ids were pseudonymised: the upgrade rewrites the ids, their
/// history and the sync state, and the same submission afterwards is still `unchanged`.
async fn the_upgrade_rewrites_plain_record_ids(b: Backend) {
    let db = TestDb::new(b);
    let app = spawn_on(&db).await;
    let court = app.key("FY", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let person_id = format!("(2026)京01执9号|{PERSON}");
    let first = app
        .batch(&court, vec![person_entry(&person_id, PERSON, 1)])
        .await;
    let second = app
        .batch(&court, vec![person_entry(&person_id, PERSON, 2)])
        .await;
    assert_eq!(
        second.body["results"][0]["status"], "updated",
        "{}",
        second.text
    );
    let rec_id = first.body["results"][0]["id"].as_str().unwrap().to_string();
    let rec = app
        .get(
            &format!("/api/v1/records/{rec_id}?purpose=资格审查"),
            Some(&officer),
        )
        .await;
    let pseudonym = rec.body["source_record_id"].as_str().unwrap().to_string();
    let before = rec.body.clone();
    drop(app);

    // Put the database back as the earlier version wrote it: the plain number in the id and
    // the history, the content hashes of the plain id, a sync error quoting it; no mark.
    let url = db.url.clone();
    let (plain, pseudo) = (person_id.clone(), pseudonym.clone());
    tokio::task::spawn_blocking(move || {
        use diesel::connection::SimpleConnection;
        let pool = creditgate::store::connect(&url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        let q = |s: &str| s.replace('\'', "''");
        conn.batch_execute(&format!(
            "UPDATE credit_records SET source_record_id = '{p}', content_hash = 'sha256:old';
             UPDATE credit_record_versions SET content = REPLACE(content, '{s}', '{p}'),
                 content_hash = 'sha256:old';
             INSERT INTO sync_state (name, pages, upserts, removals, skipped, rejected, pushed,
                 push_duplicates, push_rejected, last_reject, updated_at)
                 VALUES ('provincial-x', 0, 0, 0, 0, 0, 0, 0, 0, 'PROV-FY {p} version 1: bad', '2026-11-24 08:30:00');
             DELETE FROM data_migrations;",
            p = q(&plain),
            s = q(&pseudo)
        ))
        .unwrap();
    })
    .await
    .unwrap();
    let url = db.url.clone();
    let cells = tokio::task::spawn_blocking(move || all_cells(&url, b))
        .await
        .unwrap();
    assert!(
        !plain_hits(&cells, &[PERSON.into()]).is_empty(),
        "the test database holds the plain id before the upgrade"
    );

    let text = run(creditgate(&db).arg("migrate"), "migrate");
    assert!(
        text.contains("pseudonymous record ids (1 records)"),
        "{text}"
    );
    assert_no_plain_number_stored(&db.url, b, &[PERSON]).await;
    let text = run(creditgate(&db).arg("migrate"), "migrate again");
    assert!(text.contains("up to date"), "runs once: {text}");

    let app = spawn_on(&db).await;
    let rec = app
        .get(
            &format!("/api/v1/records/{rec_id}?purpose=资格审查"),
            Some(&officer),
        )
        .await;
    assert_eq!(rec.body, before, "the record reads as it did");
    let again = app
        .batch(&court, vec![person_entry(&person_id, PERSON, 2)])
        .await;
    assert_eq!(
        again.body["results"][0]["status"], "unchanged",
        "the rewritten content hash is the write path's: {}",
        again.text
    );
    let stale = app
        .batch(&court, vec![person_entry(&person_id, PERSON, 1)])
        .await;
    assert_eq!(
        stale.body["results"][0]["status"], "rejected",
        "{}",
        stale.text
    );
}

on_both_backends!(
    api_paths_keep_id_numbers_masked_and_out_of_storage,
    command_line_paths_store_and_print_no_id_number,
    the_upgrade_rewrites_plain_record_ids,
);
