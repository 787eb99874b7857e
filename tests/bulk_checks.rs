//! Bulk comparison from the outside (API.md "Bulk comparison"): a roster posted as
//! multipart/form-data is answered 202 with a job, checked in the background line by line as a
//! single check would be, and its result is one line per input line, in input order, as CSV and
//! XLSX, with a reason for every rejected line. A job survives a kill -9 of its server.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

on_both_backends!(
    a_roster_is_checked_line_by_line,
    a_partners_lines_count_against_its_quota,
    a_revoked_keys_job_stops,
    bad_forms_are_refused_with_what_to_fix,
    officers_check_persons_and_the_result_masks_them,
    a_job_survives_a_kill_of_its_server,
    lines_checked_together_keep_their_own_persons,
    a_record_that_cannot_be_read_fails_its_own_line_only,
);

const BOUNDARY: &str = "----creditgate-test-boundary-7MA4YWxkTrZu0gW";

/// A multipart/form-data body: text fields, and a file part when given (name, type, bytes).
fn form(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, value) in fields {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((filename, ctype, bytes)) = file {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

async fn submit(base: &str, key: &str, body: Vec<u8>) -> Answer {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/bulk-checks"))
        .bearer_auth(key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .expect("request");
    TestApp::answer(r).await
}

fn roster_form(csv: &str) -> Vec<u8> {
    form(
        &[
            ("scenario", "procurement"),
            ("purpose", "政府采购资格审查"),
            ("reference", "ZFCG-2026-0457"),
        ],
        Some(("roster.csv", "text/csv", csv.as_bytes())),
    )
}

/// Polls the job until it is done (or failed); its last state.
async fn finished(base: &str, key: &str, id: &str, limit: Duration) -> Value {
    let client = reqwest::Client::new();
    let start = std::time::Instant::now();
    loop {
        let r = client
            .get(format!("{base}/api/v1/bulk-checks/{id}"))
            .bearer_auth(key)
            .send()
            .await;
        if let Ok(r) = r {
            if r.status() == 200 {
                let v: Value = r.json().await.unwrap();
                if v["status"] == "done" || v["status"] == "failed" {
                    return v;
                }
            }
        }
        assert!(
            start.elapsed() < limit,
            "the job did not finish within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The result CSV's rows (the byte order mark dropped), as maps by column.
async fn result_rows(
    app: &TestApp,
    key: &str,
    id: &str,
) -> Vec<std::collections::BTreeMap<String, String>> {
    let r = app
        .client
        .get(format!("{}/api/v1/bulk-checks/{id}/result.csv", app.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let text = text
        .strip_prefix('\u{feff}')
        .expect("a byte order mark for Excel");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

async fn a_roster_is_checked_line_by_line(b: Backend) {
    let app = spawn_app(b).await;
    let system = app.key("ZFCG-SYS", "system").await;
    let scjg = app.key("SCJG", "provider").await;
    let (barred, clean) = (code(801), code(802));
    let r = app.batch(&scjg, vec![penalty("CF-B1", &barred)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut typo = clean.clone();
    typo.pop();
    typo.push(if clean.ends_with('0') { '1' } else { '0' });
    // Line 1 the header; 5 blank (skipped); 6 a row with a comma too many (refused whole).
    let csv = format!(
        "uscc,name\n{barred},甲\n{clean},乙\n{typo},丙\n\n{clean},丁,多余\n{},戊\n",
        clean.to_lowercase()
    );
    let r = submit(&app.base, &system, roster_form(&csv)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("bulk_"), "{}", r.text);
    assert_eq!(r.body["status"], "queued", "{}", r.text);
    assert_eq!(r.body["total"], 5, "{}", r.text);
    let job = finished(&app.base, &system, &id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(
        (job["done"].as_i64(), job["progress"].as_f64()),
        (Some(5), Some(1.0)),
        "{job}"
    );
    assert_eq!(
        job["counts"],
        json!({"clear": 2, "review": 0, "restricted": 0, "prohibited": 1, "rejected": 2}),
        "{job}"
    );
    let rows = result_rows(&app, &system, &id).await;
    let col = |c: &str| rows.iter().map(|r| r[c].clone()).collect::<Vec<_>>();
    assert_eq!(col("line"), ["2", "3", "4", "6", "7"]);
    assert_eq!(
        col("verdict"),
        ["prohibited", "clear", "rejected", "rejected", "clear"]
    );
    assert_eq!(
        col("uscc")[4],
        clean,
        "codes are read as USCCs are: upper-cased"
    );
    assert!(
        rows[2]["reason"].contains("check character"),
        "{:?}",
        rows[2]
    );
    assert!(rows[3]["reason"].contains("fields"), "{:?}", rows[3]);
    assert!(
        rows[0]["measures"].contains("procurement."),
        "{:?}",
        rows[0]
    );
    // Each checked line is a report of its own, as a single check would give.
    for row in rows.iter().filter(|r| r["verdict"] != "rejected") {
        let no = &row["report_no"];
        let rep = app
            .get(&format!("/api/v1/checks/{no}"), Some(&system))
            .await;
        assert_eq!(rep.status, 200, "{}", rep.text);
        assert_eq!(rep.body["verdict"], row["verdict"].as_str(), "{}", rep.text);
        assert_eq!(
            rep.body["subject"]["uscc"],
            row["uscc"].as_str(),
            "{}",
            rep.text
        );
        assert_eq!(rep.body["reference"], "ZFCG-2026-0457", "{}", rep.text);
        let single = app.check(&system, procurement(&row["uscc"])).await;
        assert_eq!(
            single.body["verdict"], rep.body["verdict"],
            "{}",
            single.text
        );
    }
    assert!(rows
        .iter()
        .filter(|r| r["verdict"] == "rejected")
        .all(|r| r["report_no"].is_empty()));
    // The same as a workbook.
    let x = app
        .client
        .get(format!("{}/api/v1/bulk-checks/{id}/result.xlsx", app.base))
        .bearer_auth(&system)
        .send()
        .await
        .unwrap();
    assert_eq!(x.status(), 200);
    let bytes = x.bytes().await.unwrap().to_vec();
    use calamine::Reader;
    let mut wb = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let sheet = wb.worksheet_range("result").unwrap();
    let cells: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(
        cells[0],
        ["line", "uscc", "verdict", "reason", "measures", "report_no"]
    );
    assert_eq!(cells.len(), 6);
    assert_eq!(cells[1][2], "prohibited");
    assert_eq!(cells[3][3], rows[2]["reason"]);
    // Another organisation does not see it.
    let other = app.key("ZB-SYS", "system").await;
    let r = app
        .get(&format!("/api/v1/bulk-checks/{id}"), Some(&other))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

async fn bad_forms_are_refused_with_what_to_fix(b: Backend) {
    let app = spawn_app(b).await;
    let system = app.key("ZFCG-SYS", "system").await;
    let fields = |f: &Answer| {
        f.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // JSON where a form is due.
    let r = app
        .post(
            "/api/v1/bulk-checks",
            Some(&system),
            &json!({"scenario": "procurement"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], "malformed_body", "{}", r.text);
    let r = submit(&app.base, &system, form(&[("scenario", "lottery")], None)).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(fields(&r), ["scenario", "purpose", "file"], "{}", r.text);
    let r = submit(&app.base, &system, roster_form("code\n1\n")).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(fields(&r), ["file"], "{}", r.text);
    assert_eq!(
        r.body["errors"][0]["code"], "no_subject_column",
        "{}",
        r.text
    );
    let r = submit(&app.base, &system, roster_form("uscc\n")).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let junk = form(
        &[("scenario", "procurement"), ("purpose", "政府采购资格审查")],
        Some((
            "r.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            b"PK\x03\x04 no zip",
        )),
    );
    let r = submit(&app.base, &system, junk).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], "unreadable_file", "{}", r.text);
    // ID numbers are for officers; a provider runs no checks at all.
    let r = submit(
        &app.base,
        &system,
        roster_form("id_number\n110101199003070011\n"),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(!r.text.contains("110101199003070011"), "{}", r.text);
    let scjg = app.key("SCJG", "provider").await;
    let r = submit(
        &app.base,
        &scjg,
        roster_form(&format!("uscc\n{}\n", code(1))),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .get("/api/v1/bulk-checks/bulk_nothing", Some(&system))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

async fn officers_check_persons_and_the_result_masks_them(b: Backend) {
    let app = spawn_app(b).await;
    let officer = app.key("ZWFW", "officer").await;
    let id = "110101199003070011";
    // A valid number, one with a wrong check character, one a digit short, and a name.
    let csv = format!("ID_NUMBER\n{id}\n110101199003070012\n11010119900307001\n张三\n");
    let r = submit(&app.base, &officer, roster_form(&csv)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let job_id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["column"], "id_number", "{}", r.text);
    let job = finished(&app.base, &officer, &job_id, Duration::from_secs(30)).await;
    assert_eq!(job["counts"]["clear"], 1, "{job}");
    assert_eq!(job["counts"]["rejected"], 3, "{job}");
    let rows = result_rows(&app, &officer, &job_id).await;
    let shown: Vec<&str> = rows.iter().map(|r| r["id_number"].as_str()).collect();
    assert_eq!(
        shown,
        [
            "110101********0011",
            "110101********0012",
            "110101*******7001",
            "**"
        ]
    );
    assert!(
        rows[1..]
            .iter()
            .all(|r| r["verdict"] == "rejected" && !r["reason"].is_empty()),
        "{rows:?}"
    );
    // No ID number or name in the result (its reasons included), nor in the database once
    // checked.
    let all = format!("{rows:?}");
    for secret in [id, "110101199003070012", "11010119900307001", "张三"] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
    let pool = creditgate::store::connect(&app.db_url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let lines = creditgate::store::bulk_checks::lines(&mut conn, &job_id, 0, 10).unwrap();
    assert!(
        lines.iter().all(|l| l.input_enc.is_none()),
        "the ID numbers are forgotten once checked"
    );
    // An ID number put in the code column by mistake is not shown either.
    let system = app.key("ZFCG-SYS", "system").await;
    let r = submit(&app.base, &system, roster_form(&format!("uscc\n{id}\n"))).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let job_id = r.body["id"].as_str().unwrap().to_string();
    finished(&app.base, &system, &job_id, Duration::from_secs(30)).await;
    let rows = result_rows(&app, &system, &job_id).await;
    assert_eq!(rows[0]["uscc"], "110101********0011", "{rows:?}");
    assert_eq!(rows[0]["verdict"], "rejected", "{rows:?}");
    assert!(!format!("{rows:?}").contains(id), "{rows:?}");
}

/// `creditgate serve` on `db_url` (the test key and rules), and the address it listens on.
fn serve(db_url: &str, admin: &str) -> (Child, String) {
    let mut child = creditgate_cli(db_url)
        .env("CREDITGATE_ADMIN_KEY", admin)
        .env("CREDITGATE_BIND", "127.0.0.1:0")
        .env("CREDITGATE_RATE_LIMIT", "0")
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut base = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(rest) = line.unwrap().strip_prefix("creditgate listening on ") {
            base = rest.split_whitespace().next().unwrap().to_string();
            break;
        }
    }
    assert!(!base.is_empty(), "serve printed no address");
    (child, base)
}

async fn a_job_survives_a_kill_of_its_server(b: Backend) {
    let db = TestDb::new(b);
    let out = creditgate_cli(&db.url).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin = "cg_test_bulk_admin_key_0123456789abcdefghij";
    let out = creditgate_cli(&db.url)
        .args(["keys", "create", "--org", "ZFCG-SYS", "--role", "system"])
        .output()
        .unwrap();
    let system = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let n = 4000;
    let csv: String = std::iter::once("uscc".to_string())
        .chain((0..n).map(|i| code(10_000 + i)))
        .collect::<Vec<_>>()
        .join("\n");
    let (mut first, base) = serve(&db.url, admin);
    let r = submit(&base, &system, roster_form(&csv)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    // Killed (SIGKILL, no chance to finish a chunk) once some lines are checked.
    let client = reqwest::Client::new();
    let started = comes_true(Duration::from_secs(60), || async {
        let v: Value = client
            .get(format!("{base}/api/v1/bulk-checks/{id}"))
            .bearer_auth(&system)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["done"].as_i64().unwrap_or(0) > 0
    })
    .await;
    assert!(started, "no line was checked");
    first.kill().unwrap();
    first.wait().unwrap();
    let pool = creditgate::store::connect(&db.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let at_kill = creditgate::store::bulk_checks::find(&mut conn, &id)
        .unwrap()
        .unwrap();
    assert!(
        at_kill.cursor < n as i32,
        "the job finished before the kill; make it longer"
    );
    // A new server picks the job up where it stopped.
    let (mut second, base) = serve(&db.url, admin);
    let job = finished(&base, &system, &id, Duration::from_secs(180)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["counts"]["clear"], n as i64, "{job}");
    let lines = creditgate::store::bulk_checks::lines(&mut conn, &id, 0, 10_000).unwrap();
    assert_eq!(lines.len(), n as usize);
    assert!(lines
        .iter()
        .all(|l| l.verdict.as_deref() == Some("clear") && l.report_no.is_some()));
    let nos: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter_map(|l| l.report_no.as_deref())
        .collect();
    assert_eq!(nos.len(), n as usize, "a report per line");
    // Nothing of the chunk cut short by the kill was stored: exactly one report per line.
    assert_eq!(
        creditgate::store::checks::count_reports(&mut conn).unwrap(),
        n as i64,
        "reports stored"
    );
    println!(
        "killed at line {} of {n}; resumed and finished",
        at_kill.cursor
    );
}

async fn a_revoked_keys_job_stops(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    let made = app
        .post(
            "/api/v1/admin/keys",
            Some(&admin),
            &json!({"org_code": "ZFCG-SYS", "role": "system"}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let (key_id, system) = (
        made.body["id"].as_str().unwrap().to_string(),
        made.body["key"].as_str().unwrap().to_string(),
    );
    let csv: String = std::iter::once("uscc".to_string())
        .chain((0..3000).map(|i| code(20_000 + i)))
        .collect::<Vec<_>>()
        .join("\n");
    let r = submit(&app.base, &system, roster_form(&csv)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let revoked = app
        .post(
            &format!("/api/v1/admin/keys/{key_id}/revoke"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let job = finished(&app.base, &admin, &id, Duration::from_secs(60)).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("revoked"), "{job}");
    assert!(job["done"].as_i64().unwrap() < 3000, "{job}");
}

async fn a_partners_lines_count_against_its_quota(b: Backend) {
    let app = spawn_app(b).await;
    let bank = app.key("BANK", "partner").await;
    let a = app
        .post(
            "/api/v1/admin/agreements",
            Some(&app.admin_key),
            &json!({"org_code": "BANK", "scenarios": ["procurement"], "record_kinds": ["penalty"],
                    "valid_from": "2026-01-01", "valid_to": "2026-12-31", "daily_quota": 2}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    // The authorisation for all lines, or per line in its own column.
    let csv = format!(
        "uscc,authorization_ref\n{},\n{},SQ-2026-9\n{},\n",
        code(851),
        code(852),
        code(853)
    );
    let body = form(
        &[
            ("scenario", "procurement"),
            ("purpose", "授信审查"),
            ("authorization_ref", "SQ-2026-1"),
        ],
        Some(("roster.csv", "text/csv", csv.as_bytes())),
    );
    let r = submit(&app.base, &bank, body).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let job = finished(&app.base, &bank, &id, Duration::from_secs(30)).await;
    assert_eq!(job["counts"]["clear"], 2, "{job}");
    assert_eq!(job["counts"]["rejected"], 1, "{job}");
    // Lines are checked a few at once: which one found the quota used up may vary.
    let rows = result_rows(&app, &bank, &id).await;
    let rejected: Vec<_> = rows.iter().filter(|r| r["verdict"] == "rejected").collect();
    assert_eq!(rejected.len(), 1, "{rows:?}");
    assert!(rejected[0]["reason"].contains("quota"), "{rows:?}");
    // Outside its agreements, a partner's roster is refused whole.
    let body = form(
        &[("scenario", "bidding"), ("purpose", "授信审查")],
        Some((
            "roster.csv",
            "text/csv",
            format!("uscc\n{}\n", code(854)).as_bytes(),
        )),
    );
    let r = submit(&app.base, &bank, body).await;
    assert_eq!(r.status, 403, "{}", r.text);
}

/// Lines are checked in groups whose records are read together: each line still gets its own
/// subject's records and its own legal representative's, as a single check of it would.
async fn lines_checked_together_keep_their_own_persons(b: Backend) {
    let app = spawn_app(b).await;
    let court = app.key("FY", "provider").await;
    let scjg = app.key("SCJG", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    // 张三 is on the dishonest-debtor list; firm A has him as legal representative, firm B
    // someone else, C has no record at all.
    let person = json!({
        "source_record_id": "FY-P-31", "kind": "list_entry", "list_code": "court.dishonest_debtor",
        "subject": {"kind": "natural_person", "name": "张三", "id_number": "110101199003070011"},
        "decision_date": "2026-02-01", "valid_from": "2026-02-01",
        "sharing_class": "unconditional", "open_class": "open"
    });
    let r = app.batch(&court, vec![person]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    let (a, bb, c) = (code(931), code(932), code(933));
    let small = |id: &str, uscc: &str, rep: (&str, &str)| {
        let mut p = penalty(id, uscc);
        p["fine_amount"] = json!("100.00");
        p["subject"]["legal_rep"] = json!({"name": rep.0, "id_number": rep.1});
        p
    };
    let r = app
        .batch(
            &scjg,
            vec![
                small("CF-931", &a, ("张三", "110101199003070011")),
                small("CF-932", &bb, ("李四", "11010119800101007X")),
            ],
        )
        .await;
    assert_eq!(r.body["summary"]["created"], 2, "{}", r.text);
    let roster = [&a, &c, &bb, &a];
    let csv = format!(
        "uscc\n{}\n",
        roster
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let body = form(
        &[("scenario", "market_entry"), ("purpose", "设立登记审查")],
        Some(("roster.csv", "text/csv", csv.as_bytes())),
    );
    let r = submit(&app.base, &officer, body).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let job = finished(&app.base, &officer, &id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "done", "{job}");
    let rows = result_rows(&app, &officer, &id).await;
    assert_eq!(rows.len(), roster.len());
    for (row, uscc) in rows.iter().zip(roster) {
        assert_eq!(&row["uscc"], uscc);
        let single = app
            .check(
                &officer,
                json!({"scenario": "market_entry", "subject": {"uscc": uscc}, "purpose": "设立登记审查"}),
            )
            .await;
        assert_eq!(single.status, 201, "{}", single.text);
        let measures: Vec<&str> = single.body["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["measure_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            row["verdict"],
            single.body["verdict"].as_str().unwrap(),
            "{uscc}: {row:?}"
        );
        assert_eq!(row["measures"], measures.join(";"), "{uscc}: {row:?}");
        let via_rep = measures.contains(&"market_entry.officer_dishonest_debtor");
        assert_eq!(via_rep, *uscc == a, "{uscc}: {}", single.text);
    }
    assert_ne!(
        rows[0]["report_no"], rows[3]["report_no"],
        "a report per line"
    );
}

/// A stored record that no longer reads (its JSON damaged in the database) stops the check of
/// its own subject only: that line is tried again and then rejected with the reason, and the
/// lines checked in the same group keep their verdicts.
async fn a_record_that_cannot_be_read_fails_its_own_line_only(b: Backend) {
    let app = spawn_app(b).await;
    let scjg = app.key("SCJG", "provider").await;
    let system = app.key("ZFCG-SYS", "system").await;
    let (before, broken, after) = (code(941), code(942), code(943));
    let r = app.batch(&scjg, vec![penalty("CF-942", &broken)]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    {
        use diesel::connection::SimpleConnection;
        let pool = creditgate::store::connect(&app.db_url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        conn.batch_execute(
            "UPDATE credit_records SET penalty_types = 'not json' WHERE source_record_id = 'CF-942'",
        )
        .unwrap();
    }
    let csv = format!("uscc\n{before}\n{broken}\n{after}\n");
    let r = submit(&app.base, &system, roster_form(&csv)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let job = finished(&app.base, &system, &id, Duration::from_secs(60)).await;
    assert_eq!(job["status"], "done", "{job}");
    let rows = result_rows(&app, &system, &id).await;
    let verdicts: Vec<&str> = rows.iter().map(|r| r["verdict"].as_str()).collect();
    assert_eq!(verdicts, ["clear", "rejected", "clear"], "{rows:?}");
    assert!(
        rows[1]["reason"].contains("could not be checked after 5 tries"),
        "{:?}",
        rows[1]
    );
    assert!(!rows[0]["report_no"].is_empty() && !rows[2]["report_no"].is_empty());
}
