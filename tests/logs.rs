//! Nothing personal reaches the log: the real binary serves with every log level on, callers send
//! bad input that carries ID numbers (in bodies, paths, queries, wrong types, unknown keys,
//! numbers with a wrong check character or birth date), and the captured log and every answer
//! are searched for the numbers.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

const VALID: &str = "110101199003070011";
const VALID_X: &str = "11010119800101007X";
/// A wrong check character: still somebody's number, mistyped.
const MISTYPED: &str = "110101199003070012";
/// Month 13: the birth digits must not be repeated either.
const BAD_DATE: &str = "110101199013070011";

struct Sent {
    what: String,
    status: u16,
    body: String,
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Sent {
    let url = format!("{base}{path}");
    let req = match method {
        "GET" => client.get(&url),
        _ => client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.unwrap_or("").to_string()),
    };
    let what = format!("{method} {path} {}", body.unwrap_or(""));
    match req.bearer_auth(key).send().await {
        Ok(resp) => Sent {
            what,
            status: resp.status().as_u16(),
            body: resp.text().await.unwrap_or_default(),
        },
        // Told apart after the server's log is read, so the log explains it.
        Err(e) => Sent {
            what,
            status: 0,
            body: format!("no answer: {e}"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_with_id_numbers_leaves_none_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_creditgate"))
        .current_dir(dir.path())
        .env_remove("CREDITGATE_DATABASE_URL")
        .env_remove("CREDITGATE_REDIS_URL")
        .env(
            "CREDITGATE_RULES_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
        )
        .env("CREDITGATE_BIND", "127.0.0.1:0")
        .env("CREDITGATE_LOG", "trace")
        .args(["serve", "--demo", "--demo-subjects", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log is read on its own thread, so the pipe never fills.
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut keys = std::collections::HashMap::new();
    let mut base = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in out.by_ref() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() == 3 && words[2].starts_with("cg_") {
            keys.insert(words[0].to_string(), words[2].to_string());
        }
        if let Some(rest) = line.strip_prefix("creditgate listening on ") {
            base = rest.split_whitespace().next().unwrap().to_string();
            break;
        }
    }
    assert!(!base.is_empty(), "the server started");
    // Standard output stays open (read to its end) while the server runs.
    std::thread::spawn(move || out.for_each(drop));
    let (provider, officer, admin, auditor) = (
        keys["provider"].clone(),
        keys["officer"].clone(),
        keys["admin"].clone(),
        keys["auditor"].clone(),
    );
    let c = reqwest::Client::new();
    let person = |id: Value| {
        json!({"records": [{
            "source_record_id": format!("FY-1|{VALID}"), "kind": "list_entry",
            "list_code": "court.dishonest_debtor",
            "subject": {"kind": "natural_person", "name": "张三", "id_number": id},
            "decision_date": "2026-02-01", "sharing_class": "unconditional"
        }]})
        .to_string()
    };
    let number = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
    let mut sent = Vec::new();
    // Records: the number as a JSON number (serde quotes the value it met), mistyped, with a
    // wrong birth date, as an unknown key, in an invalid record, and in malformed JSON.
    for body in [
        person(number(VALID)),
        person(json!(MISTYPED)),
        person(json!(BAD_DATE)),
        json!({"records": [{VALID: 1}]}).to_string(),
        json!({"records": [{"source_record_id": VALID, "kind": VALID_X}]}).to_string(),
        format!("{{\"records\": [{{\"subject\": {{\"id_number\": {VALID}"),
        format!("{{\"records\": \"{VALID_X}\"}}"),
    ] {
        sent.push(
            send(
                &c,
                &base,
                &provider,
                "POST",
                "/api/v1/records/batch",
                Some(&body),
            )
            .await,
        );
    }
    // Checks: numbers in the subject, the related persons, an unknown key, a wrong type.
    for body in [
        json!({"scenario": "subsidy", "subject": {"id_number": number(VALID)}, "purpose": "审核"}),
        json!({"scenario": "subsidy", "subject": {"id_number": MISTYPED}, "purpose": "审核"}),
        json!({"scenario": "subsidy", "subject": {"id_number": BAD_DATE}, "purpose": "审核"}),
        json!({"scenario": "market_entry", "subject": {"uscc": "91110000MA00000152"}, "purpose": "审核",
               "related_persons": [{"role": "legal_rep", "name": "李四", "id_number": MISTYPED}]}),
        json!({"scenario": "market_entry", "subject": {"uscc": VALID_X}, "purpose": "审核"}),
        json!({"scenario": VALID, "subject": {VALID_X: 1}, "purpose": "审核"}),
    ] {
        let body = body.to_string();
        sent.push(send(&c, &base, &officer, "POST", "/api/v1/checks", Some(&body)).await);
        sent.push(
            send(
                &c,
                &base,
                &officer,
                "POST",
                "/api/v1/checks/batch",
                Some(&format!("{{\"subjects\": [{body}]}}")),
            )
            .await,
        );
    }
    // Paths and queries.
    for path in [
        format!("/api/v1/subjects/{VALID}?purpose=审核"),
        format!("/api/v1/subjects/{VALID_X}"),
        format!("/api/v1/records/{VALID}?purpose=审核"),
        format!("/api/v1/checks/{VALID}"),
        format!("/api/v1/checks/CR-20261124-000001/verify?digest={VALID}"),
        format!("/api/v1/subjects/91110000MA00000152?purpose=审核&x={VALID_X}"),
    ] {
        sent.push(send(&c, &base, &officer, "GET", &path, None).await);
    }
    sent.push(
        send(
            &c,
            &base,
            &auditor,
            "GET",
            &format!("/api/v1/audit/entries?uscc={VALID}&from={VALID_X}"),
            None,
        )
        .await,
    );
    sent.push(
        send(
            &c,
            &base,
            &admin,
            "POST",
            "/api/v1/admin/orgs",
            Some(&format!("{{\"code\": {VALID}, \"name\": \"{VALID_X}\"}}")),
        )
        .await,
    );
    sent.push(
        send(
            &c,
            &base,
            &admin,
            "POST",
            "/api/v1/admin/keys",
            Some(&json!({"org_code": "SCJG", "role": VALID}).to_string()),
        )
        .await,
    );
    sent.push(
        send(
            &c,
            &base,
            &officer,
            "POST",
            "/api/v1/access-applications",
            Some(&json!({"org": VALID, "scope": VALID_X}).to_string()),
        )
        .await,
    );

    let _ = child.kill();
    let _ = child.wait();
    let log = log.join().unwrap();
    // Never a server error, and always an answer.
    for s in &sent {
        assert!(
            s.status != 0,
            "{}: {}\nthe server's log:\n{log}",
            s.what,
            s.body
        );
        assert!(
            s.status < 500,
            "{} answered {}: {}",
            s.what,
            s.status,
            s.body
        );
    }
    assert!(
        log.contains("HTTP request") && log.contains("exception.details"),
        "the log was captured with the request spans and their errors:\n{log}"
    );
    let stems = [&VALID[..17], &VALID_X[..17], &MISTYPED[..17]];
    for (i, line) in log.lines().enumerate() {
        for stem in stems {
            assert!(
                !line.contains(stem),
                "log line {i} holds an ID number: {line}"
            );
        }
        assert!(
            !line.contains("19901307"),
            "log line {i} holds birth digits: {line}"
        );
    }
    for s in &sent {
        for stem in stems {
            assert!(
                !s.body.contains(stem),
                "the answer to {} holds an ID number: {}",
                s.what,
                s.body
            );
        }
        assert!(
            !s.body.contains("19901307"),
            "the answer to {} holds birth digits: {}",
            s.what,
            s.body
        );
    }
    // Nor did anything the callers sent reach the database in plain text (the access log keeps
    // the ids and numbers of paths, even of things that do not exist): the SQLite files,
    // searched byte for byte.
    for entry in std::fs::read_dir(dir.path().join("data")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for stem in stems.iter().copied().chain(["19901307"]) {
            assert!(
                !bytes.windows(stem.len()).any(|w| w == stem.as_bytes()),
                "{} holds {stem}",
                path.display()
            );
        }
    }
}
