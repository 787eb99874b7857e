//! `creditgate sync --once` against an independent provincial platform
//! (`tests/indie_platform/platform.py`, written from `docs/provincial-protocol.md` alone, not
//! from the client or its simulator), on both backends. Each test states what the document
//! says and checks it where a user sees it: the exit status and output of the command, the
//! admin view `GET /api/v1/admin/sync`, officers' profiles and checks, and what the platform
//! itself saw (`GET /state`: requests, pages asked for, pushes, and any breach of the document
//! by the client, such as a reused nonce or a plain ID number in a pushed id).
//!
//! The admin view says `off` on a server without a platform configured, so it is read from a
//! server configured with the platform (`CityServer`) after the command's runs; the platform
//! holds that server's own sync round unanswered (`POST /control/hold`), so the view shows
//! what the command left.

mod common;
mod indie_support;

use common::*;
use indie_support::*;
use serde_json::json;
use std::time::Duration;

/// The document (lines 74–94): changes follow "an opaque cursor", oldest first; the city asks
/// for the page after the cursor it holds and stores the page's `next_cursor`. The platform's
/// cursors here are `c1` … `c30`, not zero-padded, so `"c10" < "c7"` and `"c10" < "c5"` as
/// strings: a client that orders cursors would refuse the page c6–c10 ("next_cursor lies before
/// the cursor asked for") or reorder it. The page c6–c10 also holds FY-7 at version 1 (c7) and
/// at version 2 (c10): taken in the platform's order, both apply (none skipped).
/// An id with an ID number is kept under its pseudonym, and a later version finds it
/// (lines 102–106). A second round applies nothing new.
async fn opaque_cursors_are_never_ordered(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    const FY: &str = "PROV-FY";
    let id_of = |i: u32| {
        if i == 3 {
            format!("FY-3|{ID_NUMBER}")
        } else {
            format!("FY-{i}")
        }
    };
    let rec = |i: u32| penalty(&id_of(i), &code(100 + i));
    let mut changes = Vec::new();
    for i in 1..=9 {
        changes.push(upsert(FY, &id_of(i), 1, rec(i))); // c1 … c9
    }
    let mut newer = rec(7);
    newer["fine_amount"] = json!("3000000.00");
    changes.push(upsert(FY, &id_of(7), 2, newer)); // c10
    for i in 10..=26 {
        changes.push(upsert(FY, &id_of(i), 1, rec(i))); // c11 … c27
    }
    changes.push(upsert(FY, &id_of(3), 2, rec(3))); // c28
    changes.push(removal(FY, &id_of(1), 2)); // c29
    changes.push(upsert(FY, &id_of(27), 1, rec(27))); // c30
    assert_eq!(changes.len(), 30);
    let platform = IndiePlatform::start(&scenario("short", changes, json!([]), &[]), KEY_ID);

    sync_ok(&db, &platform).await;
    let first = platform.state().await;
    assert_no_violations(&first);
    let limits = first["pull_limits"].as_array().unwrap();
    assert!(
        limits.iter().all(|l| l.as_u64() == Some(5)),
        "--page-size 5 asks for 5: {limits:?}"
    );
    assert!(
        first["pages_served"].as_u64().unwrap() >= 6,
        "30 changes in pages of 5: {first:#}"
    );
    let afters = first["pull_afters"].as_array().unwrap();
    for want in ["c5", "c10", "c15", "c20", "c25"] {
        assert!(
            afters.iter().any(|a| a == want),
            "the city asked for the page after {want} (the cursor it was given): {afters:?}"
        );
    }

    // Nothing new: the second round asks after c30 and applies nothing.
    sync_ok(&db, &platform).await;
    let second = platform.state().await;
    assert_no_violations(&second);
    let later = &second["pull_afters"].as_array().unwrap()[afters.len()..];
    assert!(
        !later.is_empty() && later.iter().all(|a| a == "c30"),
        "the second round asks after the stored cursor c30: {later:?}"
    );
    assert!(received(&second).is_empty(), "no local records to push");

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(view["cursor"], "c30", "{view:#}");
    assert_eq!(
        (count(&view, "upserts"), count(&view, "removals")),
        (29, 1),
        "every change applied once, over both rounds: {view:#}"
    );
    assert_eq!(
        count(&view, "skipped"),
        0,
        "no change was skipped: the page c6–c10 was taken in the platform's order (FY-7 v1 at \
         c7 before v2 at c10; as strings \"c10\" < \"c7\"): {view:#}"
    );
    assert_eq!(count(&view, "rejected"), 0, "{view:#}");
    assert!(
        view["remaining"].is_null() || view["remaining"] == 0,
        "{view:#}"
    );

    // What an officer sees: every record at its last version.
    let app = spawn_on(&db).await;
    let officer = app.key("CGZX", "officer").await;
    for i in 1..=27u32 {
        let a = app.subject(&officer, &code(100 + i)).await;
        assert_eq!(a.status, 200, "subject {i}: {}", a.text);
        let held = records_of(&a.body, FY);
        if i == 1 {
            assert!(
                held.iter()
                    .all(|r| r["status"] == "revoked" && r["version"] == 2),
                "FY-1 was removed at version 2: {held:?}"
            );
            continue;
        }
        assert_eq!(held.len(), 1, "subject {i}: {}", a.text);
        let r = held[0];
        let version = if i == 3 || i == 7 { 2 } else { 1 };
        assert_eq!(r["version"], version, "FY-{i}: {r}");
        assert_eq!(r["status"], "active", "FY-{i}: {r}");
        assert_eq!(r["origin"], "provincial", "FY-{i}: {r}");
        let id = r["source_record_id"].as_str().unwrap();
        if i == 3 {
            assert!(
                id.starts_with("FY-3|pid-") && !id.contains(ID_NUMBER),
                "kept under its pseudonym: {id}"
            );
        } else {
            assert_eq!(id, format!("FY-{i}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// b. Pilot-era codes.

/// The document (lines 97–98, 134–135): an upsert carries a record in the shape of the batch
/// API; a change that fails validation is counted as rejected. A pilot-era code fails the
/// GB 32100 check character but is a lawful code: the project decided that the city holds such a
/// record and lets officers reach it, the subject marked `checksum_warning` (openapi:
/// "The code failed the GB 32100 check but was accepted from the provincial platform"), and
/// that a mistyped code the city does not hold is still refused (422, naming `uscc`).
async fn pilot_era_codes_are_held_and_reachable(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let mut pilot = penalty("FJ-2026-1", PILOT);
    pilot["subject"]["name"] = json!("福州市试点示例有限公司");
    let changes = vec![
        upsert("PROV-SCJG", "FJ-2026-1", 1, pilot),
        upsert(
            "PROV-SCJG",
            "FJ-2026-2",
            1,
            penalty("FJ-2026-2", &code(301)),
        ),
        upsert(
            "PROV-FY",
            "FY-2026-3",
            1,
            list_entry("FY-2026-3", &code(302), "court.dishonest_debtor"),
        ),
    ];
    let platform = IndiePlatform::start(&scenario("padded", changes, json!([]), &[]), KEY_ID);
    sync_ok(&db, &platform).await;
    assert_no_violations(&platform.state().await);

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(view["cursor"], "c_000003", "{view:#}");
    assert_eq!(
        (count(&view, "upserts"), count(&view, "rejected")),
        (3, 0),
        "the pilot-era record is held, not refused (last_reject: {})",
        view["last_reject"]
    );

    let app = spawn_on(&db).await;
    let officer = app.key("CGZX", "officer").await;
    let profile = app.subject(&officer, PILOT).await;
    assert_eq!(profile.status, 200, "{}", profile.text);
    assert_eq!(
        profile.body["subject"]["checksum_warning"], true,
        "{}",
        profile.text
    );
    assert!(
        records_of(&profile.body, "PROV-SCJG")
            .iter()
            .any(|r| r["source_record_id"] == "FJ-2026-1"),
        "the record is shown: {}",
        profile.text
    );

    let report = app.check(&officer, procurement(PILOT)).await;
    assert_eq!(report.status, 201, "{}", report.text);
    assert!(
        measures(&report.body).contains(&"procurement.major_violation.large_fine".to_string()),
        "the record's fine of 2,500,000 yuan bars the subject: {}",
        report.text
    );
    assert_eq!(report.body["verdict"], "prohibited", "{}", report.text);

    let valid = app.subject(&officer, &code(301)).await;
    assert_eq!(valid.status, 200, "{}", valid.text);
    assert_eq!(valid.body["subject"]["checksum_warning"], false);

    let mistyped = app.subject(&officer, PILOT_MISTYPED).await;
    assert_eq!(mistyped.status, 422, "{}", mistyped.text);
    assert!(mistyped.text.contains("uscc"), "{}", mistyped.text);
}

// ---------------------------------------------------------------------------------------------
// c. 401s: the ones that fail the check are discarded and retried, a signed one stops.

/// The document (lines 60–72): every answer is signed; "the client discards an answer that
/// fails the check and retries". A 401 without signature headers (a proxy or impostor in the
/// way) and a 401 whose signature does not verify are such answers, however they call
/// themselves: the round goes on and holds everything. Each retry is a new request with a new
/// nonce (line 43: "never reused").
async fn a_401_failing_the_check_is_discarded_and_retried(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let platform = IndiePlatform::start(
        &scenario(
            "short",
            plain_feed("PROV-FY", 12, 500),
            json!([{"kind": "unsigned_401", "times": 2},
                   {"kind": "badly_signed_401", "times": 2}]),
            &[],
        ),
        KEY_ID,
    );
    let run = sync_ok(&db, &platform).await;
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(
        state["faults_injected"],
        json!({"unsigned_401": 2, "badly_signed_401": 2}),
        "{state:#}\n{}",
        run.output()
    );
    assert_eq!(
        state["refusals"],
        json!({}),
        "no genuine refusal: {state:#}"
    );

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(view["cursor"], "c12", "{view:#}");
    assert_eq!(count(&view, "upserts"), 12, "{view:#}");
    assert_eq!(count(&view, "rejected"), 0, "{view:#}");
}

/// The document (lines 56–58, 136–138): the platform refuses an unknown key id with a 401
/// `unknown_key` — signed, so genuine — and "a refused key or signature is not retried". The
/// platform knows another key id than the city's: the round stops at once, `sync --once` exits
/// non-zero within seconds having sent one request, and the admin view names `unknown_key`.
async fn a_signed_refusal_stops_the_round(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let platform = IndiePlatform::start(
        &scenario("short", plain_feed("PROV-FY", 5, 600), json!([]), &[]),
        "province-other",
    );
    let run = sync_once(&db, &platform, KEY_ID, Duration::from_secs(30)).await;
    assert!(
        !run.success,
        "a refused key fails the round:\n{}",
        run.output()
    );
    assert!(
        run.took < Duration::from_secs(10),
        "stopped within seconds, not after retries:\n{}",
        run.output()
    );
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("unknown_key"),
        "the operator is told why:\n{}",
        run.output()
    );
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(state["refusals"]["unknown_key"], 1, "{state:#}");
    assert_eq!(
        state["requests"], 1,
        "a refused key is not retried: {state:#}"
    );

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    let last_error = view["last_error"].as_str().unwrap_or("");
    assert!(
        last_error.contains("unknown_key"),
        "last_error names the refusal: {view:#}"
    );
    assert!(view["cursor"].is_null(), "{view:#}");
    assert_eq!(count(&view, "upserts"), 0, "{view:#}");
}

// ---------------------------------------------------------------------------------------------
// d. Status after a retried round.

/// The document (lines 72, 136–138): a failed request is retried; the round that then
/// completes has succeeded. The admin view's status is `ok` (openapi: `ok`, `stale`,
/// `failing`), not `failing`, though the discarded answer may still show as the last error.
async fn a_round_that_retried_ends_ok(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let platform = IndiePlatform::start(
        &scenario(
            "short",
            plain_feed("PROV-FY", 8, 700),
            json!([{"kind": "unsigned_401", "times": 1}]),
            &[],
        ),
        KEY_ID,
    );
    sync_ok(&db, &platform).await;
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(state["faults_injected"]["unsigned_401"], 1, "{state:#}");

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(view["status"], "ok", "{view:#}");
    assert!(!view["last_success_at"].is_null(), "{view:#}");
    assert_eq!(view["cursor"], "c8", "{view:#}");
    assert_eq!(count(&view, "upserts"), 8, "{view:#}");
}

// ---------------------------------------------------------------------------------------------
// e. Push.

on_both_backends!(
    opaque_cursors_are_never_ordered,
    pilot_era_codes_are_held_and_reachable,
    a_401_failing_the_check_is_discarded_and_retried,
    a_signed_refusal_stops_the_round,
    a_round_that_retried_ends_ok,
);
