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
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

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

/// Checks a page against the cursor it was asked for and puts it in order: changes sorted by
/// cursor, each once, none at or before `after`. A page whose next cursor goes back, or that
/// holds changes beyond its own next cursor, is refused (asked for again).
pub fn order_page(after: Option<&str>, page: ChangePage) -> Result<ChangePage, SyncError> {
    let ChangePage {
        mut changes,
        after: follows,
        next_cursor,
        has_more,
        remaining,
    } = page;
    if follows.as_deref() != after {
        return Err(SyncError::BadAnswer(format!(
            "the page follows {} instead of the cursor asked for, {}",
            follows.as_deref().unwrap_or("the start"),
            after.unwrap_or("the start")
        )));
    }
    if let (Some(a), Some(n)) = (after, next_cursor.as_deref()) {
        if n < a {
            return Err(SyncError::BadAnswer(format!(
                "the page's next cursor {n} is before the cursor asked for, {a}"
            )));
        }
    }
    if next_cursor.is_none() && (after.is_some() || !changes.is_empty()) {
        return Err(SyncError::BadAnswer("the page has no next cursor".into()));
    }
    changes.sort_by(|x, y| x.cursor.cmp(&y.cursor));
    changes.dedup_by(|x, y| x.cursor == y.cursor);
    if let Some(a) = after {
        changes.retain(|c| c.cursor.as_str() > a);
    }
    if let (Some(last), Some(n)) = (changes.last(), next_cursor.as_deref()) {
        if last.cursor.as_str() > n {
            return Err(SyncError::BadAnswer(format!(
                "change {} lies beyond the page's next cursor {n}",
                last.cursor
            )));
        }
    }
    Ok(ChangePage {
        changes,
        after: follows,
        next_cursor,
        has_more,
        remaining,
    })
}

/// An upsert's record, validated; or why it was refused.
enum Parsed {
    Upsert(Box<crate::domain::NewRecord>),
    Remove,
    Rejected(String),
}

