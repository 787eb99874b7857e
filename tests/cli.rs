//! The command line as an operator uses it: keys, migrate, rules, gen, serve (the import has
//! `tests/import.rs`).

mod common;
mod console_support;

use std::collections::HashMap;
use std::process::Command;

use common::*;
use serde_json::json;

fn creditgate(db: &TestDb) -> Command {
    creditgate_cli(&db.url)
}

/// A wrong setting stops the command at once, naming the variable and what it takes.
#[test]
fn a_wrong_setting_is_named() {
    let out = creditgate_cli("sqlite://unused.db")
        .env("CREDITGATE_PROFILE_CACHE", "lots")
        .args(["rules", "check"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("CREDITGATE_PROFILE_CACHE must be a number of profiles")
            && err.contains("'lots'"),
        "{err}"
    );
}

/// `rules check` and `rules test` on the shipped set pass; a broken copy fails naming file and line.
#[test]
fn rules_check_and_test() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_creditgate"))
            .args(args)
            .env("CREDITGATE_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let (ok, out) = run(&["rules", "check", shipped]);
    assert!(ok, "{out}");
    assert!(out.contains("is valid: 4 scenarios"), "{out}");
    let (ok, out) = run(&["rules", "test", shipped]);
    assert!(ok, "{out}");
    assert!(
        out.contains("0 failed")
            && out.contains("0 without a triggering case, 0 without a near miss"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    for sub in ["catalog", "scenarios", "calendar", "tests"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for e in std::fs::read_dir(format!("{shipped}/{sub}")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.path().join(sub).join(e.file_name())).unwrap();
        }
    }
    for file in ["ruleset.yaml", "periods.yaml"] {
        std::fs::copy(format!("{shipped}/{file}"), dir.path().join(file)).unwrap();
    }
    let copy = dir.path().to_str().unwrap();
    // A fixture whose expectation is wrong fails the test run.
    let fixture = dir.path().join("tests/procurement.yaml");
    let text = std::fs::read_to_string(&fixture).unwrap();
    std::fs::write(
        &fixture,
        text.replacen("verdict: prohibited", "verdict: clear", 1),
    )
    .unwrap();
    let (ok, out) = run(&["rules", "test", copy]);
    assert!(!ok);
    assert!(out.contains("FAIL  tests/procurement.yaml"), "{out}");
    // A measure without a basis and an unknown key: both reported with file and line.
    let scen = dir.path().join("scenarios/subsidy.yaml");
    let text = std::fs::read_to_string(&scen).unwrap();
    let broken = text
        .replacen("      in_force: true\n", "      in_force: true\n      colour: red\n", 1)
        .replace(
            "    basis:\n      - text: 《国务院关于建立完善守信联合激励和失信联合惩戒制度加快推进社会诚信建设的指导意见》（国发〔2016〕33号）\n        confidence: uncertain\n",
            "    basis: []\n",
        );
    assert_ne!(broken, text);
    std::fs::write(&scen, broken).unwrap();
    let (ok, out) = run(&["rules", "check", copy]);
    assert!(!ok);
    assert!(
        out.contains("error: scenarios/subsidy.yaml:") && out.contains("unknown field `colour`"),
        "{out}"
    );
    assert!(
        out.contains("subsidy.market_serious_illegal has no legal basis"),
        "{out}"
    );
}

async fn keys_create_prints_only_the_key(b: Backend) {
    let db = TestDb::new(b);
    let out = creditgate(&db)
        .args(["keys", "create", "--org", "SCJG", "--role", "provider"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.trim();
    assert_eq!(stdout.lines().count(), 1);
    assert!(key.starts_with("cg_") && key.len() > 40, "{stdout}");

    let bad = creditgate(&db)
        .args(["keys", "create", "--org", "SCJG", "--role", "boss"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("officer"));

    // The printed key works against a server on the same database.
    let migrate = creditgate(&db).arg("migrate").output().unwrap();
    assert!(migrate.status.success());
    assert!(String::from_utf8_lossy(&migrate.stderr).contains("up to date"));
}

async fn keys_list_revoke_and_rotate(b: Backend) {
    let db = TestDb::new(b);
    let run = |args: &[&str]| {
        let out = creditgate(&db).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, key, _) = run(&[
        "keys", "create", "--org", "ZWFW", "--role", "officer", "--label", "窗口",
    ]);
    assert!(ok);
    let key = key.trim().to_string();
    let (ok, list, _) = run(&["keys", "list", "--org", "ZWFW"]);
    assert!(ok);
    assert!(
        list.contains("officer") && list.contains("窗口") && !list.contains(&key),
        "{list}"
    );
    let id = list
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(id.starts_with("key_"), "{list}");

    let (ok, new_key, err) = run(&["keys", "rotate", &id]);
    assert!(ok, "{err}");
    let new_key = new_key.trim().to_string();
    assert!(new_key.starts_with("cg_") && new_key != key);
    let app = spawn_on(&db).await;
    assert_eq!(app.get("/api/v1/rules", Some(&key)).await.status, 401);
    assert_eq!(app.get("/api/v1/rules", Some(&new_key)).await.status, 200);
    let (ok, _, err) = run(&["keys", "rotate", &id]);
    assert!(!ok && err.contains("revoked"), "{err}");

    let (_, list, _) = run(&["keys", "list", "--org", "ZWFW"]);
    let new_id = list
        .lines()
        .skip(1)
        .find(|l| l.split_whitespace().nth(4) == Some("-"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let (ok, _, err) = run(&["keys", "revoke", &new_id]);
    assert!(ok && err.contains("revoked"), "{err}");
    // The running server held the key; the revocation reaches it within a second.
    assert!(
        comes_true(SPREAD, || async {
            app.get("/api/v1/rules", Some(&new_key)).await.status == 401
        })
        .await
    );
    let (ok, _, err) = run(&["keys", "revoke", "key_nope"]);
    assert!(!ok && err.contains("keys list"), "{err}");

    // The last admin key in force is never revoked, so the service always has an administrator.
    let (ok, admin_key, _) = run(&["keys", "create", "--org", "XYB", "--role", "admin"]);
    assert!(ok);
    let (_, list, _) = run(&["keys", "list"]);
    let mut admins: Vec<(String, String)> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w[2] == "admin" && w[4] == "-")
        .map(|w| (w[0].to_string(), w[1].to_string()))
        .collect();
    // XYB's key last: the others go first.
    admins.sort_by_key(|(_, org)| org == "XYB");
    assert!(admins.len() >= 2, "the server's and XYB's: {list}");
    let (last, others) = admins.split_last().unwrap();
    for (id, _) in others {
        let (ok, _, err) = run(&["keys", "revoke", id]);
        assert!(ok, "{err}");
    }
    let (ok, _, err) = run(&["keys", "revoke", &last.0]);
    assert!(!ok && err.contains("last admin key"), "{err}");
    assert_eq!(
        app.get("/api/v1/admin/keys", Some(admin_key.trim()))
            .await
            .status,
        200
    );
    run(&["keys", "create", "--org", "XYB", "--role", "admin"]);
    let (ok, _, err) = run(&["keys", "revoke", &last.0]);
    assert!(ok, "with another admin key in force it may go: {err}");
}

/// `serve --demo` in `dir`, on the embedded default: the keys it printed by role, and where it
/// listens (the child runs on).
fn start_demo(
    dir: &std::path::Path,
    bind: &str,
) -> (std::process::Child, HashMap<String, String>, String, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_creditgate"))
        .current_dir(dir)
        .env_remove("CREDITGATE_DATABASE_URL")
        .env_remove("CREDITGATE_REDIS_URL")
        .env(
            "CREDITGATE_RULES_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
        )
        .env("CREDITGATE_BIND", bind)
        .env("CREDITGATE_LOG", "warn")
        .args(["serve", "--demo", "--demo-subjects", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    let mut keys = HashMap::new();
    let mut base = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() == 3 && words[2].starts_with("cg_") {
            keys.insert(words[0].to_string(), words[2].to_string());
        }
        if let Some(rest) = line.strip_prefix("creditgate listening on ") {
            base = rest.split_whitespace().next().unwrap().to_string();
            break;
        }
    }
    // Read on to the end: a closed pipe would fail the server's next line (its "Try:" hints)
    // and end it.
    std::thread::spawn(move || lines.for_each(drop));
    (child, keys, base, printed)
}

/// The README's run command: `serve --demo` on the embedded default, in a fresh directory.
#[tokio::test]
async fn serve_demo_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, keys, base, printed) = start_demo(dir.path(), "127.0.0.1:0");
    assert_eq!(keys.len(), 6, "a key for each role: {keys:?}");
    assert!(
        dir.path().join("data/creditgate.db").exists(),
        "the SQLite default file"
    );
    let resp = reqwest::Client::new()
        .get(format!(
            "{base}/api/v1/subjects/91110000MA00000152?purpose=demo"
        ))
        .bearer_auth(&keys["officer"])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    let check = reqwest::Client::new()
        .post(format!("{base}/api/v1/checks"))
        .bearer_auth(&keys["officer"])
        .json(&json!({"scenario": "procurement", "subject": {"uscc": "91110000MA00000152"}, "purpose": "demo"}))
        .send()
        .await
        .unwrap();
    let check_status = check.status().as_u16();
    let report: serde_json::Value = check.json().await.unwrap();
    // The console: the printed one-time password signs the demo officer in; a check there
    // prints a report whose QR link verifies.
    let password = console_support::printed_password(&printed);
    let mut officer = console_support::Browser::new(&base);
    officer
        .first_sign_in("demo.officer", &password, console_support::NEW_PASSWORD)
        .await;
    let (path, _) = officer.procurement_report("91110000MA00000152").await;
    let page = officer.get(&path).await;
    let verify = page
        .attr("href")
        .into_iter()
        .chain(
            page.text
                .split("href=\"")
                .skip(1)
                .map(|h| h[..h.find('"').unwrap()].to_string()),
        )
        .find(|h| h.contains("/verify/"))
        .unwrap_or_else(|| panic!("no verify link on the report page:\n{}", page.text));
    let verified = console_support::verify_json(&verify).await;
    child.kill().unwrap();
    assert_eq!(page.attr("data-verdict").as_deref(), Some("prohibited"));
    assert_eq!(verified["valid"], true, "{verified}");
    child.wait().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["summary"]["active_lists"],
        json!(["court.dishonest_debtor"])
    );
    assert_eq!(
        body["subject"]["legal_rep"]["id_number"],
        "110101********0011"
    );
    assert_eq!(check_status, 201, "{report}");
    assert_eq!(report["verdict"], "prohibited", "{report}");

    // A second start keeps the data and replaces the keys: the last run's no longer open
    // anything, so a demo database never holds more than one set of valid demo keys.
    let (mut again, new_keys, base, printed) = start_demo(dir.path(), "127.0.0.1:0");
    assert!(printed.contains("already present"), "{printed}");
    // The demo officer has a new one-time password, to be changed again; the old one is spent.
    let second = console_support::printed_password(&printed);
    assert_ne!(second, password);
    let mut officer = console_support::Browser::new(&base);
    let first = officer.sign_in("demo.officer", &second).await;
    let spent = console_support::Browser::new(&base)
        .sign_in("demo.officer", console_support::NEW_PASSWORD)
        .await
        .status;
    let profile = |key: String| {
        let url = format!("{base}/api/v1/subjects/91110000MA00000152?purpose=demo");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (old, new) = (
        profile(keys["officer"].clone()).await,
        profile(new_keys["officer"].clone()).await,
    );
    again.kill().unwrap();
    again.wait().unwrap();
    assert_eq!((old, new), (401, 200));
    assert_eq!(first.location.as_deref(), Some("/console/password"));
    assert_eq!(spent, 401);
}

/// With the port taken, `serve --demo` fails at once, before it loads anything or prints a
/// key (it bound after loading, and printed keys for a server that never ran).
#[test]
fn serve_demo_binds_first() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, keys, base, printed) = start_demo(dir.path(), &addr);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(keys.is_empty() && base.is_empty(), "{printed}");
    assert!(!printed.contains("Demo data loaded"), "{printed}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

/// Instances that start together on a new PostgreSQL database (a cluster's first start) take
/// turns: every one of them comes up, and the schema is made once.
#[test]
fn instances_starting_together_migrate_once() {
    let db = TestDb::new(Backend::Postgres);
    let children: Vec<_> = (0..4)
        .map(|_| {
            creditgate(&db)
                .arg("migrate")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{err}");
        if !err.contains("up to date") {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "the schema was made by more than one instance");
}

#[test]
fn database_errors_are_the_backends_own() {
    let run = |url: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_creditgate"))
            .env("CREDITGATE_DATABASE_URL", url)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let base = postgres_admin_url();
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(&base);
    let missing = run(&format!("{base}/cg_no_such_database"));
    assert!(
        missing.contains("cg_no_such_database") && missing.contains("does not exist"),
        "{missing}"
    );
    let scheme = run("mysql://root:secret@127.0.0.1/db");
    assert!(
        scheme.contains("sqlite://") && !scheme.contains("secret"),
        "{scheme}"
    );
}

async fn gen_is_deterministic_and_readable(b: Backend) {
    let mut digests = Vec::new();
    for _ in 0..2 {
        let db = TestDb::new(b);
        let out = creditgate(&db)
            .args([
                "gen",
                "--subjects",
                "40",
                "--records-per-subject",
                "3",
                "--seed",
                "7",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("generated 40 subjects and 120 records"),
            "{stderr}"
        );
        let url = db.url.clone();
        let (codes, hashes) = tokio::task::spawn_blocking(move || {
            let pool = creditgate::store::connect(&url, 1).unwrap();
            let mut conn = pool.get().unwrap();
            let codes = creditgate::store::subjects::keys_page(&mut conn, 0, 1000).unwrap();
            let mut hashes = Vec::new();
            for code in &codes {
                let (_, records) = creditgate::store::records::of_subject_key(&mut conn, code)
                    .unwrap()
                    .unwrap();
                for r in records {
                    hashes.push(format!("{}:{}", r.source_record_id, r.content_hash));
                }
            }
            hashes.sort();
            (codes, hashes)
        })
        .await
        .unwrap();
        assert_eq!(codes.len(), 40);
        assert_eq!(hashes.len(), 120);
        // Generated data reads back through the API like any other: an admin sees every
        // record, those past their publicity period or revoked included.
        let admin = {
            let out = creditgate(&db)
                .args(["keys", "create", "--org", "XYB", "--role", "admin"])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        let app = spawn_on(&db).await;
        let uscc = codes[0].strip_prefix("uscc:").unwrap();
        let p = app.subject(&admin, uscc).await;
        assert_eq!(p.status, 200, "{}", p.text);
        assert_eq!(p.body["records"].as_array().unwrap().len(), 3, "{}", p.text);
        digests.push(hashes);
    }
    assert_eq!(digests[0], digests[1], "same seed, different data");
}

on_both_backends!(
    keys_list_revoke_and_rotate,
    keys_create_prints_only_the_key,
    gen_is_deterministic_and_readable,
);

/// SIGHUP reloads the rule files of a running server; a broken set on SIGHUP leaves it as it was.
#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_rules() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for sub in ["catalog", "scenarios", "calendar"] {
        std::fs::create_dir_all(rules.join(sub)).unwrap();
        for e in std::fs::read_dir(shipped.join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), rules.join(sub).join(e.file_name())).unwrap();
        }
    }
    std::fs::copy(shipped.join("periods.yaml"), rules.join("periods.yaml")).unwrap();
    std::fs::write(rules.join("ruleset.yaml"), "version: before\n").unwrap();
    let admin = "cg_test_sighup_admin_key_0123456789abcdef";
    let mut child = Command::new(env!("CARGO_BIN_EXE_creditgate"))
        .current_dir(dir.path())
        .env_remove("CREDITGATE_DATABASE_URL")
        .env_remove("CREDITGATE_REDIS_URL")
        .env("CREDITGATE_RULES_DIR", &rules)
        .env("CREDITGATE_ADMIN_KEY", admin)
        .env("CREDITGATE_BIND", "127.0.0.1:0")
        .env("CREDITGATE_LOG", "warn")
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut base = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(rest) = line.unwrap().strip_prefix("creditgate listening on ") {
            base = rest.split_whitespace().next().unwrap().to_string();
            break;
        }
    }
    let client = reqwest::Client::new();
    let version = || async {
        let v: serde_json::Value = client
            .get(format!("{base}/api/v1/rules"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["version"].as_str().unwrap_or_default().to_string()
    };
    let hup = |pid: u32| {
        let ok = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    let wait_for = |want: &'static str| async move {
        for _ in 0..50 {
            if version().await == want {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    };
    assert_eq!(version().await, "before");
    std::fs::write(rules.join("ruleset.yaml"), "version: after\n").unwrap();
    hup(child.id());
    let reloaded = wait_for("after").await;
    // A broken set: the server keeps "after".
    std::fs::write(rules.join("ruleset.yaml"), "version: broken\nbogus: 1\n").unwrap();
    hup(child.id());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let kept = version().await;
    let alive = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(reloaded, "SIGHUP did not reload the rules");
    assert_eq!(kept, "after", "a broken set replaced a good one");
    assert!(alive, "the server stopped on SIGHUP");
}
