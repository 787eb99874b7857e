//! Credit records and their version history.

use super::schema::{credit_record_versions, credit_records};
use super::subjects::SubjectRow;
use super::{on_backend, DbConn, StoreResult};
use crate::domain::{OpenClass, Origin, RecordKind, RecordStatus, Severity, SharingClass};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

/// A credit record as stored. As a changeset it is what a newer version replaces: everything
/// but the id, the source pair, the objection mark and the creation time.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = credit_records, treat_none_as_null = true)]
pub struct RecordRow {
    pub id: String,
    #[diesel(skip_update)]
    pub source_code: String,
    #[diesel(skip_update)]
    pub source_record_id: String,
    pub subject_id: String,
    pub kind: RecordKind,
    pub list_code: Option<String>,
    pub decision_no: Option<String>,
    pub decision_date: Option<NaiveDate>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub severity: Option<Severity>,
    pub penalty_types: String,
    pub fine_amount_fen: Option<i64>,
    pub authority_name: Option<String>,
    pub authority_uscc: Option<String>,
    pub legal_rep_name: Option<String>,
    /// The legal representative's ID number: SM4-encrypted, masked, and a keyed hash for lookup.
    pub legal_rep_id_enc: Option<String>,
    pub legal_rep_id_masked: Option<String>,
    pub legal_rep_id_hash: Option<String>,
    pub sharing_class: SharingClass,
    pub open_class: OpenClass,
    pub status: RecordStatus,
    pub version: i64,
    pub origin: Origin,
    pub checksum_warning: bool,
    #[diesel(skip_update)]
    pub under_objection: bool,
    pub details: String,
    pub content_hash: String,
    #[diesel(skip_update)]
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credit_record_versions)]
pub struct VersionRow {
    pub record_id: String,
    pub version: i64,
    pub content: String,
    pub content_hash: String,
    pub recorded_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<RecordRow>> {
    Ok(credit_records::table
        .find(id)
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?)
}

/// The records with these ids that exist.
pub fn find_many(conn: &mut DbConn, ids: &[String]) -> StoreResult<Vec<RecordRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(on_backend!(conn, |c| credit_records::table
            .filter(credit_records::id.eq_any(chunk))
            .select(RecordRow::as_select())
            .load(c))?);
    }
    Ok(out)
}

/// Marks a record as under objection (filed, not yet closed), or not.
pub fn set_under_objection(conn: &mut DbConn, id: &str, on: bool) -> StoreResult<()> {
    diesel::update(credit_records::table.find(id))
        .set(credit_records::under_objection.eq(on))
        .execute(conn)?;
    Ok(())
}

/// Writes a newer version over the stored record (what `RecordRow` as a changeset replaces).
pub fn update(conn: &mut DbConn, row: &RecordRow) -> StoreResult<()> {
    diesel::update(credit_records::table.find(&row.id))
        .set(row)
        .execute(conn)?;
    Ok(())
}

/// A record's versions, oldest first.
pub fn versions(conn: &mut DbConn, record_id: &str) -> StoreResult<Vec<VersionRow>> {
    Ok(credit_record_versions::table
        .filter(credit_record_versions::record_id.eq(record_id))
        .order(credit_record_versions::version)
        .select(VersionRow::as_select())
        .load(conn)?)
}

/// All records of a subject, by id (NULL dates sort differently on the two backends, so callers
/// order by date themselves).
/// A subject, by its storage key, with all its records (by id), in one query.
pub fn of_subject_key(
    conn: &mut DbConn,
    key: &str,
) -> StoreResult<Option<(SubjectRow, Vec<RecordRow>)>> {
    use super::schema::subjects;
    let rows: Vec<(SubjectRow, Option<RecordRow>)> = subjects::table
        .left_join(credit_records::table)
        .filter(subjects::subject_key.eq(key))
        .order(credit_records::id.asc())
        .select((SubjectRow::as_select(), Option::<RecordRow>::as_select()))
        .load(conn)?;
    let mut rows = rows.into_iter();
    let Some((subject, first)) = rows.next() else {
        return Ok(None);
    };
    let records = first.into_iter().chain(rows.filter_map(|(_, r)| r));
    Ok(Some((subject, records.collect())))
}

