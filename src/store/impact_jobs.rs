//! Impact analysis jobs and the changes they found.

use super::bulk_checks::{DONE, FAILED, QUEUED, RUNNING};
use super::schema::{impact_changes, impact_jobs};
use super::{on_backend, DbConn, StoreResult};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = impact_jobs)]
pub struct ImpactJobRow {
    pub id: String,
    pub org_code: String,
    pub created_by: String,
    pub scenario: Option<String>,
    pub active_digest: String,
    pub candidate_digest: String,
    pub candidate_version: String,
    pub candidate_sources: String,
    pub as_of: NaiveDate,
    pub status: String,
    pub total: i64,
    pub done: i64,
    /// The last subject key evaluated.
    pub cursor: Option<String>,
    /// The counts so far (JSON, `service::impact::Tally`).
    pub tally: String,
    pub error: Option<String>,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = impact_changes)]
pub struct ChangeRow {
    pub job_id: String,
    pub seq: i64,
    pub scenario: String,
    pub uscc: Option<String>,
    pub reg_no: Option<String>,
    pub id_number_masked: Option<String>,
    pub name: String,
    pub verdict_before: String,
    pub verdict_after: String,
    /// Measure ids, `;`-separated.
    pub added: String,
    pub removed: String,
    pub measures_after: String,
}

pub fn insert(conn: &mut DbConn, job: &ImpactJobRow) -> StoreResult<()> {
    diesel::insert_into(impact_jobs::table)
        .values(job)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<ImpactJobRow>> {
    Ok(impact_jobs::table
        .find(id)
        .select(ImpactJobRow::as_select())
        .first(conn)
        .optional()?)
}

/// The oldest job still to run (queued, or running when its runner stopped).
pub fn next_to_run(conn: &mut DbConn) -> StoreResult<Option<ImpactJobRow>> {
    Ok(impact_jobs::table
        .filter(impact_jobs::status.eq_any([QUEUED, RUNNING]))
        .order(impact_jobs::id)
        .select(ImpactJobRow::as_select())
        .first(conn)
        .optional()?)
}

/// Rows per multi-row insert (12 parameters each, under SQLite's limit).
const CHUNK: usize = 2000;

/// Records a page: its changes, the cursor after it, the counts and the subjects done so far,
/// in the caller's transaction. False when the job has moved on meanwhile (another runner did
/// the page: nothing is written).
pub fn record_page(
    conn: &mut DbConn,
    job: &str,
    from: Option<&str>,
    cursor: &str,
    done: i64,
    tally: &str,
    changes: &[ChangeRow],
) -> StoreResult<bool> {
    let q = impact_jobs::table.find(job);
    let n = match from {
        Some(f) => diesel::update(q.filter(impact_jobs::cursor.eq(f)))
            .set((
                impact_jobs::cursor.eq(Some(cursor)),
                impact_jobs::done.eq(done),
                impact_jobs::tally.eq(tally),
            ))
            .execute(conn)?,
        None => diesel::update(q.filter(impact_jobs::cursor.is_null()))
            .set((
                impact_jobs::cursor.eq(Some(cursor)),
                impact_jobs::done.eq(done),
                impact_jobs::tally.eq(tally),
            ))
            .execute(conn)?,
    };
    if n != 1 {
        return Ok(false);
    }
    for chunk in changes.chunks(CHUNK) {
        on_backend!(conn, |c| diesel::insert_into(impact_changes::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(true)
}

/// The `seq` of a job's next change (after the last one recorded; the key's index answers).
pub fn next_seq(conn: &mut DbConn, job: &str) -> StoreResult<i64> {
    let last: Option<i64> = impact_changes::table
        .filter(impact_changes::job_id.eq(job))
        .select(diesel::dsl::max(impact_changes::seq))
        .first(conn)?;
    Ok(last.map_or(0, |l| l + 1))
}

/// The changes from `from` on, at most `limit`, in the order found.
pub fn changes(conn: &mut DbConn, job: &str, from: i64, limit: i64) -> StoreResult<Vec<ChangeRow>> {
    Ok(impact_changes::table
        .filter(impact_changes::job_id.eq(job))
        .filter(impact_changes::seq.ge(from))
        .order(impact_changes::seq)
        .limit(limit)
        .select(ChangeRow::as_select())
        .load(conn)?)
}

/// Sets a job's status (and when it started or finished, and why it failed).
pub fn set_status(
    conn: &mut DbConn,
    job: &str,
    status: &str,
    at: NaiveDateTime,
    error: Option<&str>,
) -> StoreResult<()> {
    let finished = matches!(status, DONE | FAILED).then_some(at);
    diesel::update(impact_jobs::table.find(job))
        .set((
            impact_jobs::status.eq(status),
            impact_jobs::finished_at.eq(finished),
            impact_jobs::error.eq(error),
        ))
        .execute(conn)?;
    if status == RUNNING {
        diesel::update(
            impact_jobs::table
                .find(job)
                .filter(impact_jobs::started_at.is_null()),
        )
        .set(impact_jobs::started_at.eq(Some(at)))
        .execute(conn)?;
    }
    Ok(())
}

/// Deletes the finished jobs (and their changes) that expired by `now`; returns how many. The
/// caller's transaction holds both deletes.
pub fn delete_expired(conn: &mut DbConn, now: NaiveDateTime) -> StoreResult<usize> {
    let ids: Vec<String> = impact_jobs::table
        .filter(impact_jobs::expires_at.le(now))
        .filter(impact_jobs::status.eq_any([DONE, FAILED]))
        .select(impact_jobs::id)
        .limit(100)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(impact_changes::table.filter(impact_changes::job_id.eq_any(&ids)))
        .execute(conn)?;
    Ok(diesel::delete(impact_jobs::table.filter(impact_jobs::id.eq_any(&ids))).execute(conn)?)
}
