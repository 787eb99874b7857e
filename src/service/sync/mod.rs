//! The provincial sync (issue #5, DESIGN.md "Provincial sync"): pull the platform's changes page
//! by page and apply each page with its cursor in one transaction; push the city's records in
//! idempotent batches; retry with backoff and jitter; one runner at a time.
//!
//! The protocol and the platform seam are in `crate::sync`; this is the use case, because applying
//! a page writes records, their history and the access log in one transaction (DESIGN.md puts
//! transactions and audit in `service`).
//!
//! Rules of the apply, per (source code, source record id):
//! - a change whose version is not newer than the stored one is skipped, whatever the stored
//!   record's origin: a provincial change never overwrites a newer local version, and a page
//!   seen twice changes nothing;
//! - an upsert writes the record with `origin: provincial` and one history row;
//! - a removal marks the record `revoked` (the evaluator gives a revoked record no effect,
//!   API.md "status") at the removal's version, with one history row; a removal of a record
//!   never seen is skipped.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use diesel::Connection;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::audit::Actor;
use super::ingest::{self, Outcome, Submitter, Write};
use super::{Ctx, ServiceResult};
use crate::crypto::DataKeys;
use crate::domain::{Caller, Origin, Role};
use crate::store::records::RecordRow;
use crate::store::subjects::SubjectRow;
use crate::store::sync::{self as store_sync, PageCounts, SyncStateRow};
use crate::store::{self, DbConn, StoreError};
use crate::sync::platform::{backoff, Platform, SyncError};
use crate::sync::protocol::{Change, ChangePage, PushBatch, PushItem};

/// The name of the provincial platform's row in `sync_state`.
pub const PLATFORM: &str = "provincial";

/// How a round runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Changes asked for per page (the protocol allows up to 1000).
    pub page_size: usize,
    /// Records per push batch.
    pub push_batch: i64,
    /// Tries of one request before the round gives up (the next round starts again).
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            page_size: 500,
            push_batch: 200,
            max_attempts: 10,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// The caller that the sync's writes are logged as.
pub fn sync_caller() -> Caller {
    Caller {
        key_id: "sync".into(),
        org_code: "PROVINCIAL".into(),
        role: Role::Admin,
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RoundReport {
    pub pages: u64,
    pub upserts: i64,
    pub removals: i64,
    pub skipped: i64,
    pub rejected: i64,
    pub pushed: i64,
    pub push_duplicates: i64,
    pub push_rejected: i64,
    /// Approved repairs the platform took, and those it refused (not sent again).
    pub repairs_pushed: i64,
    pub repairs_refused: i64,
    /// Requests tried again after a fault.
    pub retries: u64,
    /// Pages whose cursor another runner had moved first: fetched, not applied.
    pub lost_races: u64,
    pub cursor: Option<String>,
    pub remaining: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error("provincial platform: {0}")]
    Platform(SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stopped")]
    Stopped,
}

/// What a round reports as it goes (the command line prints it).
pub trait Progress: Send {
    fn page(&mut self, _report: &RoundReport) {}
    fn retry(&mut self, _what: &str, _error: &SyncError, _wait: Duration) {}
    fn pushed(&mut self, _report: &RoundReport) {}
}

impl Progress for () {}

mod apply;
mod lock;
mod push;
mod status;

pub use apply::{apply_page, order_page, Applied};
pub use lock::{spawn_worker, RunnerLock};
use push::*;
pub use status::{provincial_digest, status, status_for, view, SyncCounts, SyncSetup, SyncView};

/// Resolves when the round is told to stop (never, once the sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Waits `d`, or less if the round is told to stop; true when it should stop.
pub(crate) async fn pause(d: Duration, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stopped(stop) => true,
    }
}

async fn note_error(ctx: &Ctx, message: String) {
    // The platform's words may quote a record: stored and shown with ID numbers masked.
    let message = crate::domain::id_number::masked(&message);
    let now = ctx.clock.stamp();
    let r = ctx
        .db
        .run_write(move |conn| {
            store_sync::ensure_state(conn, PLATFORM, now)?;
            store_sync::note_error(conn, PLATFORM, &message, now)
        })
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "could not record the sync error");
    }
}

