//! The operator's command line for watch lists and bulk checks (`creditgate watch …`,
//! `creditgate bulk …`), run as a process on a database the test prepared, as an operator would.

mod common;

use common::*;

on_both_backends!(
    bulk_run_checks_a_roster_and_writes_its_result,
    watch_redeliver_sends_failed_events_again,
);

fn run(db_url: &str, args: &[&str]) -> (bool, String, String) {
    let out = creditgate_cli(db_url).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn bulk_run_checks_a_roster_and_writes_its_result(b: Backend) {
    let app = spawn_app(b).await;
    let scjg = app.key("SCJG", "provider").await;
    let barred = code(901);
    let r = app.batch(&scjg, vec![penalty("CF-C1", &barred)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("roster.csv");
    std::fs::write(
        &roster,
        format!("uscc\n{barred}\n{}\nnot-a-code\n", code(902)),
    )
    .unwrap();
    let out = dir.path().join("result.xlsx");
    let (ok, _, err) = run(
        &app.db_url,
        &[
            "bulk",
            "run",
            roster.to_str().unwrap(),
            "--scenario",
            "procurement",
            "--purpose",
            "年度信用审查",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(
        err.contains("1 prohibited") && err.contains("1 rejected"),
        "{err}"
    );
    use calamine::Reader;
    let mut wb = calamine::open_workbook::<calamine::Xlsx<_>, _>(&out).unwrap();
    let rows: Vec<Vec<String>> = wb
        .worksheet_range("result")
        .unwrap()
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows[1][2], "prohibited");
    assert_eq!(rows[2][2], "clear");
    assert_eq!(rows[3][2], "rejected");
    assert!(
        !rows[3][3].is_empty(),
        "a reason for the rejected line: {rows:?}"
    );
    // The job is there to read again, and a bad request says what to fix.
    let id = err
        .split_whitespace()
        .find(|w| w.starts_with("bulk_"))
        .expect("the job's id")
        .to_string();
    let (ok, status, err) = run(&app.db_url, &["bulk", "status", &id]);
    assert!(ok, "{err}");
    assert!(status.contains("\"status\": \"done\""), "{status}");
    let (ok, _, err) = run(
        &app.db_url,
        &[
            "bulk",
            "run",
            roster.to_str().unwrap(),
            "--scenario",
            "lottery",
            "--purpose",
            "x",
        ],
    );
    assert!(!ok);
    assert!(err.contains("scenario") && err.contains("purpose"), "{err}");
}

async fn watch_redeliver_sends_failed_events_again(b: Backend) {
    let app = spawn_app(b).await;
    let system = app.key("ZFCG-SYS", "system").await;
    let made = app
        .post(
            "/api/v1/watchlists",
            Some(&system),
            &serde_json::json!({"name": "承包商", "webhook_url": "https://hooks.example.test/cg", "scenarios": ["procurement"]}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let list = made.body["id"].as_str().unwrap().to_string();
    // Two events that failed after their 24 hours of retries.
    let pool = creditgate::store::connect(&app.db_url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let at = app.clock.stamp();
    let rows: Vec<_> = (0..2)
        .map(|i| creditgate::store::webhook_events::EventRow {
            id: format!("evt_test{i}"),
            watchlist_id: list.clone(),
            event_type: "record.created".into(),
            dedupe_key: None,
            payload: "{}".into(),
            state: "failed".into(),
            attempts: 30,
            created_at: at,
            next_attempt_at: at,
            last_attempt_at: Some(at),
            last_result: Some("connection failed".into()),
            delivered_at: None,
        })
        .collect();
    creditgate::store::webhook_events::insert(&mut conn, &rows).unwrap();
    let (ok, out, err) = run(&app.db_url, &["watch", "list"]);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&list) && l.ends_with("\t0\t0\t2")),
        "{out}"
    );
    let (ok, out, err) = run(
        &app.db_url,
        &[
            "watch",
            "deliveries",
            &list,
            "--state",
            "failed",
            "--purpose",
            "运维排查推送失败",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("evt_test0") && out.contains("connection failed"),
        "{out}"
    );
    let (ok, out, err) = run(&app.db_url, &["watch", "redeliver", &list, "--failed"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("2 events queued again"), "{out}");
    let d = app
        .get(
            &format!("/api/v1/watchlists/{list}/deliveries?purpose=核对&state=failed"),
            Some(&system),
        )
        .await;
    assert_eq!(d.body["items"], serde_json::json!([]), "{}", d.text);
    let (ok, _, _) = run(
        &app.db_url,
        &["watch", "redeliver", "wl_nothing", "--failed"],
    );
    assert!(!ok, "an unknown list is an error");
}