fn parse_change(ctx: &Ctx, c: &Change) -> Parsed {
    if !(1..=ingest::MAX_VERSION).contains(&c.version) {
        return Parsed::Rejected(format!(
            "version {} is not from 1 to {}",
            c.version,
            ingest::MAX_VERSION
        ));
    }
    match c.op.as_str() {
        "remove" => Parsed::Remove,
        "upsert" => {
            let Some(Value::Object(mut record)) = c.record.clone() else {
                return Parsed::Rejected("an upsert without a record object".into());
            };
            // The change's own identity and version win over what the record says.
            record.insert("source_code".into(), json!(c.source_code));
            record.insert("source_record_id".into(), json!(c.source_record_id));
            record.insert("version".into(), json!(c.version));
            record.insert("origin".into(), json!(Origin::Provincial.as_str()));
            let submitter = Submitter {
                caller: sync_caller(),
            };
            let known = |code: &str| ctx.known_list(code);
            match ingest::parse_item(Value::Object(record), &submitter, &ctx.keys, &known) {
                Ok((r, _)) => Parsed::Upsert(Box::new(r)),
                Err(errors) => Parsed::Rejected(
                    errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            }
        }
        other => Parsed::Rejected(format!("unknown op '{other}' (upsert or remove)")),
    }
}

/// What a page's transaction did.
pub struct Applied {
    pub counts: PageCounts,
    /// Cache keys of the subjects whose profile changed.
    touched: BTreeSet<String>,
}

/// Applies one ordered page (from [`order_page`]) through the one write path of records
/// ([`ingest::write::apply_versions`]) and moves the cursor from `after` to the page's next
/// cursor, in one transaction. `None`: another runner moved the cursor first, and nothing was
/// written.
fn apply_page_tx(
    conn: &mut DbConn,
    keys: &DataKeys,
    parsed: &[(Change, Parsed)],
    after: Option<&str>,
    page: &ChangePage,
    now: chrono::NaiveDateTime,
) -> Result<Option<Applied>, StoreError> {
    let writes: Vec<Write> = parsed
        .iter()
        .map(|(c, p)| match p {
            Parsed::Upsert(r) => Write::Upsert {
                record: r.clone(),
                source_code: c.source_code.clone(),
            },
            Parsed::Remove => Write::Remove {
                source_code: c.source_code.clone(),
                source_record_id: c.source_record_id.clone(),
                version: c.version,
            },
            Parsed::Rejected(_) => Write::Invalid {
                source_code: c.source_code.clone(),
                source_record_id: c.source_record_id.clone(),
                version: c.version,
            },
        })
        .collect();
    conn.transaction::<_, StoreError, _>(|conn| {
        store_sync::ensure_state(conn, PLATFORM, now)?;
        if !store_sync::claim(conn, PLATFORM, after, now)? {
            return Ok(None);
        }
        // Provincial records register their subjects whatever the configured sources.
        let applied = ingest::write::apply_versions(conn, keys, &[], &writes, now)?;
        let mut counts = PageCounts::default();
        let mut last_reject = None;
        for ((c, p), outcome) in parsed.iter().zip(&applied.outcomes) {
            match outcome {
                Outcome::Created(_) | Outcome::Updated(_) => counts.upserts += 1,
                Outcome::Revoked(_) => counts.removals += 1,
                Outcome::Unchanged(_) | Outcome::Stale { .. } | Outcome::Absent => {
                    counts.skipped += 1
                }
                Outcome::Invalid => {
                    counts.rejected += 1;
                    let why = match p {
                        Parsed::Rejected(why) => why.as_str(),
                        _ => "invalid",
                    };
                    last_reject = Some(crate::domain::id_number::masked(&format!(
                        "{} {} version {} ({}): {why}",
                        c.source_code, c.source_record_id, c.version, c.cursor
                    )));
                }
            }
        }
        let next = page.next_cursor.as_deref().or(after);
        store_sync::advance(
            conn,
            PLATFORM,
            next,
            &counts,
            page.remaining,
            last_reject.as_deref(),
            now,
        )?;
        super::audit::append(
            conn,
            keys,
            &sync_caller(),
            &super::audit::Entry {
                action: "sync.apply",
                records: applied.changed,
                outcome: "ok",
                detail: Some(json!({
                    "after": after,
                    "cursor": next,
                    "upserts": counts.upserts,
                    "removals": counts.removals,
                    "skipped": counts.skipped,
                    "rejected": counts.rejected,
                })),
                ..Default::default()
            },
        )?;
        Ok(Some(Applied {
            counts,
            touched: applied.touched,
        }))
    })
}

/// Applies one page (already ordered) from `after`: see [`apply_page_tx`].
pub async fn apply_page(
    ctx: &Ctx,
    after: Option<String>,
    page: ChangePage,
) -> Result<Option<PageCounts>, StoreError> {
    let parsed: Vec<(Change, Parsed)> = page
        .changes
        .iter()
        .map(|c| {
            // The record id as the city keeps it (no ID number in it; see `ingest::parse_item`),
            // so that removals and versions find the record an upsert stored.
            let mut c = c.clone();
            c.source_record_id = ctx.keys.pseudonymise(&c.source_record_id);
            let p = parse_change(ctx, &c);
            (c, p)
        })
        .collect();
    let keys = ctx.keys.clone();
    let now = store::now();
    let applied = ctx
        .db
        .run_write(move |conn| apply_page_tx(conn, &keys, &parsed, after.as_deref(), &page, now))
        .await?;
    Ok(match applied {
        None => None,
        Some(a) => {
            super::query::invalidate_profiles(ctx, &a.touched).await;
            Some(a.counts)
        }
    })
}

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
async fn pause(d: Duration, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stopped(stop) => true,
    }
}

