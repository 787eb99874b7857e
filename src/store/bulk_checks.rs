//! Bulk comparison jobs and their lines.

use super::schema::{bulk_jobs, bulk_lines};
use super::{DbConn, StoreResult};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bulk_jobs)]
pub struct JobRow {
    pub id: String,
    pub org_code: String,
    pub created_by: String,
    pub owner_role: String,
    pub scenario: String,
    pub purpose: String,
    pub reference: Option<String>,
    pub authorization_ref: Option<String>,
    /// `uscc` or `id_number`: the column the file gave.
    pub id_kind: String,
    pub status: String,
    pub total: i32,
    /// The next line (by `seq`) to check.
    pub cursor: i32,
    pub clear: i32,
    pub review: i32,
    pub restricted: i32,
    pub prohibited: i32,
    pub rejected: i32,
    pub error: Option<String>,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bulk_lines)]
pub struct LineRow {
    pub job_id: String,
    pub seq: i32,
    pub line: i32,
    pub shown: String,
    pub input_enc: Option<String>,
    pub scenario: Option<String>,
    pub authorization_ref: Option<String>,
    pub verdict: Option<String>,
    pub reason: Option<String>,
    pub measures: Option<String>,
    pub report_no: Option<String>,
}

/// Rows per multi-row insert (11 parameters each, under SQLite's limit).
const CHUNK: usize = 2000;

