//! Objections (异议) to records: one open per record at a time; every step a compare-and-set on
//! the status, so that of two deciders at once exactly one moves it.

use super::schema::objections;
use super::{DbConn, StoreResult};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = objections)]
pub struct ObjectionRow {
    pub id: String,
    pub record_id: String,
    /// The organisation that owns the record (answers a forwarded objection).
    pub provider_code: String,
    pub filer_org: String,
    pub filer_role: String,
    pub filed_by_kind: String,
    pub filed_by_name: String,
    pub filed_by_contact: Option<String>,
    pub grounds: String,
    /// The record's version when the objection was filed.
    pub record_version: i64,
    /// `open`, `forwarded`, `closed`.
    pub status: String,
    pub outcome: Option<String>,
    pub received_on: NaiveDate,
    pub review_due: NaiveDate,
    pub forwarded_on: Option<NaiveDate>,
    pub provider_due: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    /// JSON array of the steps.
    pub history: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, row: &ObjectionRow) -> StoreResult<()> {
    diesel::insert_into(objections::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<ObjectionRow>> {
    Ok(objections::table
        .find(id)
        .select(ObjectionRow::as_select())
        .first(conn)
        .optional()?)
}

/// The objection on `record_id` that is not closed, if any.
pub fn open_on(conn: &mut DbConn, record_id: &str) -> StoreResult<Option<ObjectionRow>> {
    Ok(objections::table
        .filter(objections::record_id.eq(record_id))
        .filter(objections::status.ne("closed"))
        .select(ObjectionRow::as_select())
        .first(conn)
        .optional()?)
}

/// What a step changes.
pub struct Step<'a> {
    pub status: &'a str,
    pub outcome: Option<&'a str>,
    pub forwarded_on: Option<NaiveDate>,
    pub provider_due: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    pub history: &'a str,
    pub at: NaiveDateTime,
}

/// Applies a step to an objection still in status `from` with the history it was read with;
/// false when another step came first.
pub fn step(
    conn: &mut DbConn,
    id: &str,
    from: &str,
    history_read: &str,
    s: &Step<'_>,
) -> StoreResult<bool> {
    let n = diesel::update(
        objections::table
            .filter(objections::id.eq(id))
            .filter(objections::status.eq(from))
            .filter(objections::history.eq(history_read)),
    )
    .set((
        objections::status.eq(s.status),
        objections::outcome.eq(s.outcome),
        objections::forwarded_on.eq(s.forwarded_on),
        objections::provider_due.eq(s.provider_due),
        objections::closed_on.eq(s.closed_on),
        objections::history.eq(s.history),
        objections::updated_at.eq(s.at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Filters of a listing.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<String>,
    /// Only those whose running deadline passed before this day.
    pub overdue_on: Option<NaiveDate>,
    /// Only those filed by this organisation or about its records; `None`: all.
    pub org: Option<String>,
    /// Ids after this one (the listing's cursor).
    pub after: Option<String>,
    pub limit: i64,
}

/// Objections in id order (ids are ULIDs: filing order).
pub fn list(conn: &mut DbConn, f: &Filter) -> StoreResult<Vec<ObjectionRow>> {
    let mut q = objections::table
        .select(ObjectionRow::as_select())
        .order(objections::id.asc())
        .limit(f.limit)
        .into_boxed();
    if let Some(s) = &f.status {
        q = q.filter(objections::status.eq(s.clone()));
    }
    if let Some(day) = f.overdue_on {
        q = q.filter(
            objections::status
                .eq("open")
                .and(objections::review_due.lt(day))
                .or(objections::status
                    .eq("forwarded")
                    .and(objections::provider_due.lt(day))),
        );
    }
    if let Some(o) = &f.org {
        q = q.filter(
            objections::filer_org
                .eq(o.clone())
                .or(objections::provider_code.eq(o.clone())),
        );
    }
    if let Some(a) = &f.after {
        q = q.filter(objections::id.gt(a.clone()));
    }
    Ok(q.load(conn)?)
}

/// How many objections are past their running deadline on `day`: (review, provider).
pub fn overdue_counts(conn: &mut DbConn, day: NaiveDate) -> StoreResult<(i64, i64)> {
    let review = objections::table
        .filter(objections::status.eq("open"))
        .filter(objections::review_due.lt(day))
        .count()
        .get_result(conn)?;
    let provider = objections::table
        .filter(objections::status.eq("forwarded"))
        .filter(objections::provider_due.lt(day))
        .count()
        .get_result(conn)?;
    Ok((review, provider))
}
