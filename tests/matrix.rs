//! The authorisation matrix: every `/api/v1` operation of the OpenAPI document × every role,
//! with the expected status, from one table; and, for the paths that return credit data, every
//! sharing class × role with the records shown. A new operation without a row fails the test.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

const ROLES: [&str; 7] = [
    "admin", "provider", "officer", "system", "partner", "auditor", "none",
];

/// Expected statuses in the order of `ROLES`.
struct Row {
    method: &'static str,
    path: &'static str,
    expect: [u16; 7],
}

const TABLE: &[Row] = &[
    Row {
        method: "post",
        path: "/api/v1/records/batch",
        expect: [200, 200, 403, 403, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/records/{id}",
        expect: [200, 200, 200, 200, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/subjects/{uscc}",
        expect: [200, 200, 200, 200, 200, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/checks",
        expect: [201, 403, 201, 201, 201, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/checks/batch",
        expect: [200, 403, 200, 200, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/checks/{report_no}",
        expect: [200, 404, 200, 404, 404, 200, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/checks/{report_no}/verify",
        expect: [200, 200, 200, 200, 200, 200, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/checks/{report_no}/feedback",
        // The report is the officer's organisation's: another (system) finds none.
        expect: [201, 403, 201, 404, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/rules",
        expect: [200, 200, 200, 200, 200, 200, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/rules/history",
        expect: [200, 200, 200, 200, 200, 200, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/rules/reload",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    // Impact analyses: admins only (the rows below read a job the admin made).
    Row {
        method: "post",
        path: "/api/v1/admin/rules/impact",
        expect: [202, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/admin/rules/impact/{id}",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/admin/rules/impact/{id}/result.csv",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/admin/rules/impact/{id}/result.json",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/admin/sync",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/admin/orgs",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/orgs",
        expect: [201, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/admin/keys",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/keys",
        expect: [201, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/keys/{id}/revoke",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/keys/{id}/rotate",
        expect: [201, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/admin/agreements",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/agreements",
        expect: [201, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/agreements/{id}/revoke",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/audit/entries",
        expect: [200, 403, 403, 403, 403, 200, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/access-applications",
        expect: [403, 201, 201, 201, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/access-applications",
        expect: [200, 200, 200, 200, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/access-applications/{id}/approve",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/access-applications/{id}/reject",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/special-grants",
        expect: [201, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/admin/access-grants/{id}/revoke",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/objections",
        expect: [201, 403, 201, 201, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/objections",
        expect: [200, 200, 200, 200, 403, 200, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/objections/{id}",
        // Filed by the officer's organisation about the provider's record: the system's
        // organisation is neither, and finds none.
        expect: [200, 200, 200, 404, 403, 200, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/objections/{id}/decision",
        expect: [200, 403, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/objections/{id}/answer",
        expect: [200, 200, 403, 403, 403, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/repairs",
        expect: [201, 201, 403, 403, 403, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/repairs",
        expect: [200, 200, 403, 403, 403, 200, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/repairs/{id}",
        expect: [200, 200, 403, 403, 403, 200, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/repairs/{id}/decision",
        expect: [200, 200, 403, 403, 403, 403, 401],
    },
    // Watch lists: systems, partners (within their agreement) and admins. A list is its
    // organisation's: the rows below use the system's (the admin sees every list; the partner
    // finds none of another organisation's: 404).
    Row {
        method: "post",
        path: "/api/v1/watchlists",
        expect: [201, 403, 403, 201, 201, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/watchlists",
        expect: [200, 403, 403, 200, 200, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/watchlists/{id}",
        expect: [200, 403, 403, 200, 404, 403, 401],
    },
    Row {
        method: "delete",
        path: "/api/v1/watchlists/{id}",
        expect: [204, 403, 403, 204, 404, 403, 401],
    },
    Row {
        method: "put",
        path: "/api/v1/watchlists/{id}/subjects",
        expect: [200, 403, 403, 200, 404, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/watchlists/{id}/subjects",
        expect: [200, 403, 403, 200, 404, 403, 401],
    },
    Row {
        method: "delete",
        path: "/api/v1/watchlists/{id}/subjects",
        expect: [200, 403, 403, 200, 404, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/watchlists/{id}/deliveries",
        expect: [200, 403, 403, 200, 404, 403, 401],
    },
    Row {
        method: "post",
        path: "/api/v1/watchlists/{id}/deliveries/{event}/redeliver",
        expect: [202, 403, 403, 202, 404, 403, 401],
    },
    // Bulk checks: whoever runs checks (a partner within its agreements); a job is its
    // organisation's (the rows below read the system's: others find none, 404).
    Row {
        method: "post",
        path: "/api/v1/bulk-checks",
        expect: [202, 403, 202, 202, 202, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/bulk-checks/{id}",
        expect: [200, 403, 404, 200, 404, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/bulk-checks/{id}/result.csv",
        expect: [200, 403, 404, 200, 404, 403, 401],
    },
    Row {
        method: "get",
        path: "/api/v1/bulk-checks/{id}/result.xlsx",
        expect: [200, 403, 404, 200, 404, 403, 401],
    },
];

const BOUNDARY: &str = "----creditgate-matrix-boundary";

/// A bulk check of one code, as multipart/form-data.
fn bulk_form(uscc: &str) -> Vec<u8> {
    let mut b = String::new();
    for (name, value) in [("scenario", "procurement"), ("purpose", "矩阵测试")] {
        b += &format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        );
    }
    b += &format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.csv\"\r\nContent-Type: text/csv\r\n\r\nuscc\n{uscc}\n\r\n--{BOUNDARY}--\r\n");
    b.into_bytes()
}

/// An impact analysis of the shipped rules, as a zip.
async fn post_impact(w: &World, key: Option<&str>) -> Answer {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    w.app
        .send_typed(
            "post",
            "/api/v1/admin/rules/impact",
            key,
            zip_dir(&shipped, "rules/"),
            "application/zip",
        )
        .await
}

async fn post_bulk(w: &World, key: Option<&str>) -> Answer {
    let ctype = format!("multipart/form-data; boundary={BOUNDARY}");
    w.app
        .send_typed(
            "post",
            "/api/v1/bulk-checks",
            key,
            bulk_form(&w.uscc),
            &ctype,
        )
        .await
}

#[test]
fn the_table_covers_every_api_operation() {
    let doc: Value = serde_json::from_str(&creditgate::api::openapi_json()).unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/api/v1") {
            for method in item.as_object().unwrap().keys() {
                ops.insert((method.clone(), path.clone()));
            }
        }
    }
    let rows: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let missing: Vec<_> = ops.difference(&rows).collect();
    let extra: Vec<_> = rows.difference(&ops).collect();
    assert!(
        missing.is_empty(),
        "operations without a matrix row: {missing:?}"
    );
    assert!(extra.is_empty(), "matrix rows for no operation: {extra:?}");
}

/// Every route the handlers register (`#[get("/api/v1…")]`, `#[post(…)]` in `src/api`) is in
/// the OpenAPI document, so the table above, checked against the document, covers them all.
#[test]
fn every_registered_route_is_documented() {
    let doc: Value = serde_json::from_str(&creditgate::api::openapi_json()).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut registered = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for line in text.lines() {
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(rest) = line.trim().strip_prefix(&format!("#[{method}(\"")) {
                    let path = rest.split('"').next().unwrap().to_string();
                    if path.starts_with("/api/v1") {
                        registered.insert((method.to_string(), path));
                    }
                }
            }
        }
    }
    assert!(registered.len() >= TABLE.len(), "{registered:?}");
    for (method, path) in &registered {
        assert!(
            doc["paths"][path.as_str()][method.as_str()].is_object(),
            "{method} {path} is registered but not in the OpenAPI document (add #[utoipa::path] and a matrix row)"
        );
    }
}

struct World {
    app: TestApp,
    keys: Vec<Option<String>>,
    uscc: String,
    records: [String; 3],
    report_no: String,
    digest: String,
}

async fn world(b: Backend) -> World {
    let app = spawn_app(b).await;
    let mut keys = Vec::new();
    for (role, org) in ROLES
        .iter()
        .zip(["ADMIN", "SCJG", "ZWFW", "ZFCG", "BANK", "SJJ"])
    {
        keys.push(Some(if *role == "admin" {
            app.admin_key.clone()
        } else {
            app.key(org, role).await
        }));
    }
    keys.push(None);
    let admin = app.admin_key.clone();
    let a = app
        .post("/api/v1/admin/agreements", Some(&admin), &json!({"org_code": "BANK", "scenarios": ["profile", "procurement"], "record_kinds": ["penalty", "list_entry"], "valid_from": "2026-01-01", "valid_to": "2026-12-31", "daily_quota": 1000}))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let uscc = code(1);
    let mut recs = Vec::new();
    for (i, class) in ["unconditional", "conditional", "special"]
        .iter()
        .enumerate()
    {
        let mut p = penalty(&format!("CF-{i}"), &uscc);
        p["sharing_class"] = json!(class);
        p["fine_amount"] = json!(format!("{}.00", 1000 + i));
        recs.push(p);
    }
    let r = app.batch(keys[1].as_ref().unwrap(), recs).await;
    let ids: Vec<String> = (0..3)
        .map(|i| r.body["results"][i]["id"].as_str().unwrap().to_string())
        .collect();
    let rep = app
        .post(
            "/api/v1/checks",
            keys[2].as_deref(),
            &json!({"scenario": "procurement", "subject": {"uscc": uscc}, "purpose": "资格审查"}),
        )
        .await;
    World {
        report_no: rep.body["report_no"].as_str().unwrap().to_string(),
        digest: rep.body["digest"].as_str().unwrap().to_string(),
        app,
        keys,
        uscc,
        records: [ids[0].clone(), ids[1].clone(), ids[2].clone()],
    }
}

/// The concrete request of a row, made fresh for each call (things to revoke are made first).
async fn request(w: &World, row: &Row, n: usize) -> (String, Value) {
    let admin = Some(w.app.admin_key.as_str());
    let u = &w.uscc;
    let fresh_key = || async {
        let r = w
            .app
            .post(
                "/api/v1/admin/keys",
                admin,
                &json!({"org_code": "TMP", "role": "officer"}),
            )
            .await;
        r.body["id"].as_str().unwrap().to_string()
    };
    let fresh_application = || async {
        let r = w
            .app
            .post(
                "/api/v1/access-applications",
                w.keys[2].as_deref(),
                &json!({"purpose": "矩阵测试", "valid_to": "2026-12-31"}),
            )
            .await;
        r.body["id"].as_str().unwrap().to_string()
    };
    // A record of the provider's, and an objection to it filed by the officer's organisation
    // (forwarded to the provider when `forward`).
    let fresh_record = || async {
        let r = w
            .app
            .batch(
                w.keys[1].as_deref().unwrap(),
                vec![penalty(&format!("OBJ-{n}"), u)],
            )
            .await;
        r.body["results"][0]["id"].as_str().unwrap().to_string()
    };
    let fresh_objection = |forward: bool| async move {
        let record = fresh_record().await;
        let o = w
            .app
            .post(
                "/api/v1/objections",
                w.keys[2].as_deref(),
                &json!({"record_id": record, "grounds": "处罚决定书文号与原件不一致", "filed_by": {"kind": "using_department", "name": "政务服务中心"}}),
            )
            .await;
        assert_eq!(o.status, 201, "{}", o.text);
        let id = o.body["id"].as_str().unwrap().to_string();
        if forward {
            let f = w
                .app
                .post(
                    &format!("/api/v1/objections/{id}/decision"),
                    admin,
                    &json!({"outcome": "forwarded", "reason": "非技术原因，转提供部门核查"}),
                )
                .await;
            assert_eq!(f.status, 200, "{}", f.text);
        }
        id
    };
    // A record of the provider's that may be repaired today (一般, decided in June: its
    // three-month minimum has passed), and an application to repair it.
    let repairable = || async {
        let mut p = penalty(&format!("REP-{n}"), u);
        p["severity"] = json!("general");
        p["decision_date"] = json!("2026-06-01");
        let r = w.app.batch(w.keys[1].as_deref().unwrap(), vec![p]).await;
        r.body["results"][0]["id"].as_str().unwrap().to_string()
    };
    let repair_body = |record: String| json!({"record_id": record, "applicant": {"name": "北京示例科技有限公司"}, "commitment": "XYCN-2026-0001"});
    let fresh_repair = || async {
        let r = w
            .app
            .post("/api/v1/repairs", admin, &repair_body(repairable().await))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    };
    let path = row
        .path
        .replace("{uscc}", u)
        .replace("{report_no}", &w.report_no);
    let body = json!({});
    match row.path {
        "/api/v1/records/batch" => (path, json!({"records": [penalty(&format!("M-{n}"), u)]})),
        "/api/v1/records/{id}" => (
            format!("/api/v1/records/{}?purpose=矩阵测试", w.records[0]),
            body,
        ),
        "/api/v1/subjects/{uscc}" => (
            format!("{path}?purpose=矩阵测试&authorization_ref=SQ-1"),
            body,
        ),
        "/api/v1/checks" => (
            path,
            json!({"scenario": "procurement", "subject": {"uscc": u}, "purpose": "矩阵测试", "authorization_ref": "SQ-1"}),
        ),
        "/api/v1/checks/batch" => (
            path,
            json!({"scenario": "procurement", "purpose": "矩阵测试", "subjects": [{"uscc": u}]}),
        ),
        "/api/v1/checks/{report_no}/verify" => (format!("{path}?digest={}", w.digest), body),
        "/api/v1/checks/{report_no}/feedback" => (path, json!({"action": "restricted"})),
        "/api/v1/admin/orgs" if row.method == "post" => {
            (path, json!({"code": format!("ORG{n}"), "name": "矩阵"}))
        }
        "/api/v1/admin/keys" if row.method == "post" => {
            (path, json!({"org_code": "TMP", "role": "officer"}))
        }
        "/api/v1/admin/keys/{id}/revoke" | "/api/v1/admin/keys/{id}/rotate" => {
            (path.replace("{id}", &fresh_key().await), body)
        }
        "/api/v1/admin/agreements" if row.method == "post" => (
            path,
            json!({"org_code": "BANK2", "scenarios": ["profile"], "record_kinds": ["penalty"], "valid_from": "2026-01-01", "valid_to": "2026-12-31", "daily_quota": 10}),
        ),
        "/api/v1/admin/agreements/{id}/revoke" => {
            let a = w.app.post("/api/v1/admin/agreements", admin, &json!({"org_code": "BANK3", "scenarios": ["profile"], "record_kinds": ["penalty"], "valid_from": "2026-01-01", "valid_to": "2026-12-31", "daily_quota": 10})).await;
            (path.replace("{id}", a.body["id"].as_str().unwrap()), body)
        }
        "/api/v1/access-applications" if row.method == "post" => (
            path,
            json!({"purpose": "矩阵测试", "valid_to": "2026-12-31"}),
        ),
        "/api/v1/admin/access-applications/{id}/approve"
        | "/api/v1/admin/access-applications/{id}/reject" => (
            path.replace("{id}", &fresh_application().await),
            json!({"reason": "矩阵测试"}),
        ),
        "/api/v1/admin/access-grants/{id}/revoke" => {
            let id = fresh_application().await;
            let approved = w
                .app
                .post(
                    &format!("/api/v1/admin/access-applications/{id}/approve"),
                    admin,
                    &json!({"reason": "矩阵测试"}),
                )
                .await;
            assert_eq!(approved.status, 200, "{}", approved.text);
            (path.replace("{id}", &id), json!({"reason": "矩阵测试"}))
        }
        "/api/v1/admin/special-grants" => (
            path,
            json!({"org_code": "ZWFW", "record_id": w.records[2], "purpose": "矩阵测试", "valid_to": "2026-12-31"}),
        ),
        "/api/v1/objections" if row.method == "post" => (
            path,
            json!({"record_id": fresh_record().await, "grounds": "处罚决定书文号与原件不一致", "filed_by": {"kind": "using_department", "name": "矩阵测试部门"}}),
        ),
        "/api/v1/objections" => (format!("{path}?purpose=矩阵测试"), body),
        "/api/v1/objections/{id}" => (
            format!(
                "/api/v1/objections/{}?purpose=矩阵测试",
                fresh_objection(false).await
            ),
            body,
        ),
        "/api/v1/objections/{id}/decision" => (
            path.replace("{id}", &fresh_objection(false).await),
            json!({"outcome": "confirmed", "reason": "经核查，记录与原始决定一致"}),
        ),
        "/api/v1/objections/{id}/answer" => (
            path.replace("{id}", &fresh_objection(true).await),
            json!({"outcome": "confirmed", "reason": "经核查，记录与原始决定一致"}),
        ),
        "/api/v1/repairs" if row.method == "post" => (path, repair_body(repairable().await)),
        "/api/v1/repairs" => (format!("{path}?purpose=矩阵测试"), body),
        "/api/v1/repairs/{id}" => (
            format!("/api/v1/repairs/{}?purpose=矩阵测试", fresh_repair().await),
            body,
        ),
        "/api/v1/watchlists" if row.method == "post" => (path, watchlist_body()),
        "/api/v1/watchlists/{id}"
        | "/api/v1/watchlists/{id}/subjects"
        | "/api/v1/watchlists/{id}/deliveries"
        | "/api/v1/watchlists/{id}/deliveries/{event}/redeliver" => {
            let made = w
                .app
                .post(
                    "/api/v1/watchlists",
                    w.keys[3].as_deref(),
                    &watchlist_body(),
                )
                .await;
            assert_eq!(made.status, 201, "{}", made.text);
            let id = made.body["id"].as_str().unwrap();
            let path = path.replace("{id}", id);
            if path.ends_with("/deliveries") {
                return (format!("{path}?purpose=矩阵测试"), body);
            }
            if path.ends_with("/redeliver") {
                // An event of the list, as a change of a watched subject leaves it.
                let event = format!("evt_{}", ulid::Ulid::new());
                let pool = creditgate::store::connect(&w.app.db_url, 1).unwrap();
                let mut conn = pool.get().unwrap();
                let at = w.app.clock.stamp();
                let row = creditgate::store::webhook_events::EventRow {
                    id: event.clone(),
                    watchlist_id: id.to_string(),
                    event_type: "record.created".into(),
                    dedupe_key: None,
                    payload: "{}".into(),
                    state: "failed".into(),
                    attempts: 1,
                    created_at: at,
                    next_attempt_at: at,
                    last_attempt_at: Some(at),
                    last_result: Some("HTTP 500".into()),
                    delivered_at: None,
                };
                creditgate::store::webhook_events::insert(&mut conn, &[row]).unwrap();
                return (path.replace("{event}", &event), body);
            }
            (path, json!({"uscc": [u]}))
        }
        "/api/v1/bulk-checks/{id}"
        | "/api/v1/bulk-checks/{id}/result.csv"
        | "/api/v1/bulk-checks/{id}/result.xlsx" => {
            let made = post_bulk(w, w.keys[3].as_deref()).await;
            assert_eq!(made.status, 202, "{}", made.text);
            let id = made.body["id"].as_str().unwrap().to_string();
            let done = comes_true(std::time::Duration::from_secs(20), || async {
                let r = w.app.get(&format!("/api/v1/bulk-checks/{id}"), admin).await;
                r.body["status"] == "done"
            })
            .await;
            assert!(done, "bulk check {id} did not finish");
            (path.replace("{id}", &id), body)
        }
        "/api/v1/admin/rules/impact/{id}"
        | "/api/v1/admin/rules/impact/{id}/result.csv"
        | "/api/v1/admin/rules/impact/{id}/result.json" => {
            let made = post_impact(w, admin).await;
            assert_eq!(made.status, 202, "{}", made.text);
            let id = made.body["id"].as_str().unwrap().to_string();
            let done = comes_true(std::time::Duration::from_secs(20), || async {
                let r = w
                    .app
                    .get(&format!("/api/v1/admin/rules/impact/{id}"), admin)
                    .await;
                r.body["status"] == "done"
            })
            .await;
            assert!(done, "impact analysis {id} did not finish");
            (path.replace("{id}", &id), body)
        }
        "/api/v1/repairs/{id}/decision" => (
            path.replace("{id}", &fresh_repair().await),
            json!({"outcome": "rejected", "reason": "未提交履行义务的证明材料"}),
        ),
        _ => (path, body),
    }
}

async fn every_operation_answers_every_role_as_the_table_says(b: Backend) {
    let w = world(b).await;
    let mut wrong = Vec::new();
    for (n, row) in TABLE.iter().enumerate() {
        for (i, role) in ROLES.iter().enumerate() {
            let (path, body) = request(&w, row, n * 10 + i).await;
            let key = w.keys[i].as_deref();
            let got = match row.method {
                "get" => w.app.get(&path, key).await,
                "post" if path == "/api/v1/bulk-checks" => post_bulk(&w, key).await,
                "post" if path == "/api/v1/admin/rules/impact" => post_impact(&w, key).await,
                "post" => w.app.post(&path, key, &body).await,
                other => w.app.send(other, &path, key, &body).await,
            };
            if got.status != row.expect[i] {
                wrong.push(format!(
                    "{} {} as {role}: {} (expected {}) {}",
                    row.method,
                    row.path,
                    got.status,
                    row.expect[i],
                    got.text.chars().take(160).collect::<String>()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Authorise first, then parse: a role that may not call an operation is refused (403) whatever
/// its body, even one that is not JSON; and every refusal, this one or the table's, leaves
/// exactly one `denied` entry in the access log (the README: refusals are logged).
async fn refusals_come_before_the_body_and_are_all_logged(b: Backend) {
    let w = world(b).await;
    let auditor = w.keys[5].clone().unwrap();
    let denied_entries = || async {
        let mut n = 0;
        let mut cursor = String::new();
        loop {
            let page = w
                .app
                .get(
                    &format!("/api/v1/audit/entries?limit=500{cursor}"),
                    Some(&auditor),
                )
                .await;
            assert_eq!(page.status, 200, "{}", page.text);
            let entries = page.body["entries"].as_array().unwrap();
            n += entries.iter().filter(|e| e["outcome"] == "denied").count();
            match page.body["next_cursor"].as_str() {
                Some(c) if !entries.is_empty() => cursor = format!("&cursor={c}"),
                _ => return n,
            }
        }
    };
    let before = denied_entries().await;
    let mut refused = 0;
    let mut wrong = Vec::new();
    for (n, row) in TABLE.iter().enumerate() {
        for (i, role) in ROLES.iter().enumerate() {
            if row.expect[i] != 403 {
                continue;
            }
            let key = w.keys[i].as_deref();
            let (path, body) = request(&w, row, 1000 + n * 10 + i).await;
            // The same path spelt with a percent-encoded letter reaches the same handler, so
            // it meets the same gate.
            let rest = &path["/api/v1/".len()..];
            let spelt = format!("/api/v1/%{:02X}{}", rest.as_bytes()[0], &rest[1..]);
            let m = row.method;
            let answers = if m == "get" {
                vec![w.app.get(&path, key).await, w.app.get(&spelt, key).await]
            } else {
                vec![
                    w.app.send(m, &path, key, &body).await,
                    w.app.send_raw(m, &path, key, b"{not json".to_vec()).await,
                    w.app
                        .send(m, &path, key, &json!({"unexpected": [1, 2, 3]}))
                        .await,
                    w.app.send_raw(m, &spelt, key, b"{not json".to_vec()).await,
                ]
            };
            for got in answers {
                refused += 1;
                if got.status != 403 {
                    wrong.push(format!(
                        "{} {} as {role}: {} (expected 403 before the body is read) {}",
                        row.method,
                        row.path,
                        got.status,
                        got.text.chars().take(160).collect::<String>()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let logged = denied_entries().await - before;
    assert_eq!(logged, refused, "each of {refused} refusals logged once");
}

/// The records of each sharing class that each role sees in a profile, in a record read and in
/// a check's findings (the provider is the source of all three; a special grant is not made).
async fn sharing_classes_decide_what_each_role_sees(b: Backend) {
    let w = world(b).await;
    // unconditional, conditional, special: shown?
    let expect: [(&str, [bool; 3]); 6] = [
        ("admin", [true, true, true]),
        ("provider", [true, true, true]),
        ("officer", [true, false, false]),
        ("system", [true, false, false]),
        ("partner", [true, false, false]),
        ("auditor", [false, false, false]),
    ];
    for (i, (role, shown)) in expect.iter().enumerate() {
        let key = w.keys[i].as_deref();
        let p = w
            .app
            .get(
                &format!(
                    "/api/v1/subjects/{}?purpose=矩阵测试&authorization_ref=SQ-1",
                    w.uscc
                ),
                key,
            )
            .await;
        let ids: Vec<String> = if p.status == 200 {
            p.body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect()
        } else {
            vec![]
        };
        for (c, rec) in w.records.iter().enumerate() {
            assert_eq!(
                ids.contains(rec),
                shown[c],
                "profile as {role}, class {c}: {}",
                p.text
            );
            if *role != "partner" && *role != "auditor" {
                let r = w
                    .app
                    .get(&format!("/api/v1/records/{rec}?purpose=矩阵测试"), key)
                    .await;
                assert_eq!(
                    r.status == 200,
                    shown[c],
                    "record as {role}, class {c}: {}",
                    r.text
                );
            }
        }
        if p.status == 200 {
            let id = &p.body["subject"]["legal_rep"]["id_number"];
            match *role {
                "partner" => assert!(id.is_null(), "partner sees an ID number"),
                _ => assert_eq!(id, "110101********0011"),
            }
        }
    }
}

on_both_backends!(
    refusals_come_before_the_body_and_are_all_logged,
    every_operation_answers_every_role_as_the_table_says,
    sharing_classes_decide_what_each_role_sees,
);

/// A watch list the matrix's world admits: its target on the test allow list, a scenario the
/// partner's agreement covers.
fn watchlist_body() -> Value {
    json!({"name": "矩阵测试", "webhook_url": "https://hooks.example.test/cg", "scenarios": ["procurement"]})
}