/// Stores a job and its lines.
pub fn insert(conn: &mut DbConn, job: &JobRow, lines: &[LineRow]) -> StoreResult<()> {
    diesel::insert_into(bulk_jobs::table)
        .values(job)
        .execute(conn)?;
    // diesel's multi-backend connection builds no multi-row insert: one per backend.
    for chunk in lines.chunks(CHUNK) {
        match conn {
            DbConn::Pg(c) => diesel::insert_into(bulk_lines::table)
                .values(chunk)
                .execute(c)?,
            DbConn::Sqlite(c) => diesel::insert_into(bulk_lines::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<JobRow>> {
    Ok(bulk_jobs::table
        .find(id)
        .select(JobRow::as_select())
        .first(conn)
        .optional()?)
}

/// The oldest job still to run (queued, or running when its runner stopped).
pub fn next_to_run(conn: &mut DbConn) -> StoreResult<Option<JobRow>> {
    Ok(bulk_jobs::table
        .filter(bulk_jobs::status.eq_any([QUEUED, RUNNING]))
        .order(bulk_jobs::id)
        .select(JobRow::as_select())
        .first(conn)
        .optional()?)
}

/// The lines from `from` on, at most `limit`, in input order.
pub fn lines(conn: &mut DbConn, job: &str, from: i32, limit: i64) -> StoreResult<Vec<LineRow>> {
    Ok(bulk_lines::table
        .filter(bulk_lines::job_id.eq(job))
        .filter(bulk_lines::seq.ge(from))
        .order(bulk_lines::seq)
        .limit(limit)
        .select(LineRow::as_select())
        .load(conn)?)
}

/// The outcome of one checked line.
pub struct Outcome<'a> {
    pub seq: i32,
    pub verdict: &'a str,
    pub reason: Option<&'a str>,
    pub measures: Option<&'a str>,
    pub report_no: Option<&'a str>,
}

/// Records checked lines (their input forgotten) and moves the job on: counts added, the cursor
/// set to `cursor`. False when the job is not at `from` any more (another runner moved it).
pub fn record(
    conn: &mut DbConn,
    job: &str,
    from: i32,
    cursor: i32,
    outcomes: &[Outcome<'_>],
    counts: [i32; 5],
) -> StoreResult<bool> {
    let moved = diesel::update(
        bulk_jobs::table
            .find(job)
            .filter(bulk_jobs::cursor.eq(from)),
    )
    .set((
        bulk_jobs::cursor.eq(cursor),
        bulk_jobs::clear.eq(bulk_jobs::clear + counts[0]),
        bulk_jobs::review.eq(bulk_jobs::review + counts[1]),
        bulk_jobs::restricted.eq(bulk_jobs::restricted + counts[2]),
        bulk_jobs::prohibited.eq(bulk_jobs::prohibited + counts[3]),
        bulk_jobs::rejected.eq(bulk_jobs::rejected + counts[4]),
    ))
    .execute(conn)?;
    if moved != 1 {
        return Ok(false);
    }
    if let DbConn::Pg(c) = conn {
        // One statement for the chunk: an `UPDATE` per line was a round trip each, most of a
        // chunk's time on PostgreSQL (SQLite, in process, takes them one by one below).
        use diesel::sql_types::{Array, Integer, Nullable, Text};
        let seqs: Vec<i32> = outcomes.iter().map(|o| o.seq).collect();
        let verdicts: Vec<&str> = outcomes.iter().map(|o| o.verdict).collect();
        let reasons: Vec<Option<&str>> = outcomes.iter().map(|o| o.reason).collect();
        let measures: Vec<Option<&str>> = outcomes.iter().map(|o| o.measures).collect();
        let numbers: Vec<Option<&str>> = outcomes.iter().map(|o| o.report_no).collect();
        diesel::sql_query(
            "UPDATE bulk_lines AS l SET verdict = v.verdict, reason = v.reason, \
             measures = v.measures, report_no = v.report_no, input_enc = NULL \
             FROM unnest($2::int4[], $3::text[], $4::text[], $5::text[], $6::text[]) \
             AS v(seq, verdict, reason, measures, report_no) \
             WHERE l.job_id = $1 AND l.seq = v.seq",
        )
        .bind::<Text, _>(job)
        .bind::<Array<Integer>, _>(seqs)
        .bind::<Array<Text>, _>(verdicts)
        .bind::<Array<Nullable<Text>>, _>(reasons)
        .bind::<Array<Nullable<Text>>, _>(measures)
        .bind::<Array<Nullable<Text>>, _>(numbers)
        .execute(c)?;
        return Ok(true);
    }
    for o in outcomes {
        diesel::update(bulk_lines::table.find((job, o.seq)))
            .set((
                bulk_lines::verdict.eq(Some(o.verdict)),
                bulk_lines::reason.eq(o.reason),
                bulk_lines::measures.eq(o.measures),
                bulk_lines::report_no.eq(o.report_no),
                bulk_lines::input_enc.eq(None::<String>),
            ))
            .execute(conn)?;
    }
    Ok(true)
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
    if status == FAILED {
        // What was not checked is not kept: the ID numbers go with the job's failure.
        diesel::update(bulk_lines::table.filter(bulk_lines::job_id.eq(job)))
            .set(bulk_lines::input_enc.eq(None::<String>))
            .execute(conn)?;
    }
    diesel::update(bulk_jobs::table.find(job))
        .set((
            bulk_jobs::status.eq(status),
            bulk_jobs::finished_at.eq(finished),
            bulk_jobs::error.eq(error),
        ))
        .execute(conn)?;
    if status == RUNNING {
        diesel::update(
            bulk_jobs::table
                .find(job)
                .filter(bulk_jobs::started_at.is_null()),
        )
        .set(bulk_jobs::started_at.eq(Some(at)))
        .execute(conn)?;
    }
    Ok(())
}

/// Deletes the finished jobs (and their lines) that expired by `now`; returns how many. A job
/// still queued or running is left to finish first. The caller's transaction holds both deletes.
pub fn delete_expired(conn: &mut DbConn, now: NaiveDateTime) -> StoreResult<usize> {
    let ids: Vec<String> = bulk_jobs::table
        .filter(bulk_jobs::expires_at.le(now))
        .filter(bulk_jobs::status.eq_any([DONE, FAILED]))
        .select(bulk_jobs::id)
        .limit(100)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(bulk_lines::table.filter(bulk_lines::job_id.eq_any(&ids))).execute(conn)?;
    Ok(diesel::delete(bulk_jobs::table.filter(bulk_jobs::id.eq_any(&ids))).execute(conn)?)
}
