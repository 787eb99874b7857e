//! Subjects: the entities and persons that records are about.

use super::schema::subjects;
use super::{on_backend, DbConn, StoreResult};
use crate::domain::SubjectKind;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A subject as stored. As a changeset it is what a newer record may change about its subject
/// (kind, name, legal representative, checksum mark); its key and identifiers stay.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = subjects, treat_none_as_null = true)]
pub struct SubjectRow {
    pub id: String,
    #[diesel(skip_update)]
    pub subject_key: String,
    pub kind: SubjectKind,
    #[diesel(skip_update)]
    pub uscc: Option<String>,
    #[diesel(skip_update)]
    pub reg_no: Option<String>,
    pub name: String,
    pub legal_rep_name: Option<String>,
    pub checksum_warning: bool,
    #[diesel(skip_update)]
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// A natural person's ID number, SM4-encrypted (`crypto`); never in plain text.
    #[diesel(skip_update)]
    pub id_number_enc: Option<String>,
    /// The same, masked (`110101********0011`).
    #[diesel(skip_update)]
    pub id_number_masked: Option<String>,
    pub legal_rep_id_enc: Option<String>,
    pub legal_rep_id_masked: Option<String>,
    /// Keyed HMAC-SM3 hash of the legal representative's ID number, for lookup.
    pub legal_rep_id_hash: Option<String>,
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

/// Writes what a newer record changed about its subject (`SubjectRow` as a changeset).
pub fn update(conn: &mut DbConn, row: &SubjectRow) -> StoreResult<()> {
    diesel::update(subjects::table.find(&row.id))
        .set(row)
        .execute(conn)?;
    Ok(())
}

pub fn count(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(subjects::table.count().get_result(conn)?)
}

/// Up to `limit` subject keys after `after` (from the first without it), in key order: a walk
/// over every subject (the impact analysis), answered from the key's index.
pub fn keys_after(conn: &mut DbConn, after: Option<&str>, limit: i64) -> StoreResult<Vec<String>> {
    let mut q = subjects::table
        .order(subjects::subject_key)
        .limit(limit)
        .select(subjects::subject_key)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(subjects::subject_key.gt(a.to_string()));
    }
    Ok(q.load(conn)?)
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
        out.extend(on_backend!(conn, |c| query()
            .select(SubjectRow::as_select())
            .load(c)?));
    }
    Ok(out)
}

/// The storage keys of the subjects with these ids.
pub fn keys_of(conn: &mut DbConn, ids: &[String]) -> StoreResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(
            subjects::table
                .filter(subjects::id.eq_any(chunk))
                .select((subjects::id, subjects::subject_key))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(out)
}
