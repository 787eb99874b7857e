//! `creditgate sync --once` pushing the city's records to the independent provincial platform
//! (`tests/indie_platform/platform.py`, written from `docs/provincial-protocol.md` alone), on
//! both backends: a refused record is sent once per version and counted once; records taken
//! before a lost answer count as pushed. `sync_indie.rs` has the pulls.

mod common;
mod indie_support;

use common::*;
use indie_support::*;
use serde_json::json;

/// The document (lines 109–125): a round pushes every local record (origin not `provincial`)
/// the platform has not confirmed; the platform answers per item. The project decided that a
/// record the platform refused (`rejected`) is not sent again every round, only when its version
/// changes (the document is silent: see the report). Over two rounds the refused record is sent
/// once, the others once each, under pseudonyms where their ids hold ID numbers (lines
/// 105–106), and the provincial records are not pushed back. The admin view counts the refused
/// record once (`push_rejected` counts records, not attempts).
async fn a_refused_push_is_sent_once_per_version(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let app = spawn_on(&db).await;
    let local = make_local_records(&app, vec![penalty("CF-REJ", &code(405))]).await;
    assert_eq!(local, 5);
    let platform = IndiePlatform::start(
        &scenario(
            "short",
            plain_feed("PROV-FY", 6, 800),
            json!([]),
            &["CF-REJ"],
        ),
        KEY_ID,
    );
    sync_ok(&db, &platform).await;
    sync_ok(&db, &platform).await;
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(
        state["push_attempts_by_id"]["SCJG|CF-REJ|1"], 1,
        "the refused record was sent once over two rounds: {:#}",
        state["push_attempts_by_id"]
    );
    let attempts = state["push_attempts_by_id"].as_object().unwrap();
    assert_eq!(attempts.len(), local, "{attempts:#?}");
    assert!(
        attempts.values().all(|n| n == 1),
        "each local record sent once: {attempts:#?}"
    );
    assert_received_once(&state, &["CF-1", "CF-2", "CF-3", "CF-4|pid-*"]);

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(count(&view, "push_rejected"), 1, "{view:#}");
    assert_eq!(count(&view, "pushed"), 4, "{view:#}");
    assert_eq!(count(&view, "upserts"), 6, "{view:#}");
}

/// The document (lines 116–120): the platform takes a batch idempotently by (source code,
/// source record id, version); "an answer lost on the way (a timeout, a broken connection) means
/// the batch is sent again and answered `duplicate`", and "the city marks a record pushed at a
/// version once the platform answered `accepted` or `duplicate` for it". The platform takes the
/// first batch and closes the connection without answering: the city sends it again in the same
/// round, the platform holds each record once at its version, the admin view counts every
/// delivered record as pushed and none pending, and a second round sends nothing.
async fn a_lost_push_answer_counts_as_pushed(b: Backend) {
    let db = TestDb::new(b);
    migrate(&db);
    let app = spawn_on(&db).await;
    let local = make_local_records(&app, Vec::new()).await;
    let platform = IndiePlatform::start(
        &scenario(
            "padded",
            plain_feed("PROV-FY", 3, 900),
            json!([{"kind": "lose_push_answer", "times": 1}]),
            &[],
        ),
        KEY_ID,
    );
    sync_ok(&db, &platform).await;
    let state = platform.state().await;
    assert_no_violations(&state);
    assert_eq!(state["faults_left"]["lose_push_answer"], 0, "{state:#}");
    assert_received_once(&state, &["CF-1", "CF-2", "CF-3", "CF-4|pid-*"]);
    let attempts = state["push_attempts_by_id"].as_object().unwrap();
    assert_eq!(attempts.len(), local, "{attempts:#?}");
    assert!(
        attempts.values().all(|n| n == 2),
        "the batch whose answer was lost was sent again, once: {attempts:#?}"
    );

    sync_ok(&db, &platform).await;
    let again = platform.state().await;
    assert_eq!(
        again["push_attempts_by_id"], state["push_attempts_by_id"],
        "a second round sends nothing"
    );
    assert_received_once(&again, &["CF-1", "CF-2", "CF-3", "CF-4|pid-*"]);

    let city = CityServer::start(&db, &platform).await;
    let view = city.sync_view().await;
    assert_eq!(
        count(&view, "pushed"),
        local as i64,
        "every record the platform took counts as pushed (push_duplicates: {}): {view:#}",
        view["counts"]["push_duplicates"]
    );
    assert_eq!(count(&view, "push_pending"), 0, "{view:#}");
    assert_eq!(count(&view, "push_rejected"), 0, "{view:#}");
}

on_both_backends!(
    a_refused_push_is_sent_once_per_version,
    a_lost_push_answer_counts_as_pushed,
);
