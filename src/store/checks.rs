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
