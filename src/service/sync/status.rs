//! The sync's state for admins and the digest both sides compare.

use super::*;
use crate::sync::protocol::{digest_line, digest_of};

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
    /// Why the platform refused the last pushed record it refused.
    pub last_push_reject: Option<String>,
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
    /// Of `pushed`, the records the platform already held.
    pub push_duplicates: i64,
    /// Pushed records the platform refused, each counted once per version.
    pub push_rejected: i64,
    /// Local records whose newest version the platform has neither confirmed nor refused.
    pub push_pending: i64,
    /// Local records whose newest version the platform refused: not sent again until a newer
    /// version (`last_push_reject` says why the last one was).
    pub push_refused_now: i64,
}

/// How many local records wait for the platform, and how many it refused as they stand.
#[derive(Debug, Clone, Copy, Default)]
pub struct PushBacklog {
    pub pending: i64,
    pub refused: i64,
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
    backlog: PushBacklog,
    now: chrono::NaiveDateTime,
) -> SyncView {
    let ts = |t: Option<chrono::NaiveDateTime>| t.map(crate::service::rfc3339);
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
        last_push_reject: r.and_then(|r| r.last_push_reject.clone()),
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
                push_pending: backlog.pending,
                push_refused_now: backlog.refused,
            })
            .unwrap_or(SyncCounts {
                push_pending: backlog.pending,
                push_refused_now: backlog.refused,
                ..Default::default()
            }),
    }
}

/// The sync's state (no access-log entry: it holds no credit data).
pub async fn status(ctx: &Ctx, setup: &SyncSetup) -> ServiceResult<SyncView> {
    let (row, backlog) = ctx
        .db
        .run(|conn| {
            Ok((
                store_sync::state(conn, PLATFORM)?,
                PushBacklog {
                    pending: store_sync::push_pending(conn)?,
                    refused: store_sync::push_refused(conn)?,
                },
            ))
        })
        .await?;
    Ok(view(setup, row, backlog, ctx.clock.stamp()))
}

/// The same, for an admin caller.
pub async fn status_for(ctx: &Ctx, caller: &Caller, setup: &SyncSetup) -> ServiceResult<SyncView> {
    crate::service::access::READ_SYNC.require(caller)?;
    status(ctx, setup).await
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