async fn note_error(ctx: &Ctx, message: String) {
    // The platform's words may quote a record: stored and shown with ID numbers masked.
    let message = crate::domain::id_number::masked(&message);
    let now = store::now();
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
    let now = store::now();
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
        if empty && next.as_deref() == after.as_deref() {
            // Nothing new: the data is as current as the platform's.
            let remaining = page.remaining;
            let now = store::now();
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
    Ok(report)
}

/// The record as the platform takes it: the shape of `POST /api/v1/records/batch`, with the
/// ID numbers decrypted (the exchange is lawful sharing between platforms; DESIGN.md).
fn push_record(keys: &DataKeys, r: &RecordRow, s: &SubjectRow) -> Value {
    let dec = |v: &Option<String>| v.as_deref().and_then(|e| keys.decrypt(e).ok());
    let mut subject = Map::new();
    if let Some(u) = &s.uscc {
        subject.insert("uscc".into(), json!(u));
    }
    if let Some(reg) = &s.reg_no {
        subject.insert("reg_no".into(), json!(reg));
    }
    if let Some(id) = dec(&s.id_number_enc) {
        subject.insert("id_number".into(), json!(id));
    }
    subject.insert("name".into(), json!(s.name));
    subject.insert("kind".into(), json!(s.kind));
    if let Some(name) = &r.legal_rep_name {
        subject.insert(
            "legal_rep".into(),
            json!({"name": name, "id_number": dec(&r.legal_rep_id_enc)}),
        );
    }
    let fine = r
        .fine_amount_fen
        .map(|f| format!("{}.{:02}", f / 100, f % 100));
    json!({
        "source_record_id": r.source_record_id,
        "source_code": r.source_code,
        "kind": r.kind,
        "list_code": r.list_code,
        "subject": subject,
        "decision_no": r.decision_no,
        "decision_date": r.decision_date,
        "valid_from": r.valid_from,
        "valid_to": r.valid_to,
        "severity": r.severity,
        "penalty_types": serde_json::from_str::<Value>(&r.penalty_types).unwrap_or(json!([])),
        "fine_amount": fine,
        "authority": {"name": r.authority_name, "uscc": r.authority_uscc},
        "sharing_class": r.sharing_class,
        "open_class": r.open_class,
        "status": r.status,
        "version": r.version,
        "origin": r.origin,
        "details": serde_json::from_str::<Value>(&r.details).unwrap_or(json!({})),
    })
}

async fn push_all(
    ctx: &Ctx,
    platform: &dyn Platform,
    settings: &Settings,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    report: &mut RoundReport,
    progress: &mut dyn Progress,
) -> Result<(), RoundError> {
    let mut after_id = String::new();
    loop {
        if *stop.borrow() {
            return Err(RoundError::Stopped);
        }
        let limit = settings.push_batch;
        let from = after_id.clone();
        let due = ctx
            .db
            .run(move |conn| store_sync::push_due(conn, &from, limit))
            .await?;
        let Some(last) = due.last() else {
            return Ok(());
        };
        after_id = last.0.id.clone();
        let batch = PushBatch {
            // The same id on every retry of this batch.
            batch_id: ingest::new_id("push"),
            records: due
                .iter()
                .map(|(r, s)| PushItem {
                    source_code: r.source_code.clone(),
                    source_record_id: r.source_record_id.clone(),
                    version: r.version,
                    record: push_record(&ctx.keys, r, s),
                })
                .collect(),
        };
        let results = with_retries(ctx, settings, "push", stop, report, progress, || {
            platform.push(&batch)
        })
        .await?;
        let mut done = Vec::new();
        let (mut accepted, mut duplicates, mut rejected) = (0i64, 0i64, 0i64);
        for res in &results {
            let Some((r, _)) = due.get(res.index) else {
                continue;
            };
            match res.status.as_str() {
                "accepted" => {
                    accepted += 1;
                    done.push((r.id.clone(), r.version));
                }
                "duplicate" => {
                    duplicates += 1;
                    done.push((r.id.clone(), r.version));
                }
                _ => {
                    rejected += 1;
                    tracing::warn!(record = %r.id, errors = ?res.errors, "the platform refused a pushed record");
                }
            }
        }
        let keys = ctx.keys.clone();
        let now = store::now();
        ctx.db
            .run_write(move |conn| {
                conn.transaction::<_, StoreError, _>(|conn| {
                    for (id, version) in &done {
                        store_sync::mark_pushed(conn, id, *version)?;
                    }
                    store_sync::note_push(conn, PLATFORM, accepted, duplicates, rejected, now)?;
                    super::audit::append(
                        conn,
                        &keys,
                        &sync_caller(),
                        &super::audit::Entry {
                            action: "sync.push",
                            records: done.iter().map(|d| d.0.clone()).collect(),
                            outcome: "ok",
                            detail: Some(json!({
                                "accepted": accepted,
                                "duplicate": duplicates,
                                "rejected": rejected,
                            })),
                            ..Default::default()
                        },
                    )?;
                    Ok(())
                })
            })
            .await?;
        report.pushed += accepted;
        report.push_duplicates += duplicates;
        report.push_rejected += rejected;
        progress.pushed(report);
    }
}

/// The one-runner guard: a PostgreSQL session advisory lock, on a connection of its own for
/// the round (dropping the guard closes it, and a killed runner's session ends with its
/// process, so the lock never outlives its holder); on SQLite, whose file serves one instance,
/// the in-process lock alone (two processes on one file still never both apply a page: each
/// page's transaction first claims the cursor it started from).
pub struct RunnerLock {
    conn: Option<DbConn>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

impl RunnerLock {
    /// Takes the lock if no other runner holds it.
    pub async fn try_acquire(ctx: &Ctx) -> Result<Option<RunnerLock>, StoreError> {
        let Ok(local) = ctx.sync_runner.clone().try_lock_owned() else {
            return Ok(None);
        };
        if ctx.db.backend() == store::Backend::Sqlite {
            return Ok(Some(RunnerLock {
                conn: None,
                _local: local,
            }));
        }
        let db = ctx.db.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let mut conn = db.dedicated()?;
            Ok(store_sync::try_lock(&mut conn)?.then_some(conn))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("lock task failed: {e}")))??;
        Ok(conn.map(|c| RunnerLock {
            conn: Some(c),
            _local: local,
        }))
    }

    /// Gives the lock up, then closes its connection (which alone would end the session lock,
    /// a moment later).
    pub async fn release(mut self) {
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(c) = self.conn.as_mut() {
                if let Err(e) = store_sync::unlock(c) {
                    tracing::warn!(error = %e, "sync lock: unlock failed; closing its connection ends it");
                }
            }
            drop(self)
        })
        .await;
    }
}

