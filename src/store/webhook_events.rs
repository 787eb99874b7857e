//! The outbox of watch-list events and their delivery state, and the daily sweep's place per
//! list.

use super::schema::{watchlist_subjects, watchlists, webhook_events};
use super::{DbConn, StoreResult};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_events)]
pub struct EventRow {
    /// `evt_` and a ULID: the `webhook-id` of every attempt.
    pub id: String,
    pub watchlist_id: String,
    pub event_type: String,
    /// Set for the sweep's events: one event per key and list.
    pub dedupe_key: Option<String>,
    /// The JSON body sent, fixed when the event is written.
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub last_attempt_at: Option<NaiveDateTime>,
    /// `HTTP 500`, `connection refused`, …: what the last attempt met.
    pub last_result: Option<String>,
    pub delivered_at: Option<NaiveDateTime>,
}

/// Rows per multi-row insert (12 parameters each, under SQLite's limit of 32,766).
const CHUNK: usize = 500;

/// Writes events; those whose (list, dedupe key) is taken are left out. Returns how many were
/// written.
pub fn insert(conn: &mut DbConn, rows: &[EventRow]) -> StoreResult<usize> {
    let mut n = 0;
    for chunk in rows.chunks(CHUNK) {
        n += match conn {
            DbConn::Pg(c) => diesel::insert_into(webhook_events::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .execute(c)?,
            DbConn::Sqlite(c) => diesel::insert_or_ignore_into(webhook_events::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    Ok(n)
}

/// Pending events due by `now`, the earliest first, of lists other than `busy` (those being
/// sent to).
pub fn due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    busy: &[String],
    limit: i64,
) -> StoreResult<Vec<EventRow>> {
    Ok(webhook_events::table
        .filter(webhook_events::state.eq(PENDING))
        .filter(webhook_events::next_attempt_at.le(now))
        .filter(webhook_events::watchlist_id.ne_all(busy))
        .order((webhook_events::next_attempt_at, webhook_events::id))
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)?)
}

pub fn find(conn: &mut DbConn, list: &str, id: &str) -> StoreResult<Option<EventRow>> {
    Ok(webhook_events::table
        .find(id)
        .filter(webhook_events::watchlist_id.eq(list))
        .select(EventRow::as_select())
        .first(conn)
        .optional()?)
}

/// A list's events, newest first, after the cursor (an event id), optionally of one state.
pub fn of_list(
    conn: &mut DbConn,
    list: &str,
    state: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<EventRow>> {
    let mut q = webhook_events::table
        .filter(webhook_events::watchlist_id.eq(list))
        .order(webhook_events::id.desc())
        .limit(limit)
        .select(EventRow::as_select())
        .into_boxed();
    if let Some(s) = state {
        q = q.filter(webhook_events::state.eq(s.to_string()));
    }
    if let Some(b) = before {
        q = q.filter(webhook_events::id.lt(b.to_string()));
    }
    Ok(q.load(conn)?)
}

/// The result of one attempt. `state` is the event's new state; `next` its next attempt.
pub struct Attempt<'a> {
    pub state: &'a str,
    pub at: NaiveDateTime,
    pub next: NaiveDateTime,
    pub result: &'a str,
}

/// Records an attempt of a pending event; false when it was not pending any more.
pub fn record_attempt(conn: &mut DbConn, id: &str, a: &Attempt<'_>) -> StoreResult<bool> {
    let delivered = (a.state == DELIVERED).then_some(a.at);
    let n = diesel::update(
        webhook_events::table
            .find(id)
            .filter(webhook_events::state.eq(PENDING)),
    )
    .set((
        webhook_events::state.eq(a.state),
        webhook_events::attempts.eq(webhook_events::attempts + 1),
        webhook_events::last_attempt_at.eq(Some(a.at)),
        webhook_events::next_attempt_at.eq(a.next),
        webhook_events::last_result.eq(Some(a.result)),
        webhook_events::delivered_at.eq(delivered),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Holds a list's other pending events back until `until` (they queue behind the one that
/// failed, so that a receiver that is down is tried once per backoff, not once per event).
pub fn hold_back(conn: &mut DbConn, list: &str, until: NaiveDateTime) -> StoreResult<usize> {
    Ok(diesel::update(
        webhook_events::table
            .filter(webhook_events::watchlist_id.eq(list))
            .filter(webhook_events::state.eq(PENDING))
            .filter(webhook_events::next_attempt_at.lt(until)),
    )
    .set(webhook_events::next_attempt_at.eq(until))
    .execute(conn)?)
}

/// Makes an event pending again, due at `now` (its id stays); false when there is none.
pub fn redeliver(conn: &mut DbConn, list: &str, id: &str, now: NaiveDateTime) -> StoreResult<bool> {
    let n = diesel::update(
        webhook_events::table
            .find(id)
            .filter(webhook_events::watchlist_id.eq(list)),
    )
    .set((
        webhook_events::state.eq(PENDING),
        webhook_events::next_attempt_at.eq(now),
        webhook_events::created_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Makes every failed event of a list pending again, due at `now`; returns how many.
pub fn redeliver_failed(conn: &mut DbConn, list: &str, now: NaiveDateTime) -> StoreResult<usize> {
    Ok(diesel::update(
        webhook_events::table
            .filter(webhook_events::watchlist_id.eq(list))
            .filter(webhook_events::state.eq(FAILED)),
    )
    .set((
        webhook_events::state.eq(PENDING),
        webhook_events::next_attempt_at.eq(now),
        webhook_events::created_at.eq(now),
    ))
    .execute(conn)?)
}

/// Fails a deleted list's pending events with `why`.
pub fn fail_pending(
    conn: &mut DbConn,
    list: &str,
    why: &str,
    at: NaiveDateTime,
) -> StoreResult<usize> {
    Ok(diesel::update(
        webhook_events::table
            .filter(webhook_events::watchlist_id.eq(list))
            .filter(webhook_events::state.eq(PENDING)),
    )
    .set((
        webhook_events::state.eq(FAILED),
        webhook_events::last_result.eq(Some(why)),
        webhook_events::last_attempt_at.eq(Some(at)),
    ))
    .execute(conn)?)
}

/// How many events of each state a list has.
pub fn counts(conn: &mut DbConn, list: &str) -> StoreResult<Vec<(String, i64)>> {
    Ok(webhook_events::table
        .filter(webhook_events::watchlist_id.eq(list))
        .group_by(webhook_events::state)
        .select((webhook_events::state, diesel::dsl::count_star()))
        .load(conn)?)
}

/// The lists (not deleted) watching any of `keys`, with the key each watches.
pub fn watchers_of(
    conn: &mut DbConn,
    keys: &[String],
) -> StoreResult<Vec<(super::watchlists::WatchlistRow, String)>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(1000) {
        let rows: Vec<(super::watchlists::WatchlistRow, String)> = watchlist_subjects::table
            .inner_join(watchlists::table)
            .filter(watchlist_subjects::subject_key.eq_any(chunk))
            .filter(watchlists::deleted_at.is_null())
            .select((
                super::watchlists::WatchlistRow::as_select(),
                watchlist_subjects::subject_key,
            ))
            .load(conn)?;
        out.extend(rows);
    }
    Ok(out)
}

/// A list behind on its sweep, with the day it was last swept and the last key of a sweep under
/// way.
pub type Behind = (
    super::watchlists::WatchlistRow,
    Option<NaiveDate>,
    Option<NaiveDate>,
    Option<String>,
);

/// A list behind on its sweep: swept on an earlier day than `today`, or never.
pub fn behind_sweep(conn: &mut DbConn, today: NaiveDate) -> StoreResult<Option<Behind>> {
    Ok(watchlists::table
        .filter(watchlists::deleted_at.is_null())
        .filter(
            watchlists::swept_on
                .is_null()
                .or(watchlists::swept_on.lt(today)),
        )
        .order(watchlists::id)
        .select((
            super::watchlists::WatchlistRow::as_select(),
            watchlists::swept_on,
            watchlists::sweep_to,
            watchlists::sweep_after,
        ))
        .first(conn)
        .optional()?)
}

/// The next `limit` subject keys of a list after `after`, in key order.
pub fn subjects_after(
    conn: &mut DbConn,
    list: &str,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<String>> {
    let mut q = watchlist_subjects::table
        .filter(watchlist_subjects::watchlist_id.eq(list))
        .order(watchlist_subjects::subject_key)
        .limit(limit)
        .select(watchlist_subjects::subject_key)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(watchlist_subjects::subject_key.gt(a.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Moves a list's sweep on: under way, compared from `swept_on` to `to`, done up to the key
/// `after`; or finished (`to` and `after` none) with the day swept.
pub fn set_sweep(
    conn: &mut DbConn,
    list: &str,
    swept_on: Option<NaiveDate>,
    to: Option<NaiveDate>,
    after: Option<&str>,
) -> StoreResult<()> {
    diesel::update(watchlists::table.find(list))
        .set((
            watchlists::swept_on.eq(swept_on),
            watchlists::sweep_to.eq(to),
            watchlists::sweep_after.eq(after),
        ))
        .execute(conn)?;
    Ok(())
}

/// The time a list's held events wait until (the next attempt of one that failed), if any: a
/// new event of the list waits behind them, so that the list's events go out in order.
pub fn held_until(conn: &mut DbConn, list: &str) -> StoreResult<Option<NaiveDateTime>> {
    Ok(webhook_events::table
        .filter(webhook_events::watchlist_id.eq(list))
        .filter(webhook_events::state.eq(PENDING))
        .filter(webhook_events::attempts.gt(0))
        .select(diesel::dsl::max(webhook_events::next_attempt_at))
        .first(conn)?)
}

/// Deletes delivered and failed events queued before `before`; returns how many.
pub fn purge(conn: &mut DbConn, before: NaiveDateTime) -> StoreResult<usize> {
    Ok(diesel::delete(
        webhook_events::table
            .filter(webhook_events::state.ne(PENDING))
            .filter(webhook_events::created_at.lt(before)),
    )
    .execute(conn)?)
}
