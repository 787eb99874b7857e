//! `creditgate sync --once` telling the independent provincial platform
//! (`tests/indie_platform/platform.py`, written from `docs/provincial-protocol.md` alone) of the
//! repairs approved in the city (`POST /v1/repairs/batch`), on both backends: an approved repair
//! arrives once, by its id, with the record's ids, version and the day of the decision; a repair
//! the platform refuses is not sent again and breaks neither the command nor the admin view.
//! `sync_indie_push.rs` has the pushed records.

mod common;
mod indie_support;

use common::*;
use indie_support::*;
use serde_json::json;

/// The app's day: its clock is fixed at 2026-11-24T08:30Z (16:30 in Beijing, the same day).
const TODAY: &str = "2026-11-24";
/// An ID number (valid check digit) that appears nowhere but in the platform's refusal reason.
const REASON_ID_NUMBER: &str = "310104198805120027";

/// A record repaired in the city: what the platform must be told.
struct Repaired {
    provider: String,
    source_record_id: String,
    repair_id: String,
}

/// A 一般 penalty decided 2026-06-01 (repairable from September, so today), submitted by a
/// provider key of SCJG, a repair applied for and approved with that key.
async fn approved_repair(app: &TestApp, id: &str, n: u32) -> Repaired {
    let provider = app.key("SCJG", "provider").await;
    let mut p = penalty(id, &code(n));
    p["severity"] = json!("general");
    p["decision_date"] = json!("2026-06-01");
    let a = app.batch(&provider, vec![p]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(
        statuses(&a.body).iter().all(|s| s != "rejected"),
        "{}",
        a.text
    );
    let record_id = a.body["results"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the record's id in {}", a.text))
        .to_string();

    // The record's source record id as the city holds it (read before the repair: after it,
    // only admins and auditors see the record).
    let read = app
        .get(
            &format!("/api/v1/records/{record_id}?purpose=资格审查"),
            Some(&provider),
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    let source_record_id = read.body["source_record_id"]
        .as_str()
        .unwrap_or_else(|| panic!("source_record_id in the record: {}", read.text))
        .to_string();
    assert_eq!(source_record_id, id, "no ID number in it: kept as given");

    let applied = app
        .post(
            "/api/v1/repairs",
            Some(&provider),
            &json!({"record_id": record_id,
                    "applicant": {"name": "北京示例科技有限公司"},
                    "commitment": "XYCN-1"}),
        )
        .await;
    assert_eq!(applied.status, 201, "{}", applied.text);
    let repair_id = applied.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the repair's id in {}", applied.text))
        .to_string();
    assert!(repair_id.starts_with("rep_"), "{repair_id}");

    let decided = app
        .post(
            &format!("/api/v1/repairs/{repair_id}/decision"),
            Some(&provider),
            &json!({"outcome": "approved", "reason": "罚款已缴清并作出信用承诺，准予修复"}),
        )
        .await;
    assert_eq!(decided.status, 200, "{}", decided.text);
    assert_eq!(decided.body["status"], "approved", "{}", decided.text);

    Repaired {
        provider,
        source_record_id,
        repair_id,
    }
}

/// The document ("Repairs"): each approved repair is sent as `{repair_id, source_code,
/// source_record_id, version, repaired_on}` — the record named as in pushes, `version` the
/// record's version when the repair was decided, `repaired_on` the day of the decision — and
/// "the city marks a repair delivered on `accepted` or `duplicate`, and does not send it again";
/// a round pushes "every approved repair the platform has not taken or refused".
///
/// So the second round sends no item for it at all: not even a `duplicate`. The document allows
/// a `duplicate` only where the first answer never reached the city (its push section: a lost
/// answer, the batch sent again); here every answer arrives, and the platform would name a
/// repair sent again after its answer was delivered as a violation.
async fn an_approved_repair_reaches_the_platform_once(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let app = spawn_on(&db).await;
    let r = approved_repair(&app, "RP-1", 761).await;
    let platform = IndiePlatform::start(
        &scenario("short", plain_feed("PROV-FY", 2, 770), json!([]), &[]),
        KEY_ID,
    );

    let first = sync_ok(&db, &platform).await;
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(
        state["repairs_received"],
        json!([[r.repair_id, "SCJG", r.source_record_id, 1, TODAY]]),
        "the platform holds exactly that repair: {state:#}\n{}",
        first.output()
    );
    assert_eq!(
        state["repair_attempts_by_id"],
        json!({ r.repair_id.as_str(): 1 }),
        "sent once: {state:#}"
    );
    assert_eq!(state["repairs_refused"], json!([]), "{state:#}");
    // Not asserted (the document does not say whether a record repaired before its first push
    // is still pushed: "every local record" vs "neither published nor shared"): shown.
    eprintln!(
        "records pushed: {}; repairs naming a record the platform was never given: {}",
        state["received"], state["repairs_of_unknown_records"]
    );

    let second = sync_ok(&db, &platform).await;
    let again = platform.state().await;
    assert_no_violations(&again);
    assert_eq!(
        again["repair_attempts_by_id"],
        state["repair_attempts_by_id"],
        "a delivered repair is not sent again (no new item, not even a duplicate): {again:#}\n{}",
        second.output()
    );
    assert_eq!(
        again["repairs_received"], state["repairs_received"],
        "the platform still holds one repair"
    );
}

/// The document ("Repairs"): "On `rejected` it keeps the platform's reason (masked of ID
/// numbers), logs it, and does not send it again: the centre settles it with the province by
/// other means." The platform refuses the repair, with a reason that holds an ID number. Over
/// two rounds the repair is sent once; both runs succeed and report; the admin view answers and
/// says `ok` (a refused item is the platform's word, not a failed round); the repair stays
/// approved in the city; and the plain ID number of the reason shows nowhere the city shows it.
async fn a_refused_repair_is_not_sent_again(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let app = spawn_on(&db).await;
    let r = approved_repair(&app, "RP-2", 762).await;
    let reason =
        format!("省平台不予接收：该记录已由省级部门处理（经办人证件号码 {REASON_ID_NUMBER}）");
    let mut sc = scenario("short", plain_feed("PROV-FY", 2, 780), json!([]), &[]);
    sc["reject_repair_ids"] = json!([r.repair_id]);
    sc["reject_repair_reason"] = json!(reason);
    let platform = IndiePlatform::start(&sc, KEY_ID);

    let first = sync_ok(&db, &platform).await;
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(
        state["repairs_refused"],
        json!([{"repair_id": r.repair_id, "errors": ["refused"]}]),
        "the platform refused it: {state:#}\n{}",
        first.output()
    );
    assert_eq!(state["repairs_received"], json!([]), "{state:#}");

    let second = sync_ok(&db, &platform).await;
    let again = platform.state().await;
    assert_no_violations(&again);
    assert_eq!(
        again["repair_attempts_by_id"],
        json!({ r.repair_id.as_str(): 1 }),
        "a refused repair is sent once over two rounds: {again:#}\n{}",
        second.output()
    );
    assert_eq!(again["repairs_refused"].as_array().unwrap().len(), 1);
    for run in [&first, &second] {
        assert!(
            !format!("{}{}", run.stdout, run.stderr).contains(REASON_ID_NUMBER),
            "the platform's reason is masked of ID numbers:\n{}",
            run.output()
        );
    }

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    let view_text = view.to_string();
    assert_eq!(view["status"], "ok", "{view:#}");
    assert!(
        !view_text.contains(REASON_ID_NUMBER),
        "the admin view shows no plain ID number of the reason: {view:#}"
    );

    let repair = app
        .get(
            &format!("/api/v1/repairs/{}?purpose=信用修复核查", r.repair_id),
            Some(&r.provider),
        )
        .await;
    assert_eq!(repair.status, 200, "{}", repair.text);
    assert_eq!(
        repair.body["status"], "approved",
        "the platform's refusal does not undo the city's repair: {}",
        repair.text
    );
    assert!(
        !repair.text.contains(REASON_ID_NUMBER),
        "the repair shows no plain ID number of the reason: {}",
        repair.text
    );
    // The admin sees that the province refused it, and why (masked).
    let refused = repair.body["push_refused"].as_str().unwrap_or_default();
    assert!(
        refused.contains("省平台不予接收") && refused.contains("310104********0027"),
        "the platform's words, the ID number masked: {}",
        repair.text
    );
    assert!(repair.body["pushed_at"].is_null(), "{}", repair.text);
    // Where the reason is kept, if the city shows it at all (the document says "keeps" and
    // "logs", not where): printed for whoever reads a failure, not asserted.
    let shown: Vec<&str> = [
        ("the admin view", &view_text),
        ("the repair", &repair.text),
        ("the first run's output", &first.stdout),
        ("the first run's log", &first.stderr),
    ]
    .into_iter()
    .filter(|(_, text)| text.contains("省平台不予接收"))
    .map(|(place, _)| place)
    .collect();
    eprintln!("the platform's reason is shown in: {shown:?}");
}

on_both_backends!(
    an_approved_repair_reaches_the_platform_once,
    a_refused_repair_is_not_sent_again,
);
