//! Access grants: approved applications (conditional sharing) and named grants (special).

use super::schema::access_grants;
use super::{DbConn, StoreResult};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_grants)]
pub struct GrantRow {
    pub id: String,
    pub org_code: String,
    /// `application` (conditional sharing) or `special`.
    pub grant_kind: String,
    /// JSON arrays; empty: any.
    pub source_codes: String,
    pub record_kinds: String,
    pub list_codes: String,
    /// Special grants may name one record.
    pub record_id: Option<String>,
    pub purpose: String,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    /// `pending`, `approved`, `rejected`.
    pub status: String,
    pub applied_by: String,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, row: &GrantRow) -> StoreResult<()> {
    diesel::insert_into(access_grants::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<GrantRow>> {
    Ok(access_grants::table
        .find(id)
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?)
}

/// Approved grants of an organisation in force on `day`.
pub fn in_force(conn: &mut DbConn, org: &str, day: NaiveDate) -> StoreResult<Vec<GrantRow>> {
    Ok(access_grants::table
        .filter(access_grants::org_code.eq(org))
        .filter(access_grants::status.eq("approved"))
        .filter(access_grants::valid_from.le(day))
        .filter(access_grants::valid_to.ge(day))
        .select(GrantRow::as_select())
        .load(conn)?)
}

pub fn list(conn: &mut DbConn, org: Option<&str>) -> StoreResult<Vec<GrantRow>> {
    let mut q = access_grants::table
        .select(GrantRow::as_select())
        .order((access_grants::created_at.desc(), access_grants::id.desc()))
        .into_boxed();
    if let Some(o) = org {
        q = q.filter(access_grants::org_code.eq(o.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Moves a grant from status `from` to `status`, with who decided, why and when (the last
/// decision: approval, rejection or revocation; each is in the access log); false when it was
/// not in `from`.
pub fn decide(
    conn: &mut DbConn,
    id: &str,
    from: &str,
    status: &str,
    by: &str,
    reason: &str,
    at: NaiveDateTime,
) -> StoreResult<bool> {
    let n = diesel::update(
        access_grants::table
            .filter(access_grants::id.eq(id))
            .filter(access_grants::status.eq(from)),
    )
    .set((
        access_grants::status.eq(status),
        access_grants::decided_by.eq(Some(by)),
        access_grants::decision_reason.eq(Some(reason)),
        access_grants::decided_at.eq(Some(at)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