/// The sync beside the server: a round every `interval` while this instance holds the lock,
/// until `stop` turns true.
pub fn spawn_worker(
    ctx: Ctx,
    platform: Arc<dyn Platform>,
    settings: Settings,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match RunnerLock::try_acquire(&ctx).await {
                Ok(Some(lock)) => {
                    let r = run_round(&ctx, platform.as_ref(), &settings, &mut stop, &mut ()).await;
                    lock.release().await;
                    match r {
                        Ok(report) => tracing::info!(?report, "sync round done"),
                        Err(RoundError::Stopped) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "sync round failed; the next round tries again")
                        }
                    }
                }
                Ok(None) => tracing::debug!("another instance runs the sync"),
                Err(e) => tracing::warn!(error = %e, "sync lock unavailable"),
            }
            if pause(interval, &mut stop).await {
                break;
            }
        }
        tracing::info!("sync worker stopped");
    })
}

/// The sync's state for admins (`GET /api/v1/admin/sync`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncView {
    /// `off` (no platform configured), `never` (no success yet), `ok`, `stale` or `failing`.
    pub status: String,
    pub platform_url: Option<String>,
    /// The position in the platform's change feed.
    pub cursor: Option<String>,
    /// Changes the platform still holds after the cursor, as it said on the last pull.
    pub remaining: Option<i64>,
    /// Seconds since the last successful pull.
    pub lag_seconds: Option<i64>,
    /// Stale after this many seconds without a successful pull.
    pub stale_after_seconds: u64,
    pub last_success_at: Option<String>,
    pub last_pull_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Why the last refused change was refused.
    pub last_reject: Option<String>,
    pub counts: SyncCounts,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SyncCounts {
    pub pages: i64,
    pub upserts: i64,
    pub removals: i64,
    pub skipped: i64,
    pub rejected: i64,
    pub pushed: i64,
    pub push_duplicates: i64,
    pub push_rejected: i64,
    /// Local records whose newest version the platform has not confirmed.
    pub push_pending: i64,
}

