//! Personal data: ID numbers are masked in every answer and never stored in plain text.

mod common;

use common::*;
use diesel::{QueryableByName, RunQueryDsl};
use serde_json::json;

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Every text cell of every table that contains `needle`, as `table.column` (tables and columns
/// read from the database's own catalog, so a new table is searched too).
fn cells_containing(db_url: &str, b: Backend, needle: &str) -> Vec<String> {
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
    let mut hits = Vec::new();
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
                "SELECT count(*) AS n FROM \"{}\" WHERE CAST(\"{}\" AS TEXT) LIKE '%{needle}%'",
                t.name, c.name
            );
            let n: Vec<Count> = diesel::sql_query(q).load(&mut *conn).unwrap();
            if n[0].n > 0 {
                hits.push(format!("{}.{}", t.name, c.name));
            }
        }
    }
    hits
}

async fn id_numbers_are_masked_and_never_stored_plain(b: Backend) {
    let app = spawn_app(b).await;
    let scjg = app.key("SCJG", "provider").await;
    let court = app.key("FY", "provider").await;
    let officer = app.key("ZWFW", "officer").await;
    let c = code(1);
    let r = app.batch(&scjg, vec![penalty("CF-1", &c)]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    let person = json!({
        "source_record_id": "FY-P-1", "kind": "list_entry", "list_code": "court.dishonest_debtor",
        "subject": {"kind": "natural_person", "name": "张三", "id_number": "110101199003070011"},
        "decision_date": "2026-02-01", "valid_from": "2026-02-01",
        "sharing_class": "unconditional", "open_class": "open"
    });
    let r = app.batch(&court, vec![person.clone()]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);
    // The same again is unchanged: the content hash does not depend on the random IV.
    let again = app.batch(&court, vec![person]).await;
    assert_eq!(
        again.body["results"][0]["status"], "unchanged",
        "{}",
        again.text
    );

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
    assert!(!p.text.contains("110101199003070011"));
    // The person is still found by ID number: the legal representative bars market entry.
    let rep = app
        .post(
            "/api/v1/checks",
            Some(&officer),
            &json!({"scenario": "market_entry", "subject": {"uscc": c}, "purpose": "变更登记审查"}),
        )
        .await;
    assert_eq!(rep.body["verdict"], "prohibited", "{}", rep.text);
    assert!(!rep.text.contains("110101199003070011"));

    let url = app.db_url.clone();
    let hits = tokio::task::spawn_blocking(move || {
        let mut hits = cells_containing(&url, b, "110101199003070011");
        // Nor the number without its check character.
        hits.extend(cells_containing(&url, b, "11010119900307001"));
        hits
    })
    .await
    .unwrap();
    assert!(hits.is_empty(), "plain ID numbers stored in {hits:?}");
}

on_both_backends!(id_numbers_are_masked_and_never_stored_plain);
