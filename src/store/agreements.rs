//! Partner agreements.

use super::schema::agreements;
use super::{DbConn, StoreResult};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agreements)]
pub struct AgreementRow {
    pub id: String,
    pub org_code: String,
    /// JSON array of scenario names (`profile` for credit-profile queries).
    pub scenarios: String,
    /// JSON array of record kinds.
    pub record_kinds: String,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub daily_quota: i64,
    pub reference: Option<String>,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, row: &AgreementRow) -> StoreResult<()> {
    diesel::insert_into(agreements::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The organisation's agreements, newest first (all, or only those not revoked).
pub fn of_org(
    conn: &mut DbConn,
    org: Option<&str>,
    active_only: bool,
) -> StoreResult<Vec<AgreementRow>> {
    let mut q = agreements::table
        .select(AgreementRow::as_select())
        .order((agreements::created_at.desc(), agreements::id.desc()))
        .into_boxed();
    if let Some(o) = org {
        q = q.filter(agreements::org_code.eq(o.to_string()));
    }
    if active_only {
        q = q.filter(agreements::revoked_at.is_null());
    }
    Ok(q.load(conn)?)
}

pub fn revoke(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> StoreResult<usize> {
    Ok(diesel::update(
        agreements::table
            .filter(agreements::id.eq(id))
            .filter(agreements::revoked_at.is_null()),
    )
    .set(agreements::revoked_at.eq(Some(at)))
    .execute(conn)?)
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<AgreementRow>> {
    Ok(agreements::table
        .find(id)
        .select(AgreementRow::as_select())
        .first(conn)
        .optional()?)
}
