//! Repair applications (信用修复) and the records they repaired.

use std::collections::BTreeMap;

use super::schema::repairs;
use super::{on_backend, DbConn, StoreResult};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = repairs)]
pub struct RepairRow {
    pub id: String,
    pub record_id: String,
    /// The organisation that owns the record and decides (谁认定、谁修复).
    pub provider_code: String,
    pub applicant_name: String,
    pub applicant_contact: Option<String>,
    pub commitment: Option<String>,
    pub evidence: Option<String>,
    /// `accepted`, `approved`, `rejected`.
    pub status: String,
    pub received_on: NaiveDate,
    pub decision_due: NaiveDate,
    pub decided_on: Option<NaiveDate>,
    pub reason: Option<String>,
    /// The record's version when the repair was approved.
    pub record_version: Option<i64>,
    pub created_by_org: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When the provincial platform took the approved repair.
    pub pushed_at: Option<NaiveDateTime>,
    /// The platform's reason, when it refused it (not sent again).
    pub push_refused: Option<String>,
}

/// The day each of these records was repaired, for those that were.
pub fn repaired_on(
    conn: &mut DbConn,
    record_ids: &[String],
) -> StoreResult<BTreeMap<String, NaiveDate>> {
    let mut out = BTreeMap::new();
    for chunk in record_ids.chunks(500) {
        let rows: Vec<(String, Option<NaiveDate>)> = on_backend!(conn, |c| repairs::table
            .filter(repairs::status.eq("approved"))
            .filter(repairs::record_id.eq_any(chunk))
            .select((repairs::record_id, repairs::decided_on))
            .load(c))?;
        out.extend(rows.into_iter().filter_map(|(id, d)| d.map(|d| (id, d))));
    }
    Ok(out)
}

pub fn insert(conn: &mut DbConn, row: &RepairRow) -> StoreResult<()> {
    diesel::insert_into(repairs::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<RepairRow>> {
    Ok(repairs::table
        .find(id)
        .select(RepairRow::as_select())
        .first(conn)
        .optional()?)
}

/// The application for `record_id` in status `status`, if any.
pub fn with_status(
    conn: &mut DbConn,
    record_id: &str,
    status: &str,
) -> StoreResult<Option<RepairRow>> {
    Ok(repairs::table
        .filter(repairs::record_id.eq(record_id))
        .filter(repairs::status.eq(status))
        .select(RepairRow::as_select())
        .first(conn)
        .optional()?)
}

/// What a decision writes.
pub struct Decision<'a> {
    pub status: &'a str,
    pub on: NaiveDate,
    pub reason: &'a str,
    /// The record's version, when approved.
    pub record_version: Option<i64>,
    pub at: NaiveDateTime,
}

/// Decides an application still `accepted`; false when another decision came first.
pub fn decide(conn: &mut DbConn, id: &str, d: &Decision<'_>) -> StoreResult<bool> {
    let n = diesel::update(
        repairs::table
            .filter(repairs::id.eq(id))
            .filter(repairs::status.eq("accepted")),
    )
    .set((
        repairs::status.eq(d.status),
        repairs::decided_on.eq(Some(d.on)),
        repairs::reason.eq(Some(d.reason)),
        repairs::record_version.eq(d.record_version),
        repairs::updated_at.eq(d.at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Applications in id order (ids are ULIDs: filing order): of one providing organisation, or
/// all; in one status, or any; after a cursor.
pub fn list(
    conn: &mut DbConn,
    provider: Option<&str>,
    status: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<RepairRow>> {
    let mut q = repairs::table
        .select(RepairRow::as_select())
        .order(repairs::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(p) = provider {
        q = q.filter(repairs::provider_code.eq(p.to_string()));
    }
    if let Some(s) = status {
        q = q.filter(repairs::status.eq(s.to_string()));
    }
    if let Some(a) = after {
        q = q.filter(repairs::id.gt(a.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Approved repairs the provincial platform has neither taken nor refused, after `after_id`, with
/// their records.
pub fn push_due(
    conn: &mut DbConn,
    after_id: &str,
    limit: i64,
) -> StoreResult<Vec<(RepairRow, super::records::RecordRow)>> {
    use super::records::RecordRow;
    use super::schema::credit_records;
    Ok(repairs::table
        .inner_join(credit_records::table.on(credit_records::id.eq(repairs::record_id)))
        .filter(repairs::status.eq("approved"))
        .filter(repairs::pushed_at.is_null())
        .filter(repairs::push_refused.is_null())
        .filter(repairs::id.gt(after_id))
        .order(repairs::id.asc())
        .limit(limit)
        .select((RepairRow::as_select(), RecordRow::as_select()))
        .load(conn)?)
}

/// The platform took the repair.
pub fn mark_pushed(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> StoreResult<()> {
    diesel::update(repairs::table.find(id))
        .set(repairs::pushed_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}

/// The platform refused the repair, for this reason.
pub fn mark_push_refused(conn: &mut DbConn, id: &str, reason: &str) -> StoreResult<()> {
    diesel::update(repairs::table.find(id))
        .set(repairs::push_refused.eq(Some(reason)))
        .execute(conn)?;
    Ok(())
}
