//! The provincial sync's bookkeeping: the pull cursor and counts (one row per platform), and the
//! queries of the page apply and the push.

use crate::domain::Origin;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::records::RecordRow;
use super::schema::{credit_record_versions, credit_records, repairs, subjects, sync_state};
use super::subjects::SubjectRow;
use super::{on_backend, DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sync_state)]
pub struct SyncStateRow {
    pub name: String,
    pub cursor: Option<String>,
    pub pages: i64,
    pub upserts: i64,
    pub removals: i64,
    pub skipped: i64,
    pub rejected: i64,
    pub pushed: i64,
    pub push_duplicates: i64,
    pub push_rejected: i64,
    pub remaining: Option<i64>,
    pub last_pull_at: Option<NaiveDateTime>,
    pub last_success_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub last_error_at: Option<NaiveDateTime>,
    pub last_reject: Option<String>,
    pub updated_at: NaiveDateTime,
    /// Why the platform refused the last pushed record it refused.
    pub last_push_reject: Option<String>,
}

/// What one applied page adds to the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub upserts: i64,
    pub removals: i64,
    pub skipped: i64,
    pub rejected: i64,
}

pub fn state(conn: &mut DbConn, name: &str) -> StoreResult<Option<SyncStateRow>> {
    Ok(sync_state::table
        .find(name)
        .select(SyncStateRow::as_select())
        .first(conn)
        .optional()?)
}

/// Makes the platform's row (cursor at the start) unless it exists.
pub fn ensure_state(conn: &mut DbConn, name: &str, now: NaiveDateTime) -> StoreResult<()> {
    let row = (sync_state::name.eq(name), sync_state::updated_at.eq(now));
    on_backend!(conn, |c| diesel::insert_into(sync_state::table)
        .values(row)
        .on_conflict(sync_state::name)
        .do_nothing()
        .execute(c)?);
    Ok(())
}

