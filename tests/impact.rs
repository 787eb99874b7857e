//! Impact analysis of a candidate rule set (API.md "Impact analysis and replay"):
//! `creditgate rules impact DIR [--scenario S] [--out FILE]` evaluates every subject under the
//! set in use and the candidate, never making the candidate active.

mod common;

use common::*;
use serde_json::{json, Value};

on_both_backends!(
    a_lower_fine_threshold_changes_exactly_the_fines_between,
    a_broken_candidate_is_refused_with_the_loaders_errors,
    an_admin_uploads_a_candidate_and_follows_the_job,
    pages_of_subjects_add_up_to_the_same_report,
    a_job_resumes_after_the_last_page_it_recorded
);

/// A copy of the shipped rules with the procurement fine threshold lowered from 2,000,000 to
/// 500,000 yuan.
fn lowered_threshold() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    copy_dir(&shipped, dir.path());
    lower_fine_threshold(dir.path());
    dir
}

/// The fined natural person's ID number.
const ZHAO: &str = "110101199001010015";
/// How the analysis shows him: the masked number, no name.
const ZHAO_MASKED: &str = "110101********0015";

fn fined(id: &str, uscc: &str, amount: &str, decided: &str) -> Value {
    let mut p = penalty(id, uscc);
    p["fine_amount"] = json!(amount);
    p["decision_date"] = json!(decided);
    p
}

