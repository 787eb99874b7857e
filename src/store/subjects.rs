//! Subjects: the entities and persons that records are about.

use super::schema::subjects;
use super::{DbConn, StoreResult};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = subjects)]
pub struct SubjectRow {
    pub id: String,
    pub subject_key: String,
    pub kind: String,
    pub uscc: Option<String>,
    pub reg_no: Option<String>,
    pub name: String,
    pub legal_rep_name: Option<String>,
    pub checksum_warning: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// A natural person's ID number, SM4-encrypted (`crypto`); never in plain text.
    pub id_number_enc: Option<String>,
    /// The same, masked (`110101********0011`).
    pub id_number_masked: Option<String>,
    pub legal_rep_id_enc: Option<String>,
    pub legal_rep_id_masked: Option<String>,
    /// Keyed HMAC-SM3 hash of the legal representative's ID number, for lookup.
    pub legal_rep_id_hash: Option<String>,
}

/// What a newer record may change about its subject.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = subjects)]
pub struct SubjectChanges {
    pub kind: String,
    pub name: String,
    pub legal_rep_name: Option<String>,
    pub legal_rep_id_enc: Option<String>,
    pub legal_rep_id_masked: Option<String>,
    pub legal_rep_id_hash: Option<String>,
    pub checksum_warning: bool,
    pub updated_at: NaiveDateTime,
}

pub fn find_by_key(conn: &mut DbConn, key: &str) -> StoreResult<Option<SubjectRow>> {
    Ok(subjects::table
        .filter(subjects::subject_key.eq(key))
        .select(SubjectRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<SubjectRow>> {
    Ok(subjects::table
        .find(id)
        .select(SubjectRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert(conn: &mut DbConn, row: &SubjectRow) -> StoreResult<()> {
    diesel::insert_into(subjects::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Inserts the subject unless one with the same key exists (a concurrent writer may have just
/// made it); returns whether this call inserted it. Upserts differ per backend (STACK.md).
pub fn insert_if_absent(conn: &mut DbConn, row: &SubjectRow) -> StoreResult<bool> {
    let n = match conn {
        DbConn::Pg(c) => diesel::insert_into(subjects::table)
            .values(row)
            .on_conflict(subjects::subject_key)
            .do_nothing()
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(subjects::table)
            .values(row)
            .on_conflict(subjects::subject_key)
            .do_nothing()
            .execute(c)?,
    };
    Ok(n == 1)
}

pub fn update(conn: &mut DbConn, id: &str, changes: &SubjectChanges) -> StoreResult<()> {
    diesel::update(subjects::table.find(id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

pub fn count(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(subjects::table.count().get_result(conn)?)
}

/// Subject keys from `offset` in key order (the load generator picks codes this way).
pub fn keys_page(conn: &mut DbConn, offset: i64, limit: i64) -> StoreResult<Vec<String>> {
    Ok(subjects::table
        .order(subjects::subject_key)
        .offset(offset)
        .limit(limit)
        .select(subjects::subject_key)
        .load(conn)?)
}
