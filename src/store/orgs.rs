//! Organisations.

use super::schema::organisations;
use super::{DbConn, StoreResult};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organisations)]
pub struct OrgRow {
    pub code: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConn, code: &str) -> StoreResult<Option<OrgRow>> {
    Ok(organisations::table
        .find(code)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?)
}

/// Creates the organisation if it does not exist; returns whether it was created.
pub fn ensure(conn: &mut DbConn, code: &str, name: &str, at: NaiveDateTime) -> StoreResult<bool> {
    if find(conn, code)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(organisations::table)
        .values(&OrgRow {
            code: code.to_string(),
            name: name.to_string(),
            created_at: at,
        })
        .execute(conn)?;
    Ok(true)
}

pub fn list(conn: &mut DbConn) -> StoreResult<Vec<OrgRow>> {
    Ok(organisations::table
        .order(organisations::code)
        .select(OrgRow::as_select())
        .load(conn)?)
}