/// How the sync is configured, for the views.
#[derive(Debug, Clone)]
pub struct SyncSetup {
    pub url: Option<String>,
    pub stale_after: Duration,
}

pub fn view(
    setup: &SyncSetup,
    row: Option<SyncStateRow>,
    push_pending: i64,
    now: chrono::NaiveDateTime,
) -> SyncView {
    let ts = |t: Option<chrono::NaiveDateTime>| t.map(super::rfc3339);
    let lag = row
        .as_ref()
        .and_then(|r| r.last_success_at)
        .map(|t| (now - t).num_seconds().max(0));
    let stale_after = setup.stale_after.as_secs();
    let status = match (&setup.url, &row) {
        (None, _) => "off",
        (Some(_), None) => "never",
        (Some(_), Some(r)) => match lag {
            None => "never",
            Some(l) if l as u64 > stale_after => "stale",
            Some(_) if r.last_error_at > r.last_success_at => "failing",
            Some(_) => "ok",
        },
    };
    let r = row.as_ref();
    SyncView {
        status: status.into(),
        platform_url: setup.url.clone(),
        cursor: r.and_then(|r| r.cursor.clone()),
        remaining: r.and_then(|r| r.remaining),
        lag_seconds: lag,
        stale_after_seconds: stale_after,
        last_success_at: ts(r.and_then(|r| r.last_success_at)),
        last_pull_at: ts(r.and_then(|r| r.last_pull_at)),
        last_error: r.and_then(|r| r.last_error.clone()),
        last_error_at: ts(r.and_then(|r| r.last_error_at)),
        last_reject: r.and_then(|r| r.last_reject.clone()),
        counts: r
            .map(|r| SyncCounts {
                pages: r.pages,
                upserts: r.upserts,
                removals: r.removals,
                skipped: r.skipped,
                rejected: r.rejected,
                pushed: r.pushed,
                push_duplicates: r.push_duplicates,
                push_rejected: r.push_rejected,
                push_pending,
            })
            .unwrap_or(SyncCounts {
                push_pending,
                ..Default::default()
            }),
    }
}

/// The sync's state (no access-log entry: it holds no credit data).
pub async fn status(ctx: &Ctx, setup: &SyncSetup) -> ServiceResult<SyncView> {
    let (row, pending) = ctx
        .db
        .run(|conn| {
            Ok((
                store_sync::state(conn, PLATFORM)?,
                store_sync::push_pending(conn)?,
            ))
        })
        .await?;
    Ok(view(setup, row, pending, store::now()))
}

/// The same, for an admin caller.
pub async fn status_for(ctx: &Ctx, caller: &Caller, setup: &SyncSetup) -> ServiceResult<SyncView> {
    super::access::READ_SYNC.require(caller)?;
    status(ctx, setup).await
}

/// One line of the digest of provincial records (the simulator computes the same from its
/// changes): source code, record id, version, status, subject code, details.
pub fn digest_line(
    source: &str,
    id: &str,
    version: i64,
    status: &str,
    uscc: &str,
    details: &str,
) -> String {
    format!("{source}\t{id}\t{version}\t{status}\t{uscc}\t{details}\n")
}

/// SHA-256 over the sorted lines.
pub fn digest_of(mut lines: Vec<String>) -> String {
    lines.sort();
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The provincial records as the digest sees them: (count, digest, history rows).
pub async fn provincial_digest(ctx: &Ctx) -> ServiceResult<(usize, String, i64)> {
    let (rows, versions) = ctx
        .db
        .run(|conn| {
            Ok((
                store_sync::provincial_records(conn)?,
                store_sync::provincial_versions(conn)?,
            ))
        })
        .await?;
    let n = rows.len();
    let lines = rows
        .into_iter()
        .map(|(s, i, v, st, u, d)| digest_line(&s, &i, v, &st, u.as_deref().unwrap_or(""), &d))
        .collect();
    Ok((n, digest_of(lines), versions))
}
