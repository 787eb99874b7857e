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

impl From<&SubjectRow> for SubjectChanges {
    fn from(r: &SubjectRow) -> Self {
        SubjectChanges {
            kind: r.kind.clone(),
            name: r.name.clone(),
            legal_rep_name: r.legal_rep_name.clone(),
            legal_rep_id_enc: r.legal_rep_id_enc.clone(),
            legal_rep_id_masked: r.legal_rep_id_masked.clone(),
            legal_rep_id_hash: r.legal_rep_id_hash.clone(),
            checksum_warning: r.checksum_warning,
            updated_at: r.updated_at,
        }
    }
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

/// The subjects with these storage keys, in one query per 500 keys.
pub fn by_keys(conn: &mut DbConn, keys: &[String]) -> StoreResult<Vec<SubjectRow>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        let query = || subjects::table.filter(subjects::subject_key.eq_any(chunk));
        // One array parameter on PostgreSQL (see `records::by_sources`).
        out.extend(match conn {
            DbConn::Pg(c) => query().select(SubjectRow::as_select()).load(c)?,
            DbConn::Sqlite(c) => query().select(SubjectRow::as_select()).load(c)?,
        });
    }
    Ok(out)
}

/// The storage keys of the subjects with these ids.
pub fn keys_of(conn: &mut DbConn, ids: &[String]) -> StoreResult<Vec<String>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(
            subjects::table
                .filter(subjects::id.eq_any(chunk))
                .select(subjects::subject_key)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}