/// The subjects held under these keys, each with its records (by record id): per 500 keys, one
/// query for the subjects and one for their records (a join would send, and decode, every
/// subject's columns once per record); keys no subject is held under are absent.
pub fn of_subject_keys(
    conn: &mut DbConn,
    keys: &[String],
) -> StoreResult<std::collections::HashMap<String, (SubjectRow, Vec<RecordRow>)>> {
    use super::schema::subjects;
    let mut out: std::collections::HashMap<String, (SubjectRow, Vec<RecordRow>)> =
        std::collections::HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        // As in `by_sources`: one array parameter on PostgreSQL, not 500.
        let held: Vec<SubjectRow> = on_backend!(conn, |c| subjects::table
            .filter(subjects::subject_key.eq_any(chunk))
            .select(SubjectRow::as_select())
            .load(c))?;
        let ids: Vec<&str> = held.iter().map(|s| s.id.as_str()).collect();
        let rows: Vec<RecordRow> = on_backend!(conn, |c| credit_records::table
            .filter(credit_records::subject_id.eq_any(&ids))
            .order((credit_records::subject_id.asc(), credit_records::id.asc()))
            .select(RecordRow::as_select())
            .load(c))?;
        let index: std::collections::HashMap<&str, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut records: Vec<Vec<RecordRow>> = held.iter().map(|_| Vec::new()).collect();
        for r in rows {
            if let Some(&i) = index.get(r.subject_id.as_str()) {
                records[i].push(r);
            }
        }
        for (subject, rows) in held.into_iter().zip(records) {
            out.insert(subject.subject_key.clone(), (subject, rows));
        }
    }
    Ok(out)
}

/// A record with its subject, in one query.
pub fn with_subject(conn: &mut DbConn, id: &str) -> StoreResult<Option<(RecordRow, SubjectRow)>> {
    use super::schema::subjects;
    Ok(credit_records::table
        .inner_join(subjects::table)
        .filter(credit_records::id.eq(id))
        .select((RecordRow::as_select(), SubjectRow::as_select()))
        .first(conn)
        .optional()?)
}

/// Records that name these persons (by the keyed hash of the ID number) as the legal
/// representative of their subject, with the subject's name, leaving out the records of the
/// subjects `except` (which the caller has read already): by hash, in record id order; one
/// query per 500 hashes.
pub fn naming_legal_reps(
    conn: &mut DbConn,
    id_hashes: &[String],
    except: &[&str],
) -> StoreResult<std::collections::HashMap<String, Vec<(RecordRow, String)>>> {
    use super::schema::subjects;
    let mut out: std::collections::HashMap<String, Vec<(RecordRow, String)>> = Default::default();
    for chunk in id_hashes.chunks(500) {
        let rows: Vec<(RecordRow, String)> = on_backend!(conn, |c| credit_records::table
            .inner_join(subjects::table)
            .filter(credit_records::legal_rep_id_hash.eq_any(chunk))
            .filter(credit_records::subject_id.ne_all(except))
            .order(credit_records::id.asc())
            .select((RecordRow::as_select(), subjects::name))
            .load(c))?;
        for (record, name) in rows {
            if let Some(hash) = record.legal_rep_id_hash.clone() {
                out.entry(hash).or_default().push((record, name));
            }
        }
    }
    Ok(out)
}

pub fn count(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(credit_records::table.count().get_result(conn)?)
}

/// The records with these (source code, source record id) pairs: per source code, one query
/// per 500 ids, which the unique index answers.
pub fn by_sources(conn: &mut DbConn, pairs: &[(String, String)]) -> StoreResult<Vec<RecordRow>> {
    let mut by_code: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (code, id) in pairs {
        by_code.entry(code).or_default().push(id);
    }
    let mut out = Vec::new();
    for (code, ids) in by_code {
        for chunk in ids.chunks(500) {
            let query = || {
                credit_records::table
                    .filter(credit_records::source_code.eq(code))
                    .filter(credit_records::source_record_id.eq_any(chunk))
            };
            // On its own connection type PostgreSQL gets one array parameter (`= ANY($2)`),
            // which it answers from the unique index; through `MultiConnection` the list became
            // 500 parameters, planned as a scan with a filter (457 ms a batch at 30,000 rows).
            out.extend(on_backend!(conn, |c| query()
                .select(RecordRow::as_select())
                .load(c)?));
        }
    }
    Ok(out)
}
