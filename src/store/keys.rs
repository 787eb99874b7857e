//! API keys: stored only as hashes.

use super::schema::api_keys;
use super::{DbConn, StoreResult};
use crate::domain::Role;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct KeyRow {
    pub id: String,
    pub org_code: String,
    pub role: Role,
    pub key_hash: String,
    pub label: Option<String>,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, row: &KeyRow) -> StoreResult<()> {
    diesel::insert_into(api_keys::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The key with this hash, if it exists and is not revoked.
pub fn find_active_by_hash(conn: &mut DbConn, hash: &str) -> StoreResult<Option<KeyRow>> {
    Ok(api_keys::table
        .filter(api_keys::key_hash.eq(hash))
        .filter(api_keys::revoked_at.is_null())
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// The organisations that hold a key of `role` in force, by code.
pub fn orgs_with_role(conn: &mut DbConn, role: Role) -> StoreResult<Vec<String>> {
    Ok(api_keys::table
        .filter(api_keys::role.eq(role))
        .filter(api_keys::revoked_at.is_null())
        .select(api_keys::org_code)
        .distinct()
        .order(api_keys::org_code)
        .load(conn)?)
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<KeyRow>> {
    Ok(api_keys::table
        .find(id)
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Keys, newest first, of one organisation or all.
pub fn list(conn: &mut DbConn, org: Option<&str>) -> StoreResult<Vec<KeyRow>> {
    let mut q = api_keys::table
        .select(KeyRow::as_select())
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .into_boxed();
    if let Some(o) = org {
        q = q.filter(api_keys::org_code.eq(o.to_string()));
    }
    Ok(q.load(conn)?)
}

/// How many admin keys are not revoked.
pub fn count_active_admins(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(api_keys::table
        .filter(api_keys::role.eq(Role::Admin))
        .filter(api_keys::revoked_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Marks the key revoked unless it already is; true when this call revoked it.
pub fn revoke(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> StoreResult<bool> {
    let n = diesel::update(
        api_keys::table
            .filter(api_keys::id.eq(id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(Some(at)))
    .execute(conn)?;
    Ok(n == 1)
}