/// Takes the platform's row for this transaction if its cursor is still `expected`: the first
/// write of a page's transaction, so a second runner waits here (the row lock on PostgreSQL,
/// the write lock on SQLite) and then finds the cursor moved. Returns whether it matched.
pub fn claim(
    conn: &mut DbConn,
    name: &str,
    expected: Option<&str>,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    let target = sync_state::table.filter(sync_state::name.eq(name));
    let n = match expected {
        Some(c) => diesel::update(target.filter(sync_state::cursor.eq(c)))
            .set(sync_state::updated_at.eq(now))
            .execute(conn)?,
        None => diesel::update(target.filter(sync_state::cursor.is_null()))
            .set(sync_state::updated_at.eq(now))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// Advances the cursor and adds a page's counts (after [`claim`], in the same transaction).
pub fn advance(
    conn: &mut DbConn,
    name: &str,
    cursor: Option<&str>,
    counts: &PageCounts,
    remaining: Option<i64>,
    last_reject: Option<&str>,
    now: NaiveDateTime,
) -> StoreResult<()> {
    use sync_state::dsl as s;
    diesel::update(s::sync_state.find(name))
        .set((
            s::cursor.eq(cursor),
            s::pages.eq(s::pages + 1),
            s::upserts.eq(s::upserts + counts.upserts),
            s::removals.eq(s::removals + counts.removals),
            s::skipped.eq(s::skipped + counts.skipped),
            s::rejected.eq(s::rejected + counts.rejected),
            s::remaining.eq(remaining),
            s::last_pull_at.eq(now),
            s::last_success_at.eq(now),
            s::updated_at.eq(now),
        ))
        .execute(conn)?;
    if let Some(r) = last_reject {
        diesel::update(s::sync_state.find(name))
            .set(s::last_reject.eq(r))
            .execute(conn)?;
    }
    Ok(())
}

/// A pull that brought nothing new still proves the data current.
pub fn note_success(
    conn: &mut DbConn,
    name: &str,
    remaining: Option<i64>,
    now: NaiveDateTime,
) -> StoreResult<()> {
    use sync_state::dsl as s;
    diesel::update(s::sync_state.find(name))
        .set((
            s::remaining.eq(remaining),
            s::last_pull_at.eq(now),
            s::last_success_at.eq(now),
            s::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A round ended well: its time is the last success (the status is `ok` again after errors
/// its retries overcame, and the lag counts from here: the round had pulled to the end).
/// `remaining` stays as the round's last pull set it.
pub fn note_round_ok(conn: &mut DbConn, name: &str, now: NaiveDateTime) -> StoreResult<()> {
    use sync_state::dsl as s;
    diesel::update(s::sync_state.find(name))
        .set((s::last_success_at.eq(now), s::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn note_error(
    conn: &mut DbConn,
    name: &str,
    error: &str,
    now: NaiveDateTime,
) -> StoreResult<()> {
    use sync_state::dsl as s;
    diesel::update(s::sync_state.find(name))
        .set((
            s::last_error.eq(error),
            s::last_error_at.eq(now),
            s::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// What one push batch's answer adds to the counts. `delivered`: records the platform now
/// holds (answered `accepted`, or `duplicate` because it took them before); `duplicates`: of
/// those, the ones it already held; `refused`: records it refused, each once per version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushCounts {
    pub delivered: i64,
    pub duplicates: i64,
    pub refused: i64,
    pub last_reject: Option<String>,
}

/// Adds a push batch's results to the counts.
pub fn note_push(
    conn: &mut DbConn,
    name: &str,
    c: &PushCounts,
    now: NaiveDateTime,
) -> StoreResult<()> {
    use sync_state::dsl as s;
    diesel::update(s::sync_state.find(name))
        .set((
            s::pushed.eq(s::pushed + c.delivered),
            s::push_duplicates.eq(s::push_duplicates + c.duplicates),
            s::push_rejected.eq(s::push_rejected + c.refused),
            s::updated_at.eq(now),
        ))
        .execute(conn)?;
    if let Some(reason) = &c.last_reject {
        diesel::update(s::sync_state.find(name))
            .set(s::last_push_reject.eq(reason))
            .execute(conn)?;
    }
    Ok(())
}

/// Local records whose newest version the platform has not confirmed, with their subjects,
/// by id from after `after_id` (a round walks them once).
pub fn push_due(
    conn: &mut DbConn,
    after_id: &str,
    limit: i64,
) -> StoreResult<Vec<(RecordRow, SubjectRow)>> {
    Ok(credit_records::table
        .inner_join(subjects::table)
        .filter(awaiting_push())
        .filter(credit_records::id.gt(after_id))
        .order(credit_records::id.asc())
        .limit(limit)
        .select((RecordRow::as_select(), SubjectRow::as_select()))
        .load(conn)?)
}

/// A local record whose newest version the platform has neither confirmed nor refused, and
/// that was not repaired: a repaired record is shared no more (NDRC Order 36 Art. 3), its
/// repair is pushed instead.
#[diesel::dsl::auto_type]
fn awaiting_push() -> _ {
    let approved: &'static str = "approved";
    let repaired = repairs::table
        .filter(repairs::record_id.eq(credit_records::id))
        .filter(repairs::status.eq(approved));
    version_awaiting_push().and(diesel::dsl::not(diesel::dsl::exists(repaired)))
}

/// A local record whose newest version the platform has neither confirmed nor refused.
#[diesel::dsl::auto_type]
fn version_awaiting_push() -> _ {
    let version: diesel::dsl::Nullable<credit_records::version> =
        credit_records::version.nullable();
    let provincial: Origin = Origin::Provincial;
    credit_records::origin
        .ne(provincial)
        .and(
            credit_records::pushed_version
                .is_null()
                .or(credit_records::pushed_version.lt(version)),
        )
        .and(
            credit_records::push_refused_version
                .is_null()
                .or(credit_records::push_refused_version.lt(version)),
        )
}

/// How many local records wait to be pushed.
pub fn push_pending(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(credit_records::table
        .filter(awaiting_push())
        .count()
        .get_result(conn)?)
}

/// How many local records the platform refused at their newest version.
pub fn push_refused(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(credit_records::table
        .filter(credit_records::push_refused_version.eq(credit_records::version.nullable()))
        .count()
        .get_result(conn)?)
}

/// Records that the platform refused `version` of the record: it is not pushed again until
/// the record has a newer version.
pub fn mark_push_refused(conn: &mut DbConn, id: &str, version: i64) -> StoreResult<()> {
    diesel::update(credit_records::table.find(id))
        .set(credit_records::push_refused_version.eq(version))
        .execute(conn)?;
    Ok(())
}

/// Records that the platform holds `version` of the record (never moves backwards).
pub fn mark_pushed(conn: &mut DbConn, id: &str, version: i64) -> StoreResult<()> {
    diesel::update(
        credit_records::table.find(id).filter(
            credit_records::pushed_version
                .is_null()
                .or(credit_records::pushed_version.lt(version)),
        ),
    )
    .set(credit_records::pushed_version.eq(version))
    .execute(conn)?;
    Ok(())
}

/// Every provincial record as (source code, record id, version, status, subject code, details).
pub type ProvincialLine = (String, String, i64, String, Option<String>, String);

pub fn provincial_records(conn: &mut DbConn) -> StoreResult<Vec<ProvincialLine>> {
    Ok(credit_records::table
        .inner_join(subjects::table)
        .filter(credit_records::origin.eq(Origin::Provincial))
        .select((
            credit_records::source_code,
            credit_records::source_record_id,
            credit_records::version,
            credit_records::status,
            subjects::uscc,
            credit_records::details,
        ))
        .load(conn)?)
}

/// How many versions the provincial records have in their history (one per applied change).
pub fn provincial_versions(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(credit_record_versions::table
        .inner_join(credit_records::table)
        .filter(credit_records::origin.eq(Origin::Provincial))
        .count()
        .get_result(conn)?)
}
