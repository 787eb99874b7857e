//! Check reports, the rule sets they used, report numbers and feedback.

use super::schema::{check_feedback, check_reports, report_counters, rule_sets};
use super::{on_backend, DbConn, StoreResult};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rule_sets)]
pub struct RuleSetRow {
    pub digest: String,
    pub version: String,
    /// JSON object: path → file text.
    pub sources: String,
    pub first_loaded_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = check_reports)]
pub struct ReportRow {
    pub report_no: String,
    pub scenario: String,
    pub subject_key: String,
    pub verdict: String,
    pub rule_set_digest: String,
    pub requester_org: String,
    pub requester_role: String,
    pub requester_key_id: String,
    pub purpose: String,
    pub reference: Option<String>,
    pub as_of: NaiveDate,
    pub checked_at: NaiveDateTime,
    /// The report as answered, canonical JSON without its digest.
    pub report: String,
    /// The facts evaluated (records as they were), JSON.
    pub facts: String,
    pub digest: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = check_feedback)]
pub struct FeedbackRow {
    pub id: String,
    pub report_no: String,
    pub org_code: String,
    pub action: String,
    pub note: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Keeps a rule set's files unless they are already kept.
pub fn keep_rule_set(conn: &mut DbConn, row: &RuleSetRow) -> StoreResult<()> {
    on_backend!(conn, |c| diesel::insert_into(rule_sets::table)
        .values(row)
        .on_conflict(rule_sets::digest)
        .do_nothing()
        .execute(c)?);
    Ok(())
}

pub fn find_rule_set(conn: &mut DbConn, digest: &str) -> StoreResult<Option<RuleSetRow>> {
    Ok(rule_sets::table
        .find(digest)
        .select(RuleSetRow::as_select())
        .first(conn)
        .optional()?)
}

/// Reserves `count` numbers of the day and returns the last of them: the caller owns
/// `last - count + 1 ..= last`. One short statement, so the counter row is held only for the
/// increment; reserving in blocks keeps concurrent checks from queueing on it.
pub fn reserve_report_numbers(conn: &mut DbConn, day: &str, count: i64) -> StoreResult<i64> {
    let row = (
        report_counters::day.eq(day),
        report_counters::last_no.eq(count),
    );
    Ok(on_backend!(conn, |c| diesel::insert_into(
        report_counters::table
    )
    .values(row)
    .on_conflict(report_counters::day)
    .do_update()
    .set(report_counters::last_no.eq(report_counters::last_no + count))
    .returning(report_counters::last_no)
    .get_result::<i64>(c)?))
}

pub fn insert_report(conn: &mut DbConn, row: &ReportRow) -> StoreResult<()> {
    diesel::insert_into(check_reports::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_report(conn: &mut DbConn, report_no: &str) -> StoreResult<Option<ReportRow>> {
    Ok(check_reports::table
        .find(report_no)
        .select(ReportRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert_feedback(conn: &mut DbConn, row: &FeedbackRow) -> StoreResult<()> {
    diesel::insert_into(check_feedback::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn feedback_of(conn: &mut DbConn, report_no: &str) -> StoreResult<Vec<FeedbackRow>> {
    Ok(check_feedback::table
        .filter(check_feedback::report_no.eq(report_no))
        .order((check_feedback::created_at, check_feedback::id))
        .select(FeedbackRow::as_select())
        .load(conn)?)
}

pub fn count_reports(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(check_reports::table.count().get_result(conn)?)
}

diesel::define_sql_function! {
    /// `substr(text, start, length)`, in characters (SQLite and PostgreSQL alike).
    fn substr(
        text: diesel::sql_types::Nullable<diesel::sql_types::Text>,
        start: diesel::sql_types::Integer,
        length: diesel::sql_types::Integer,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// What a list of reports is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// Only this organisation's (None: every organisation's).
    pub org: Option<String>,
    pub subject_key: Option<String>,
    /// Reports whose reference starts with this.
    pub reference_prefix: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub before: Option<NaiveDateTime>,
}

/// The newest reports that fit, at most `limit`.
pub fn list_reports(
    conn: &mut DbConn,
    f: &ReportFilter,
    limit: i64,
) -> StoreResult<Vec<ReportRow>> {
    let mut q = check_reports::table
        .select(ReportRow::as_select())
        .order((
            check_reports::checked_at.desc(),
            check_reports::report_no.desc(),
        ))
        .limit(limit)
        .into_boxed();
    if let Some(o) = &f.org {
        q = q.filter(check_reports::requester_org.eq(o.clone()));
    }
    if let Some(k) = &f.subject_key {
        q = q.filter(check_reports::subject_key.eq(k.clone()));
    }
    if let Some(p) = &f.reference_prefix {
        // Not LIKE: SQLite's ignores ASCII case, PostgreSQL's does not, and `%` or `_` in a
        // reference would need escaping. substr counts characters on both.
        let n = i32::try_from(p.chars().count()).unwrap_or(i32::MAX);
        q = q.filter(substr(check_reports::reference, 1, n).eq(p.clone()));
    }
    if let Some(t) = f.from {
        q = q.filter(check_reports::checked_at.ge(t));
    }
    if let Some(t) = f.before {
        q = q.filter(check_reports::checked_at.lt(t));
    }
    Ok(q.load(conn)?)
}
