//! When each rule set became the one checks use: the rule history and the set of a past time.

use super::schema::{rule_activations, rule_sets};
use super::{DbConn, StoreResult};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rule_activations)]
pub struct ActivationRow {
    pub id: String,
    pub digest: String,
    pub activated_at: NaiveDateTime,
    /// `startup`, `reload` or `first_loaded`.
    pub how: String,
    pub by_org: Option<String>,
    pub by_key: Option<String>,
}

/// Serialises activations until the caller's transaction ends (PostgreSQL; SQLite's writers
/// are one at a time already).
pub fn lock(conn: &mut DbConn) -> StoreResult<()> {
    if let DbConn::Pg(c) = conn {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "pg_advisory_xact_lock({}) IS NULL",
            super::ACTIVATION_LOCK
        )))
        .get_result::<bool>(c)?;
    }
    Ok(())
}

pub fn insert(conn: &mut DbConn, row: &ActivationRow) -> StoreResult<()> {
    diesel::insert_into(rule_activations::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The last activation, if any.
pub fn latest(conn: &mut DbConn) -> StoreResult<Option<ActivationRow>> {
    Ok(rule_activations::table
        .order((
            rule_activations::activated_at.desc(),
            rule_activations::id.desc(),
        ))
        .select(ActivationRow::as_select())
        .first(conn)
        .optional()?)
}

/// The activation in force at `at`: the last one at or before it.
pub fn active_at(conn: &mut DbConn, at: NaiveDateTime) -> StoreResult<Option<ActivationRow>> {
    Ok(rule_activations::table
        .filter(rule_activations::activated_at.le(at))
        .order((
            rule_activations::activated_at.desc(),
            rule_activations::id.desc(),
        ))
        .select(ActivationRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every activation, oldest first, with its set's version.
pub fn all(conn: &mut DbConn) -> StoreResult<Vec<(ActivationRow, String)>> {
    Ok(rule_activations::table
        .inner_join(rule_sets::table)
        .order((
            rule_activations::activated_at.asc(),
            rule_activations::id.asc(),
        ))
        .select((ActivationRow::as_select(), rule_sets::version))
        .load(conn)?)
}
