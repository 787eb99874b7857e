//! The rule history (API.md "Impact analysis and replay", `GET /api/v1/rules/history`): every
//! rule set that was in use, from when to when, how and by whom it was activated, its digest,
//! and what changed from the set before it.

mod common;

use common::*;
use serde_json::{json, Value};

on_both_backends!(reloads_and_restarts_make_the_history);

/// The rows of the history as stored (the answer merges repeats, these must not have any).
fn activations(db: &TestDb) -> usize {
    let pool = creditgate::store::connect(&db.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    creditgate::store::rule_history::all(&mut conn)
        .unwrap()
        .len()
}

fn sets(history: &Answer) -> Vec<Value> {
    assert_eq!(history.status, 200, "{}", history.text);
    history.body["sets"].as_array().unwrap().clone()
}

async fn reloads_and_restarts_make_the_history(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    copy_dir(&shipped, dir.path());
    let db = TestDb::new(b);
    let own_rules = || Options {
        rules_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    };
    let app = spawn_on_with(&db, own_rules()).await;
    let officer = app.key("CGZX", "officer").await;
    let first_digest = app.get("/api/v1/rules", Some(&officer)).await.body["digest"]
        .as_str()
        .unwrap()
        .to_string();

    // A new database: the set the server started with, in use until now.
    let h = sets(&app.get("/api/v1/rules/history", Some(&officer)).await);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["digest"], first_digest.as_str());
    assert_eq!(h[0]["how"], "startup");
    assert_eq!(h[0]["to"], Value::Null);
    assert_eq!(
        h[0]["changes"],
        Value::Null,
        "the first set has nothing before it"
    );

    // An admin lowers the procurement fine threshold and reloads.
    lower_fine_threshold(dir.path());
    let r = app
        .post(
            "/api/v1/admin/rules/reload",
            Some(&app.admin_key),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let second_digest = r.body["digest"].as_str().unwrap().to_string();
    // The same files again: no new period.
    let again = app
        .post(
            "/api/v1/admin/rules/reload",
            Some(&app.admin_key),
            &json!({}),
        )
        .await;
    assert_eq!(again.body["changed"], false, "{}", again.text);

    assert_eq!(
        activations(&db),
        2,
        "a reload of the same files adds no row"
    );
    let h = sets(&app.get("/api/v1/rules/history", Some(&officer)).await);
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[1]["digest"], second_digest.as_str());
    assert_eq!(h[1]["how"], "reload");
    assert_eq!(
        h[0]["to"], h[1]["from"],
        "one period ends as the next begins"
    );
    assert_eq!(h[1]["to"], Value::Null);
    assert!(h[1]["by_org"].is_string(), "{:?}", h[1]);
    assert_eq!(
        h[1]["by_key"],
        Value::Null,
        "an officer is not shown key ids"
    );
    let changed = h[1]["changes"]["measures_changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{:?}", h[1]["changes"]);
    assert!(changed[0]["id"]
        .as_str()
        .unwrap()
        .starts_with("procurement."));
    let what = changed[0]["changes"].as_array().unwrap();
    assert_eq!(what.len(), 1, "{what:?}");
    let what = what[0].as_str().unwrap();
    assert!(
        what.starts_with("when.fine_at_least: ")
            && what.contains("2000000")
            && what.contains("500000"),
        "{what}"
    );
    for empty in [
        "measures_added",
        "measures_removed",
        "lists_changed",
        "periods_changed",
        "calendars_changed",
    ] {
        assert_eq!(
            h[1]["changes"][empty],
            json!([]),
            "{empty}: {:?}",
            h[1]["changes"]
        );
    }
    let by_admin = sets(&app.get("/api/v1/rules/history", Some(&app.admin_key)).await);
    assert!(by_admin[1]["by_key"].is_string(), "{:?}", by_admin[1]);

    // A second instance with the same files adds nothing; one started with the shipped files
    // puts them back in use, and the history says so.
    let same = spawn_on_with(&db, own_rules()).await;
    let h = sets(&same.get("/api/v1/rules/history", Some(&officer)).await);
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(activations(&db), 2, "a start with the last set adds no row");
    let old = spawn_on(&db).await;
    let h = sets(&old.get("/api/v1/rules/history", Some(&officer)).await);
    assert_eq!(h.len(), 3, "{h:?}");
    assert_eq!(h[2]["digest"], first_digest.as_str());
    assert_eq!(h[2]["how"], "startup");
    assert_eq!(h[1]["to"], h[2]["from"]);
    let back = h[2]["changes"]["measures_changed"][0]["changes"][0]
        .as_str()
        .unwrap();
    assert!(back.ends_with("2000000.00"), "{back}");
}
