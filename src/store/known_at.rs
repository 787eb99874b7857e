//! What the database knew at a past time (as-known-at replay): the record versions received by
//! then, the repairs decided by then and the objections open then. Every version is kept with
//! its receipt time (`credit_record_versions.recorded_at`), so nothing here is reconstructed
//! from the records' current rows.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{credit_record_versions, credit_records, objections, repairs};
use super::{on_backend, DbConn, StoreResult};

/// One version of a record as it was received.
#[derive(Debug, Clone, Queryable)]
pub struct KnownVersion {
    pub record_id: String,
    pub subject_id: String,
    pub source_code: String,
    pub source_record_id: String,
    pub version: i64,
    /// The canonical JSON the version was received as (`ingest::rows::history_row`), or a
    /// removal (`{"op": "remove", ...}`).
    pub content: String,
    pub recorded_at: NaiveDateTime,
}

type Columns = (
    credit_record_versions::record_id,
    credit_records::subject_id,
    credit_records::source_code,
    credit_records::source_record_id,
    credit_record_versions::version,
    credit_record_versions::content,
    credit_record_versions::recorded_at,
);

const COLUMNS: Columns = (
    credit_record_versions::record_id,
    credit_records::subject_id,
    credit_records::source_code,
    credit_records::source_record_id,
    credit_record_versions::version,
    credit_record_versions::content,
    credit_record_versions::recorded_at,
);

/// Every version received at or before `at` of the records that are, or were, about this
/// subject: those whose current row is the subject's (`subject_id`), and those a version of
/// which named its key (`"key":"…"` in the version's JSON: a record corrected to another
/// subject was about this one until then). By record and version; the caller keeps a record
/// only if its last version by then is about the subject.
pub fn versions_of_subject(
    conn: &mut DbConn,
    subject_id: &str,
    subject_key: &str,
    at: NaiveDateTime,
) -> StoreResult<Vec<KnownVersion>> {
    // The key as the canonical JSON writes it, with LIKE's own characters escaped.
    let quoted = serde_json::to_string(subject_key).unwrap_or_default();
    let escaped = quoted
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = format!("%\"key\":{escaped}%");
    let mut ids: BTreeSet<String> = credit_records::table
        .filter(credit_records::subject_id.eq(subject_id))
        .select(credit_records::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    ids.extend(
        credit_record_versions::table
            .filter(credit_record_versions::content.like(pattern).escape('\\'))
            .filter(credit_record_versions::recorded_at.le(at))
            .select(credit_record_versions::record_id)
            .load::<String>(conn)?,
    );
    versions_of_records(conn, &ids.into_iter().collect::<Vec<_>>(), at)
}

/// Every version received at or before `at` of these records, by record and version.
fn versions_of_records(
    conn: &mut DbConn,
    ids: &[String],
    at: NaiveDateTime,
) -> StoreResult<Vec<KnownVersion>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(on_backend!(conn, |c| credit_record_versions::table
            .inner_join(credit_records::table)
            .filter(credit_record_versions::record_id.eq_any(chunk))
            .filter(credit_record_versions::recorded_at.le(at))
            .order((
                credit_record_versions::record_id.asc(),
                credit_record_versions::version.asc()
            ))
            .select(COLUMNS)
            .load::<KnownVersion>(c))?);
    }
    Ok(out)
}

/// Every version received at or before `at` of the records any of whose versions received by
/// then named one of these persons (by the keyed hash of the ID number) as legal
/// representative. The caller keeps the records whose last version by then still names them.
///
/// The hash is found in the versions' JSON (`"id_key":"…"`): a scan of the versions table,
/// which a replay (rare, and asked one subject at a time) can afford; live checks use the
/// indexed column of the current row instead.
pub fn versions_naming(
    conn: &mut DbConn,
    id_hashes: &[String],
    at: NaiveDateTime,
) -> StoreResult<Vec<KnownVersion>> {
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for hash in id_hashes {
        // Hashes are hex (`DataKeys::lookup_hash`): no LIKE wildcard can be in one.
        if !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        let pattern = format!("%\"id_key\":\"{hash}\"%");
        ids.extend(
            credit_record_versions::table
                .filter(credit_record_versions::content.like(pattern))
                .filter(credit_record_versions::recorded_at.le(at))
                .select(credit_record_versions::record_id)
                .load::<String>(conn)?,
        );
    }
    versions_of_records(conn, &ids.into_iter().collect::<Vec<_>>(), at)
}

/// The repairs of these records approved at or before `at`, with the day of the decision. An
/// approved repair's `updated_at` is the time of its decision: nothing changes it afterwards
/// (`repairs::decide`; the push marks touch other columns).
pub fn repaired_by(
    conn: &mut DbConn,
    record_ids: &[String],
    at: NaiveDateTime,
) -> StoreResult<BTreeMap<String, NaiveDate>> {
    let mut out = BTreeMap::new();
    for chunk in record_ids.chunks(500) {
        let rows: Vec<(String, Option<NaiveDate>)> = on_backend!(conn, |c| repairs::table
            .filter(repairs::status.eq("approved"))
            .filter(repairs::updated_at.le(at))
            .filter(repairs::record_id.eq_any(chunk))
            .select((repairs::record_id, repairs::decided_on))
            .load(c))?;
        out.extend(rows.into_iter().filter_map(|(id, d)| d.map(|d| (id, d))));
    }
    Ok(out)
}

/// The records among these with an objection filed at or before `at` and not closed by then. A
/// closed objection is never changed again, so its `updated_at` is the time it was closed (its
/// `closed_on` is the day the closing step names, which may be earlier).
pub fn objected_at(
    conn: &mut DbConn,
    record_ids: &[String],
    at: NaiveDateTime,
) -> StoreResult<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for chunk in record_ids.chunks(500) {
        let rows: Vec<String> = on_backend!(conn, |c| objections::table
            .filter(objections::record_id.eq_any(chunk))
            .filter(objections::created_at.le(at))
            .filter(
                objections::status
                    .ne("closed")
                    .or(objections::updated_at.gt(at))
            )
            .select(objections::record_id)
            .load(c))?;
        out.extend(rows);
    }
    Ok(out)
}