fn run(db_url: &str, args: &[&str]) -> (bool, String, String) {
    let out = creditgate_cli(db_url)
        .args(["rules", "impact"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Subjects with fines below, between and above the two thresholds, one between but decided
/// more than three years ago, one between on a subject already barred by a list, a natural
/// person on a list, and a natural person fined between the thresholds (赵六); the codes of the
/// two firms fined between.
async fn fines(app: &TestApp) -> (String, String) {
    let market = app.key("SCJG", "provider").await;
    let court = app.key("FY", "provider").await;
    let (small, mid_low, mid_high, large, old, listed) =
        (code(1), code(2), code(3), code(4), code(5), code(6));
    let records = vec![
        fined("F-1", &small, "100000.00", "2026-03-01"),
        fined("F-2", &mid_low, "500000.00", "2026-03-01"),
        fined("F-3", &mid_high, "1999999.99", "2026-03-01"),
        fined("F-4", &large, "2000000.00", "2026-03-01"),
        fined("F-5", &old, "800000.00", "2022-01-10"),
        fined("F-6", &listed, "900000.00", "2026-03-01"),
    ];
    let mut person_fined = fined("F-7", "", "1000000.00", "2026-03-01");
    person_fined["subject"] = json!({"kind": "natural_person", "name": "赵六", "id_number": ZHAO});
    person_fined["open_class"] = json!("on_request");
    let mut records = records;
    records.push(person_fined);
    let r = app.batch(&market, records).await;
    assert_eq!(statuses(&r.body), ["created"; 7], "{}", r.text);
    let mut entry = list_entry("FY-1", &listed, "court.dishonest_debtor");
    entry["valid_to"] = json!("2099-01-01");
    let person = json!({
        "source_record_id": "FY-P-1", "kind": "list_entry", "list_code": "court.dishonest_debtor",
        "subject": {"kind": "natural_person", "name": "李四", "id_number": "11010119800101007X"},
        "decision_date": "2026-01-05", "valid_from": "2026-01-05",
        "sharing_class": "unconditional", "open_class": "open"
    });
    let r = app.batch(&court, vec![entry, person]).await;
    assert_eq!(statuses(&r.body), ["created", "created"], "{}", r.text);
    (mid_low, mid_high)
}

async fn a_lower_fine_threshold_changes_exactly_the_fines_between(b: Backend) {
    let app = spawn_app(b).await;
    let officer = app.key("CGZX", "officer").await;
    let (mid_low, mid_high) = fines(&app).await;
    let before = app.get("/api/v1/rules", Some(&officer)).await.body["digest"].clone();

    let candidate = lowered_threshold();
    let out = tempfile::tempdir().unwrap();
    let csv_path = out.path().join("changed.csv");
    let (ok, stdout, stderr) = run(
        &app.db_url,
        &[
            candidate.path().to_str().unwrap(),
            "--out",
            csv_path.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    // Every subject held was evaluated: six firms and two persons.
    assert_eq!(summary["tally"]["subjects"], 8, "{summary}");
    assert_eq!(summary["tally"]["unreadable"], 0);
    assert_eq!(summary["active"]["digest"], before);
    assert_ne!(summary["candidate"]["digest"], before);
    let proc_tally = &summary["tally"]["scenarios"]["procurement"];
    assert_eq!(proc_tally["changed"], 3, "{summary}");
    assert_eq!(
        proc_tally["transitions"],
        json!({"clear→prohibited": 3}),
        "{summary}"
    );
    // The listed subject stays prohibited, with one more measure.
    assert_eq!(proc_tally["measures_only"], 1, "{summary}");
    assert_eq!(
        proc_tally["gained"],
        json!({"procurement.major_violation.large_fine": 4})
    );
    assert_eq!(proc_tally["lost"], json!({}));
    for other in ["market_entry", "bidding", "subsidy"] {
        let t = &summary["tally"]["scenarios"][other];
        assert_eq!(t["changed"], 0, "{other}: {summary}");
        assert_eq!(t["measures_only"], 0, "{other}: {summary}");
    }
    // The scenarios the candidate leaves as they were (with the same lists, periods and
    // calendar) cannot change and are said not to have been evaluated ...
    let notes = summary["notes"].as_array().unwrap();
    for other in ["market_entry", "bidding", "subsidy"] {
        assert!(
            notes.iter().any(|n| {
                let n = n.as_str().unwrap();
                n.contains(&format!("scenario {other} ")) && n.contains("not evaluated")
            }),
            "{other}: {notes:?}"
        );
    }
    // ... and evaluating them anyway (a list renamed makes every scenario's facts differ) finds
    // the same.
    let renamed = lowered_threshold();
    let lists = renamed.path().join("catalog/lists.yaml");
    let text = std::fs::read_to_string(&lists).unwrap();
    assert!(text.contains("name: 失信被执行人名单\n"));
    std::fs::write(
        &lists,
        text.replacen(
            "name: 失信被执行人名单\n",
            "name: 失信被执行人名单（新）\n",
            1,
        ),
    )
    .unwrap();
    let (ok, all_stdout, stderr) = run(&app.db_url, &[renamed.path().to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let all: Value = serde_json::from_str(&all_stdout).unwrap();
    assert_eq!(all["notes"], json!([]), "{all}");
    assert_eq!(all["tally"], summary["tally"], "{all}");

    // The rule-set diff is part of the report.
    let changed = summary["diff"]["measures_changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{}", summary["diff"]);
    assert_eq!(changed[0]["id"], "procurement.major_violation.large_fine");

    // The subjects: exactly the two fines between the thresholds, with the measure responsible.
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.remove(0),
        "scenario,uscc,reg_no,id_number,name,before,after,added,removed,measures_after"
    );
    let measure = "procurement.major_violation.large_fine";
    let mut want = vec![
        format!(
            "procurement,{mid_low},,,北京示例科技有限公司,clear,prohibited,{measure},,{measure}"
        ),
        format!(
            "procurement,{mid_high},,,北京示例科技有限公司,clear,prohibited,{measure},,{measure}"
        ),
        format!("procurement,,,{ZHAO_MASKED},,clear,prohibited,{measure},,{measure}"),
    ];
    lines.sort();
    want.sort();
    assert_eq!(lines, want, "{text}");
    assert!(!text.contains("赵六") && !text.contains(ZHAO), "{text}");

    // The same as JSON, for one scenario; no ID number anywhere in what is written.
    let json_path = out.path().join("changed.json");
    let (ok, stdout, stderr) = run(
        &app.db_url,
        &[
            candidate.path().to_str().unwrap(),
            "--scenario",
            "procurement",
            "--out",
            json_path.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    let text = std::fs::read_to_string(&json_path).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(doc["changed"].as_array().unwrap().len(), 3, "{doc}");
    assert_eq!(doc["summary"]["scenarios"], json!(["procurement"]));
    assert_eq!(doc["changed"][0]["before"], "clear");
    assert_eq!(doc["changed"][0]["after"], "prohibited");
    for output in [&text, &stdout, &stderr] {
        assert!(
            !output.contains("11010119800101007X")
                && !output.contains("110101199003070011")
                && !output.contains(ZHAO)
                && !output.contains("赵六"),
            "an ID number or a person's name in the output: {output}"
        );
    }

    // The candidate was never made active.
    let after = app.get("/api/v1/rules", Some(&officer)).await.body["digest"].clone();
    assert_eq!(after, before);
    let h = app.get("/api/v1/rules/history", Some(&officer)).await;
    assert_eq!(h.body["sets"].as_array().unwrap().len(), 1, "{}", h.text);
    let check = app.check(&officer, procurement(&mid_low)).await;
    assert_eq!(check.body["verdict"], "clear", "{}", check.text);

    // A scenario not in the sets is refused.
    let (ok, _, stderr) = run(
        &app.db_url,
        &[candidate.path().to_str().unwrap(), "--scenario", "lottery"],
    );
    assert!(!ok && stderr.contains("lottery"), "{stderr}");
}

async fn a_broken_candidate_is_refused_with_the_loaders_errors(b: Backend) {
    let app = spawn_app(b).await;
    let officer = app.key("CGZX", "officer").await;
    let before = app.get("/api/v1/rules", Some(&officer)).await.body["digest"].clone();
    let candidate = lowered_threshold();
    let scen = candidate.path().join("scenarios/procurement.yaml");
    let text = std::fs::read_to_string(&scen).unwrap();
    std::fs::write(&scen, text.replace("measure: prohibit", "measure: forbid")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let csv_path = out.path().join("changed.csv");
    let (ok, stdout, stderr) = run(
        &app.db_url,
        &[
            candidate.path().to_str().unwrap(),
            "--out",
            csv_path.to_str().unwrap(),
        ],
    );
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("procurement.yaml") && stderr.contains("forbid"),
        "the loader's errors, with the file: {stderr}"
    );
    assert!(
        stderr.contains("the candidate was not evaluated"),
        "{stderr}"
    );
    assert!(!csv_path.exists());
    let after = app.get("/api/v1/rules", Some(&officer)).await.body["digest"].clone();
    assert_eq!(after, before);
}

async fn an_admin_uploads_a_candidate_and_follows_the_job(b: Backend) {
    let app = spawn_app(b).await;
    let officer = app.key("CGZX", "officer").await;
    let (mid_low, mid_high) = fines(&app).await;
    let candidate = lowered_threshold();
    let admin = Some(app.admin_key.as_str());
    let post = |body: Vec<u8>, key: Option<&str>, query: &str| {
        let path = format!("/api/v1/admin/rules/impact{query}");
        let key = key.map(String::from);
        let app = &app;
        async move {
            app.send_typed("post", &path, key.as_deref(), body, "application/zip")
                .await
        }
    };

    // Not an admin: refused, whatever the body.
    let r = post(zip_dir(candidate.path(), "rules/"), Some(&officer), "").await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Not an archive, and a candidate that does not load: every error, naming the file.
    let r = post(b"ruleset: yes".to_vec(), admin, "").await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.content_type, "application/problem+json");
    assert!(r.text.contains("not a zip or tar"), "{}", r.text);
    let broken = tempfile::tempdir().unwrap();
    copy_dir(candidate.path(), broken.path());
    let scen = broken.path().join("scenarios/procurement.yaml");
    let text = std::fs::read_to_string(&scen).unwrap();
    std::fs::write(&scen, text.replace("measure: prohibit", "measure: forbid")).unwrap();
    let r = post(zip_dir(broken.path(), ""), admin, "").await;
    assert_eq!(r.status, 422, "{}", r.text);
    let errors = r.body["errors"].as_array().unwrap();
    assert!(
        errors.iter().all(|e| e["field"] == "file")
            && errors.iter().any(|e| e["message"]
                .as_str()
                .unwrap()
                .contains("scenarios/procurement.yaml")),
        "{}",
        r.text
    );
    let r = post(zip_dir(candidate.path(), ""), admin, "?scenario=lottery").await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["field"], "scenario", "{}", r.text);

    // The zip and the tar of the same folder give the same analysis.
    let mut results = Vec::new();
    for body in [
        zip_dir(candidate.path(), "rules/"),
        tar_dir(candidate.path(), "./"),
    ] {
        let r = post(body, admin, "").await;
        assert_eq!(r.status, 202, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("imp_"), "{id}");
        let path = format!("/api/v1/admin/rules/impact/{id}");
        let done = comes_true(std::time::Duration::from_secs(30), || async {
            app.get(&path, admin).await.body["status"] == "done"
        })
        .await;
        assert!(done, "{}", app.get(&path, admin).await.text);
        let job = app.get(&path, admin).await.body;
        assert_eq!(job["total"], 8, "{job}");
        assert_eq!(job["done"], 8, "{job}");
        assert_eq!(job["progress"], 1.0);
        let t = &job["summary"]["tally"];
        assert_eq!(t["scenarios"]["procurement"]["changed"], 3, "{job}");
        assert_eq!(
            t["scenarios"]["procurement"]["transitions"],
            json!({"clear→prohibited": 3})
        );
        assert_eq!(
            job["summary"]["diff"]["measures_changed"][0]["id"],
            "procurement.major_violation.large_fine"
        );
        let csv = app.get(&format!("{path}/result.csv"), admin).await;
        assert_eq!(csv.status, 200, "{}", csv.text);
        let mut codes: Vec<String> = csv
            .text
            .trim_start_matches('\u{feff}')
            .lines()
            .skip(1)
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                format!("{}{}", cells[1], cells[3])
            })
            .collect();
        codes.sort();
        let mut want = vec![mid_low.clone(), mid_high.clone(), ZHAO_MASKED.to_string()];
        want.sort();
        assert_eq!(codes, want, "{}", csv.text);
        let json = app.get(&format!("{path}/result.json"), admin).await;
        assert_eq!(json.status, 200, "{}", json.text);
        assert_eq!(json.body["changed"].as_array().unwrap().len(), 3);
        for text in [&json.text, &csv.text] {
            assert!(
                !text.contains("11010119800101007X")
                    && !text.contains(ZHAO)
                    && !text.contains("赵六"),
                "{text}"
            );
        }
        results.push(t.clone());
        // Another role never sees a job.
        let r = app.get(&path, Some(&officer)).await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    assert_eq!(results[0], results[1]);
    // The candidate was never made active.
    let h = app.get("/api/v1/rules/history", Some(&officer)).await;
    assert_eq!(h.body["sets"].as_array().unwrap().len(), 1, "{}", h.text);
    let r = app
        .get("/api/v1/admin/rules/impact/imp_nothing", admin)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // A parameter given twice is named, as problem+json.
    let r = post(
        zip_dir(candidate.path(), ""),
        admin,
        "?scenario=a&scenario=b",
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(
        r.body["errors"][0]["code"], "duplicate_parameter",
        "{}",
        r.text
    );
}

/// More subjects than a page: the job walks them page by page (its cursor) and comes to the
/// same counts as the command line, which evaluates pages two at a time.
async fn pages_of_subjects_add_up_to_the_same_report(b: Backend) {
    // The command line evaluates on today's date: so does the app here.
    let app = spawn_app_with(
        b,
        Options {
            clock: Some(creditgate::service::Clock::system()),
            ..Default::default()
        },
    )
    .await;
    let out = creditgate_cli(&app.db_url)
        .args(["gen", "--subjects", "1234", "--records-per-subject", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let candidate = lowered_threshold();
    let (ok, stdout, stderr) = run(&app.db_url, &[candidate.path().to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let cli: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(cli["tally"]["subjects"], 1234, "{cli}");
    let admin = Some(app.admin_key.as_str());
    let r = app
        .send_typed(
            "post",
            "/api/v1/admin/rules/impact",
            admin,
            zip_dir(candidate.path(), ""),
            "application/zip",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let path = format!(
        "/api/v1/admin/rules/impact/{}",
        r.body["id"].as_str().unwrap()
    );
    let done = comes_true(std::time::Duration::from_secs(60), || async {
        app.get(&path, admin).await.body["status"] == "done"
    })
    .await;
    assert!(done, "{}", app.get(&path, admin).await.text);
    let job = app.get(&path, admin).await.body;
    assert_eq!(job["total"], 1234);
    assert_eq!(job["done"], 1234);
    assert_eq!(job["summary"]["tally"], cli["tally"], "{job}");
    let changed: u64 = cli["tally"]["scenarios"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["changed"].as_u64().unwrap())
        .sum();
    let result = app.get(&format!("{path}/result.json"), admin).await;
    assert_eq!(
        result.body["changed"].as_array().unwrap().len() as u64,
        changed,
        "every change found is listed once"
    );
}

/// A job's runner stopped after its first page (a restart): a new one, with nothing of the old
/// in memory, goes on after the last page recorded, and the job comes to the same report as
/// one run of the command line. A page recorded from a cursor the job has left is refused.
async fn a_job_resumes_after_the_last_page_it_recorded(b: Backend) {
    use creditgate::service::impact::jobs;
    let db = TestDb::new(b);
    let out = creditgate_cli(&db.url)
        .args(["gen", "--subjects", "1234", "--records-per-subject", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = creditgate::config::Config {
        database_url: db.url.clone(),
        rules_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules"),
        data_key: Some(creditgate::config::Secret::new(TEST_DATA_KEY)),
        db_pool_size: 4,
        ..Default::default()
    };
    // No server: the runner's steps are taken by hand, on today's date as the command line's.
    let ctx = |config: creditgate::config::Config| async move {
        tokio::task::spawn_blocking(move || {
            creditgate::app::build_ctx(&config, creditgate::service::Clock::system())
        })
        .await
        .unwrap()
        .unwrap()
    };
    let first = ctx(config.clone()).await;
    let operator = creditgate::service::admin::operator();
    let candidate = lowered_threshold();
    let job = jobs::submit(&first, &operator, zip_dir(candidate.path(), ""), None)
        .await
        .unwrap();
    assert_eq!(
        (job.status.as_str(), job.total, job.done),
        ("queued", 1234, 0)
    );
    assert!(jobs::run_page(&first, &mut None).await.unwrap());
    let after_one = jobs::get(&first, &operator, &job.id).await.unwrap();
    assert_eq!(after_one.status, "running");
    assert_eq!(after_one.done, 500, "one page of 500");
    drop(first);

    // A page recorded from where the job no longer is changes nothing.
    {
        let pool = creditgate::store::connect(&db.url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        let moved = creditgate::store::impact_jobs::record_page(
            &mut conn,
            &job.id,
            None,
            "uscc:~",
            9999,
            "{}",
            &[],
        )
        .unwrap();
        assert!(!moved, "a stale page was recorded");
    }

    let second = ctx(config).await;
    let mut rounds = 0;
    while jobs::run_page(&second, &mut None).await.unwrap() {
        rounds += 1;
        assert!(rounds < 20, "the job does not end");
        if jobs::get(&second, &operator, &job.id).await.unwrap().status == "done" {
            break;
        }
    }
    let done = jobs::get(&second, &operator, &job.id).await.unwrap();
    assert_eq!(
        (done.status.as_str(), done.done),
        ("done", 1234),
        "{done:?}"
    );
    let (ok, stdout, stderr) = run(&db.url, &[candidate.path().to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let cli: Value = serde_json::from_str(&stdout).unwrap();
    let tally = serde_json::to_value(&done.summary.as_ref().unwrap().tally).unwrap();
    assert_eq!(tally, cli["tally"]);
    let (_, changes) = jobs::result(&second, &operator, &job.id).await.unwrap();
    let changed: u64 = cli["tally"]["scenarios"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["changed"].as_u64().unwrap())
        .sum();
    assert_eq!(changes.len() as u64, changed, "each change recorded once");
}
