//! `creditgate backup` and `creditgate restore` (issue #19): a restore into a fresh database
//! passes `audit verify` and answers the same reports with the same digests; what would not
//! read (another data key, a damaged copy) or would overwrite data is refused with nothing
//! written.

mod common;

use common::*;
use serde_json::Value;

const OTHER_KEY: &str = "7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b";

fn run(db_url: &str, key: &str, args: &[&str]) -> (bool, String) {
    let out = creditgate_cli(db_url)
        .env("CREDITGATE_DATA_KEY", key)
        .args(args)
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

fn empty(db: &TestDb, b: Backend) -> bool {
    let backend = match b {
        Backend::Postgres => creditgate::store::Backend::Postgres,
        Backend::Sqlite => creditgate::store::Backend::Sqlite,
    };
    creditgate::store::backup::is_empty(&db.url, backend).unwrap()
}

async fn a_restore_verifies_and_gives_the_same_reports(b: Backend) {
    let db = TestDb::new(b);
    let (officer, reports) = {
        let app = spawn_on(&db).await;
        let court = app.key("FY", "provider").await;
        let scjg = app.key("SCJG", "provider").await;
        let officer = app.key("CGZX", "officer").await;
        let mut reports: Vec<(String, Value)> = Vec::new();
        for i in 0..4 {
            let c = code(20 + i);
            app.batch(&scjg, vec![penalty(&format!("CF-{i}"), &c)])
                .await;
            if i % 2 == 0 {
                app.batch(
                    &court,
                    vec![list_entry(&format!("FY-{i}"), &c, "court.dishonest_debtor")],
                )
                .await;
            }
            let rep = app.check(&officer, procurement(&c)).await;
            assert_eq!(rep.status, 201, "{}", rep.text);
            let no = rep.body["report_no"].as_str().unwrap().to_string();
            reports.push((no, rep.body));
        }
        (officer, reports)
    };
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup");
    let bdir = backup.to_str().unwrap();
    let (ok, out) = run(&db.url, TEST_DATA_KEY, &["backup", bdir]);
    assert!(ok, "{out}");
    assert!(out.contains("4 reports"), "{out}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    // The key's id, never the key.
    assert!(!std::fs::read_to_string(backup.join("manifest.json"))
        .unwrap()
        .contains(TEST_DATA_KEY));
    assert_eq!(manifest["contents"]["subjects"], 4, "{manifest}");
    assert!(
        manifest["checkpoint"]["head_seq"].as_i64().unwrap() > 0,
        "{manifest}"
    );
    // Under another key a backup neither seals nor copies.
    let elsewhere = dir.path().join("elsewhere");
    let (ok, out) = run(&db.url, OTHER_KEY, &["backup", elsewhere.to_str().unwrap()]);
    assert!(!ok && out.contains("is not the key"), "{out}");
    assert!(!elsewhere.join("manifest.json").exists());
    let (ok, out) = run(&db.url, TEST_DATA_KEY, &["backup", bdir]);
    assert!(!ok && out.contains("holds a backup already"), "{out}");

    // Refused, and nothing written: another data key; a database that holds data; a damaged copy.
    let fresh = TestDb::new(b);
    let (ok, out) = run(&fresh.url, OTHER_KEY, &["restore", bdir]);
    assert!(!ok, "{out}");
    assert!(out.contains("taken under another data key"), "{out}");
    assert!(empty(&fresh, b), "a refused restore wrote something");
    let (ok, out) = run(&db.url, TEST_DATA_KEY, &["restore", bdir]);
    assert!(!ok && out.contains("is not empty"), "{out}");
    let damaged = dir.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    copy_dir(&backup, &damaged);
    let file = damaged.join(manifest["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&file, bytes).unwrap();
    let (ok, out) = run(
        &fresh.url,
        TEST_DATA_KEY,
        &["restore", damaged.to_str().unwrap()],
    );
    assert!(!ok && out.contains("damaged or altered"), "{out}");
    assert!(empty(&fresh, b));
    // A manifest edited to match (here, its counts) is refused by its MAC.
    let edited = dir.path().join("edited");
    std::fs::create_dir(&edited).unwrap();
    copy_dir(&backup, &edited);
    let mut m = manifest.clone();
    m["contents"]["reports"] = serde_json::json!(5);
    std::fs::write(edited.join("manifest.json"), m.to_string()).unwrap();
    let (ok, out) = run(
        &fresh.url,
        TEST_DATA_KEY,
        &["restore", edited.to_str().unwrap()],
    );
    assert!(
        !ok && out.contains("does not carry the data key's MAC"),
        "{out}"
    );
    assert!(empty(&fresh, b));

    // The restore: the chain whole and holding the backup's head, the counts the same.
    let (ok, out) = run(&fresh.url, TEST_DATA_KEY, &["restore", bdir]);
    assert!(ok, "{out}");
    assert!(
        out.contains(", 0 breaks") && !out.contains("PROBLEM"),
        "{out}"
    );
    let (ok, out) = run(&fresh.url, TEST_DATA_KEY, &["audit", "verify"]);
    assert!(ok && out.contains("; 0 breaks"), "{out}");
    // The same reports, with the same digests, verified by the restored service (the keys are
    // restored too).
    let app = spawn_on(&fresh).await;
    for (no, answered) in &reports {
        let stored = app
            .get(&format!("/api/v1/checks/{no}"), Some(&officer))
            .await;
        assert_eq!(stored.status, 200, "{}", stored.text);
        assert_eq!(stored.body["digest"], answered["digest"]);
        assert_eq!(stored.body["verdict"], answered["verdict"]);
        let digest = answered["digest"].as_str().unwrap();
        let v = app
            .get(
                &format!("/api/v1/checks/{no}/verify?digest={digest}"),
                Some(&officer),
            )
            .await;
        assert_eq!(v.status, 200, "{}", v.text);
        assert_eq!(v.body["valid"], true, "{}", v.text);
    }
    let verdicts: Vec<&Value> = reports.iter().map(|(_, r)| &r["verdict"]).collect();
    assert!(verdicts.iter().any(|v| *v == "prohibited"), "{verdicts:?}");
}

/// An older creditgate meets a database, or a backup, that a newer one upgraded. The database:
/// an instance goes on, warned, while its own migrations are all applied (a rolling upgrade); it
/// is refused, untouched, when one of its own would have to run after the newer ones. The backup:
/// refused before anything is loaded.
async fn a_newer_schema_is_refused(b: Backend) {
    use diesel::connection::SimpleConnection;
    let db = TestDb::new(b);
    drop(spawn_on(&db).await);
    let exec = |url: &str, sql: &str| {
        let pool = creditgate::store::connect(url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        conn.batch_execute(sql).unwrap();
    };
    exec(
        &db.url,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('99991231000001')",
    );
    let (ok, out) = run(&db.url, TEST_DATA_KEY, &["migrate"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("upgraded by a newer creditgate") && out.contains("99991231000001"),
        "{out}"
    );
    let newest = creditgate::store::known_schema_versions(match b {
        Backend::Postgres => creditgate::store::Backend::Postgres,
        Backend::Sqlite => creditgate::store::Backend::Sqlite,
    })
    .pop()
    .unwrap();
    let migrated = |url: &str| {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let pool = creditgate::store::connect(url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        diesel::RunQueryDsl::get_result::<N>(
            diesel::sql_query(format!(
                "SELECT count(*) AS n FROM __diesel_schema_migrations WHERE version = '{newest}'"
            )),
            &mut *conn,
        )
        .unwrap()
        .n
    };
    {
        // This build's newest migration not applied, a newer one applied: refused.
        let other = TestDb::new(b);
        drop(spawn_on(&other).await);
        exec(
            &other.url,
            &format!(
                "DELETE FROM __diesel_schema_migrations WHERE version = '{newest}'; \
                 INSERT INTO __diesel_schema_migrations (version) VALUES ('99991231000001')"
            ),
        );
        let (ok, out) = run(&other.url, TEST_DATA_KEY, &["migrate"]);
        assert!(!ok, "{out}");
        assert!(
            out.contains("newer than this creditgate") && out.contains("99991231000001"),
            "{out}"
        );
        assert_eq!(migrated(&other.url), 0, "a refused migrate ran a migration");
    }
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup");
    let (ok, out) = run(
        &db.url,
        TEST_DATA_KEY,
        &["backup", backup.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    let fresh = TestDb::new(b);
    let (ok, out) = run(
        &fresh.url,
        TEST_DATA_KEY,
        &["restore", backup.to_str().unwrap()],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("schema version 99991231000001")
            && out.contains("restore it with that version"),
        "{out}"
    );
    assert!(empty(&fresh, b), "a refused restore wrote something");
}

on_both_backends!(
    a_restore_verifies_and_gives_the_same_reports,
    a_newer_schema_is_refused
);
