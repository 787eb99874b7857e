//! Watch lists (API.md "Watch lists"): made by systems and partners with a webhook target from
//! the allow list and a signing secret shown once; subjects replaced, added and removed, at most
//! 100,000; a list is its organisation's.

mod common;

use common::*;
use creditgate::domain::webhook;
use serde_json::{json, Value};

on_both_backends!(
    a_list_is_made_with_a_secret_shown_once,
    targets_and_scenarios_are_checked,
    subjects_are_replaced_added_and_removed,
    codes_come_as_csv_or_xlsx_files,
    a_list_holds_at_most_100000_subjects,
);

fn body(url: &str) -> Value {
    json!({"name": "在建项目承包商", "webhook_url": url, "scenarios": ["procurement"]})
}

async fn make(app: &TestApp, key: &str) -> Value {
    let r = app
        .post(
            "/api/v1/watchlists",
            Some(key),
            &body("https://hooks.example.test/cg"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

fn field_codes(a: &Answer) -> Vec<(String, String)> {
    a.body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| {
                    (
                        x["field"].as_str().unwrap_or("").to_string(),
                        x["code"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn a_list_is_made_with_a_secret_shown_once(b: Backend) {
    let app = spawn_app(b).await;
    let system = app.key("ZFCG-SYS", "system").await;
    let made = make(&app, &system).await;
    let id = made["id"].as_str().unwrap();
    assert!(id.starts_with("wl_"));
    let secret = made["secret"].as_str().unwrap();
    assert_eq!(webhook::secret_bytes(secret).unwrap().len(), 32);
    assert_eq!(made["subjects"], 0);
    assert_eq!(made["scenarios"], json!(["procurement"]));
    // Never again: not in the list, not in the list's own answer, not stored in clear.
    let one = app
        .get(&format!("/api/v1/watchlists/{id}"), Some(&system))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    let all = app.get("/api/v1/watchlists", Some(&system)).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 1);
    let b64 = secret.trim_start_matches("whsec_");
    for text in [&one.text, &all.text] {
        assert!(!text.contains(b64), "the secret shown again: {text}");
    }
    let pool = creditgate::store::connect(&app.db_url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let row = creditgate::store::watchlists::find(&mut conn, id)
        .unwrap()
        .unwrap();
    assert!(row.secret.starts_with("sm4ctr1:") && !row.secret.contains(b64));
    // Another organisation's system does not find it; the admin does.
    let other = app.key("ZB-SYS", "system").await;
    assert_eq!(
        app.get(&format!("/api/v1/watchlists/{id}"), Some(&other))
            .await
            .status,
        404
    );
    assert_eq!(
        app.get("/api/v1/watchlists", Some(&other)).await.body["items"],
        json!([])
    );
    assert_eq!(
        app.get(&format!("/api/v1/watchlists/{id}"), Some(&app.admin_key))
            .await
            .status,
        200
    );
    // Deleted: gone, for its owner too; the log has both changes.
    let del = app
        .send(
            "delete",
            &format!("/api/v1/watchlists/{id}"),
            Some(&system),
            &json!({}),
        )
        .await;
    assert_eq!(del.status, 204, "{}", del.text);
    assert_eq!(
        app.get(&format!("/api/v1/watchlists/{id}"), Some(&system))
            .await
            .status,
        404
    );
    let auditor = app.key("AUDIT", "auditor").await;
    for action in ["watchlist.create", "watchlist.change"] {
        let e = app
            .get(
                &format!("/api/v1/audit/entries?action={action}"),
                Some(&auditor),
            )
            .await;
        assert_eq!(
            e.body["entries"].as_array().unwrap().len(),
            1,
            "{action}: {}",
            e.text
        );
        assert!(!e.text.contains(b64));
    }
}

async fn targets_and_scenarios_are_checked(b: Backend) {
    let app = spawn_app(b).await;
    let system = app.key("ZFCG-SYS", "system").await;
    for (url, code) in [
        ("https://evil.example/hook", "webhook_not_allowed"),
        (
            "https://hooks.example.test.evil.example/",
            "webhook_not_allowed",
        ),
        ("ftp://hooks.example.test/", "webhook_not_allowed"),
        ("https://user:pw@hooks.example.test/", "webhook_not_allowed"),
        ("not a url", "webhook_not_allowed"),
        ("", "required"),
    ] {
        let r = app
            .post("/api/v1/watchlists", Some(&system), &body(url))
            .await;
        assert_eq!(r.status, 422, "{url}: {}", r.text);
        assert_eq!(
            field_codes(&r),
            [("webhook_url".to_string(), code.to_string())],
            "{url}"
        );
    }
    let r = app
        .post("/api/v1/watchlists", Some(&system), &json!({"name": "", "webhook_url": "https://hooks.example.test/", "scenarios": ["procurement", "no_such"]}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        field_codes(&r),
        [
            ("name".to_string(), "required".to_string()),
            ("scenarios[1]".to_string(), "unknown_scenario".to_string())
        ]
    );
    // A partner watches only what its agreement in force covers.
    let partner = app.key("BANK", "partner").await;
    let refused = app
        .post(
            "/api/v1/watchlists",
            Some(&partner),
            &body("https://hooks.example.test/bank"),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let a = app
        .post("/api/v1/admin/agreements", Some(&app.admin_key), &json!({"org_code": "BANK", "scenarios": ["procurement"], "record_kinds": ["penalty"], "valid_from": "2026-01-01", "valid_to": "2026-12-31", "daily_quota": 100}))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(
        app.post(
            "/api/v1/watchlists",
            Some(&partner),
            &body("https://hooks.example.test/bank")
        )
        .await
        .status,
        201
    );
    // Nothing was made by the refusals.
    assert_eq!(
        app.get("/api/v1/watchlists", Some(&app.admin_key))
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn subjects_are_replaced_added_and_removed(b: Backend) {
    let (app, system, id, path) = system_with_a_list(b).await;
    let (a, c1, c2, c3) = (code(1), code(2), code(3), code(4));
    let r = app
        .post(&path, Some(&system), &json!({"uscc": [a, c1, a]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"subjects": 2, "added": 2, "removed": 0}));
    // One bad code: said where, nothing changes.
    let mut bad = c2.clone();
    bad.pop();
    bad.push(if c2.ends_with('0') { '1' } else { '0' });
    let r = app
        .post(&path, Some(&system), &json!({"uscc": [c2, bad]}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(field_codes(&r)[0].0, "uscc[1]");
    // Told as (subjects now, added, removed).
    let told = |r: Answer| {
        assert_eq!(r.status, 200, "{}", r.text);
        (
            r.body["subjects"].clone(),
            r.body["added"].clone(),
            r.body["removed"].clone(),
        )
    };
    let r = app
        .send("put", &path, Some(&system), &json!({"uscc": [c1, c3]}))
        .await;
    assert_eq!(told(r), (json!(2), json!(1), json!(1)));
    let r = app
        .send("delete", &path, Some(&system), &json!({"uscc": [c3, c2]}))
        .await;
    assert_eq!(told(r), (json!(1), json!(0), json!(1)));
    let r = app
        .send("put", &path, Some(&system), &json!({"uscc": []}))
        .await;
    assert_eq!(r.status, 422);
    let seen = app
        .get(&format!("/api/v1/watchlists/{id}"), Some(&system))
        .await;
    assert_eq!(seen.body["subjects"], 1);
    // Another organisation's key cannot change it.
    let other = app.key("ZB-SYS", "system").await;
    let r = app.post(&path, Some(&other), &json!({"uscc": [a]})).await;
    assert_eq!(r.status, 404);
}

async fn a_list_holds_at_most_100000_subjects(b: Backend) {
    let (app, system, id, path) = system_with_a_list(b).await;
    let codes: Vec<String> = (0..100_000).map(code).collect();
    let r = app
        .send("put", &path, Some(&system), &json!({"uscc": codes}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["subjects"], 100_000);
    // One more is refused, and nothing is added.
    let r = app
        .post(&path, Some(&system), &json!({"uscc": [code(100_001)]}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        field_codes(&r),
        [("uscc".to_string(), "too_many".to_string())]
    );
    let seen = app
        .get(&format!("/api/v1/watchlists/{id}"), Some(&system))
        .await;
    assert_eq!(seen.body["subjects"], 100_000);
    let mut over: Vec<String> = (0..100_001).map(code).collect();
    over.reverse();
    let r = app
        .send("put", &path, Some(&system), &json!({"uscc": over}))
        .await;
    assert_eq!(r.status, 422);
}

/// The app, a system's key, a list of the system's, and the path of the list's subjects.
async fn system_with_a_list(b: Backend) -> (TestApp, String, String, String) {
    let app = spawn_app(b).await;
    let system = app.key("ZFCG-SYS", "system").await;
    let id = make(&app, &system).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/watchlists/{id}/subjects");
    (app, system, id, path)
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let sheet = wb.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, *v).unwrap();
        }
    }
    wb.save_to_buffer().unwrap()
}

async fn codes_come_as_csv_or_xlsx_files(b: Backend) {
    let (app, system, id, path) = system_with_a_list(b).await;
    let (c1, c2, c3) = (code(31), code(32), code(33));
    // A CSV as a spreadsheet saves it: a byte order mark, CRLF, a column beside the codes.
    let csv = format!("\u{feff}名称,USCC\r\n甲公司,{c1}\r\n乙公司, {c2} \r\n\r\n");
    let r = app
        .send_typed("put", &path, Some(&system), csv.into_bytes(), "text/csv")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"subjects": 2, "added": 2, "removed": 0}));
    // An XLSX adds, and its header may be in any case.
    let book = xlsx(&[&["uscc"], &[&c3], &[&c1]]);
    let r = app
        .send_typed("post", &path, Some(&system), book, XLSX)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"subjects": 3, "added": 1, "removed": 0}));
    // A bad code is named by the line it is on; nothing changes.
    let mut bad = c2.clone();
    bad.pop();
    bad.push(if c2.ends_with('0') { '1' } else { '0' });
    let csv = format!("uscc\n{c1}\n{bad}\n");
    let r = app
        .send_typed("delete", &path, Some(&system), csv.into_bytes(), "text/csv")
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        field_codes(&r),
        [("line[3]".to_string(), "uscc_check_digit".to_string())]
    );
    let r = app
        .send_typed(
            "put",
            &path,
            Some(&system),
            b"code\n1\n".to_vec(),
            "text/csv",
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        field_codes(&r),
        [("file".to_string(), "no_uscc_column".to_string())]
    );
    assert!(r.text.contains("CODE"), "{}", r.text);
    let r = app
        .send_typed(
            "put",
            &path,
            Some(&system),
            b"PK\x03\x04 not a zip".to_vec(),
            XLSX,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        field_codes(&r),
        [("file".to_string(), "unreadable_file".to_string())]
    );
    let r = app
        .send_typed("put", &path, Some(&system), b"uscc\n".to_vec(), "text/csv")
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let seen = app
        .get(&format!("/api/v1/watchlists/{id}"), Some(&system))
        .await;
    assert_eq!(seen.body["subjects"], 3);
}