/// Calls `f` until it succeeds, a non-retryable error comes, or the tries run out; every
/// failure is recorded as the last error.
async fn with_retries<T, F, Fut>(
    ctx: &Ctx,
    settings: &Settings,
    what: &str,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    report: &mut RoundReport,
    progress: &mut dyn Progress,
    mut f: F,
) -> Result<T, RoundError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SyncError>>,
{
    let mut attempt = 0u32;
    loop {
        // A request in flight is dropped on shutdown: nothing of it was applied yet.
        let r = tokio::select! {
            r = f() => r,
            _ = stopped(stop) => return Err(RoundError::Stopped),
        };
        match r {
            Ok(v) => return Ok(v),
            Err(e) => {
                note_error(ctx, format!("{what}: {e}")).await;
                if !e.retryable() || attempt + 1 >= settings.max_attempts {
                    tracing::warn!(error = %e, attempts = attempt + 1, what, "provincial platform request failed; giving up this round");
                    return Err(RoundError::Platform(e));
                }
                // Expected now and then; the last error is kept for the admin view.
                tracing::debug!(error = %e, attempt, what, "provincial platform request failed; trying again");
                let wait = backoff(attempt, settings.backoff_base, settings.backoff_max);
                progress.retry(what, &e, wait);
                if pause(wait, stop).await {
                    return Err(RoundError::Stopped);
                }
                attempt += 1;
                report.retries += 1;
            }
        }
    }
}

/// One round: pull every page there is, then push every local record the platform lacks.
pub async fn run_round(
    ctx: &Ctx,
    platform: &dyn Platform,
    settings: &Settings,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    progress: &mut dyn Progress,
) -> Result<RoundReport, RoundError> {
    let mut report = RoundReport::default();
    let mut passed = std::collections::HashSet::new();
    let now = ctx.clock.stamp();
    ctx.db
        .run_write(move |conn| store_sync::ensure_state(conn, PLATFORM, now))
        .await?;
    loop {
        if *stop.borrow() {
            return Err(RoundError::Stopped);
        }
        let after = ctx
            .db
            .run(|conn| store_sync::state(conn, PLATFORM))
            .await?
            .and_then(|s| s.cursor);
        if let Some(a) = &after {
            passed.insert(a.clone());
        }
        let page = with_retries(ctx, settings, "pull", stop, &mut report, progress, || {
            let after = after.clone();
            async move {
                let page = platform.pull(after.as_deref(), settings.page_size).await?;
                order_page(after.as_deref(), page)
            }
        })
        .await?;
        let has_more = page.has_more;
        let empty = page.changes.is_empty();
        let next = page.next_cursor.clone();
        // Cursors are opaque, but one the round has passed must not come back: a feed that
        // cycles (A, B, A) would be read for ever.
        if let Some(n) = &next {
            if next.as_deref() != after.as_deref() && passed.contains(n) {
                let e = SyncError::BadAnswer(format!(
                    "the feed came back to cursor {n}, which this round has passed"
                ));
                note_error(ctx, format!("pull: {e}")).await;
                return Err(RoundError::Platform(e));
            }
        }
        if empty && next.as_deref() == after.as_deref() {
            // Nothing new: the data is as current as the platform's.
            let remaining = page.remaining;
            let now = ctx.clock.stamp();
            ctx.db
                .run_write(move |conn| store_sync::note_success(conn, PLATFORM, remaining, now))
                .await?;
            report.cursor = after;
            report.remaining = page.remaining;
            if !has_more {
                break;
            }
            continue;
        }
        let remaining = page.remaining;
        match apply_page(ctx, after, page).await? {
            Some(c) => {
                report.pages += 1;
                report.upserts += c.upserts;
                report.removals += c.removals;
                report.skipped += c.skipped;
                report.rejected += c.rejected;
                report.cursor = next;
                report.remaining = remaining;
                progress.page(&report);
            }
            None => report.lost_races += 1,
        }
        if !has_more {
            break;
        }
    }
    push_all(ctx, platform, settings, stop, &mut report, progress).await?;
    push_repairs(ctx, platform, settings, stop, &mut report, progress).await?;
    // The round succeeded, after whatever its retries overcame: the status is `ok` again, and
    // the error they met stays in the view as the last one.
    let now = ctx.clock.stamp();
    ctx.db
        .run_write(move |conn| store_sync::note_round_ok(conn, PLATFORM, now))
        .await?;
    Ok(report)
}
