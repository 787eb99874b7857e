//! Multi-row writes: of the one write path of records (`service::ingest::write`), and of the
//! group commit of access-log entries and check reports (`service::commit`). diesel's
//! `MultiConnection` does not take a multi-row `values(&[...])`, so each statement is dispatched
//! to the backend's own connection.

use diesel::prelude::*;

use super::audit::AccessRow;
use super::checks::ReportRow;
use super::records::{RecordRow, VersionRow};
use super::schema::{access_log, check_reports, credit_record_versions, credit_records, subjects};
use super::subjects::SubjectRow;
use super::{on_backend, DbConn, StoreResult};

/// Rows per statement: SQLite allows 32,766 bound values, PostgreSQL 65,535; a record row has 28.
const CHUNK: usize = 500;

macro_rules! insert_chunks {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut n = 0;
        for chunk in $rows.chunks(CHUNK) {
            n += on_backend!($conn, |c| diesel::insert_into($table)
                .values(chunk)
                .execute(c)?);
        }
        Ok(n)
    }};
}

/// Newer states of stored rows. On PostgreSQL: multi-row inserts that meet each row's `$id` and
/// set `$changes`. On SQLite, which is in process (no round trip per statement) and for which
/// diesel builds no multi-row upsert: `$update` row by row.
macro_rules! update_chunks {
    ($conn:expr, $table:expr, $id:expr, $rows:expr, $changes:expr, $update:expr) => {{
        let DbConn::Pg(c) = $conn else {
            for row in $rows {
                $update($conn, row)?;
            }
            return Ok($rows.len());
        };
        let mut n = 0;
        for chunk in $rows.chunks(CHUNK) {
            n += diesel::insert_into($table)
                .values(chunk)
                .on_conflict($id)
                .do_update()
                .set($changes)
                .execute(c)?;
        }
        Ok(n)
    }};
}

pub fn insert_reports(conn: &mut DbConn, rows: &[ReportRow]) -> StoreResult<usize> {
    insert_chunks!(conn, check_reports::table, rows)
}

pub fn insert_access_entries(conn: &mut DbConn, rows: &[AccessRow]) -> StoreResult<usize> {
    insert_chunks!(conn, access_log::table, rows)
}

pub fn insert_subjects(conn: &mut DbConn, rows: &[SubjectRow]) -> StoreResult<usize> {
    insert_chunks!(conn, subjects::table, rows)
}

pub fn insert_records(conn: &mut DbConn, rows: &[RecordRow]) -> StoreResult<usize> {
    insert_chunks!(conn, credit_records::table, rows)
}

pub fn insert_versions(conn: &mut DbConn, rows: &[VersionRow]) -> StoreResult<usize> {
    insert_chunks!(conn, credit_record_versions::table, rows)
}

/// Writes newer states of stored records, many rows per statement on PostgreSQL (one `UPDATE`
/// each was a
/// round trip per changed record: 6,309 of them in a 30,000-change sync). An insert that meets
/// the row's id replaces what a newer version replaces (`records::RecordRow` as a changeset); the id, the
/// source pair, the creation time, the objection mark and the push state stay.
pub fn update_records(conn: &mut DbConn, rows: &[RecordRow]) -> StoreResult<usize> {
    use credit_records::*;
    use diesel::upsert::excluded;
    macro_rules! changes {
        () => {
            (
                (
                    subject_id.eq(excluded(subject_id)),
                    kind.eq(excluded(kind)),
                    list_code.eq(excluded(list_code)),
                    decision_no.eq(excluded(decision_no)),
                    decision_date.eq(excluded(decision_date)),
                    valid_from.eq(excluded(valid_from)),
                    valid_to.eq(excluded(valid_to)),
                    severity.eq(excluded(severity)),
                    penalty_types.eq(excluded(penalty_types)),
                    fine_amount_fen.eq(excluded(fine_amount_fen)),
                    authority_name.eq(excluded(authority_name)),
                    authority_uscc.eq(excluded(authority_uscc)),
                ),
                (
                    legal_rep_name.eq(excluded(legal_rep_name)),
                    legal_rep_id_enc.eq(excluded(legal_rep_id_enc)),
                    legal_rep_id_masked.eq(excluded(legal_rep_id_masked)),
                    legal_rep_id_hash.eq(excluded(legal_rep_id_hash)),
                    sharing_class.eq(excluded(sharing_class)),
                    open_class.eq(excluded(open_class)),
                    status.eq(excluded(status)),
                    version.eq(excluded(version)),
                    origin.eq(excluded(origin)),
                    checksum_warning.eq(excluded(checksum_warning)),
                    details.eq(excluded(details)),
                    content_hash.eq(excluded(content_hash)),
                    updated_at.eq(excluded(updated_at)),
                ),
            )
        };
    }
    update_chunks!(
        conn,
        table,
        id,
        rows,
        changes!(),
        |conn: &mut DbConn, row: &RecordRow| { super::records::update(conn, row) }
    )
}

/// Writes new attributes of stored subjects (kind, name, legal representative, checksum mark),
/// many rows per statement on PostgreSQL, as [`update_records`] does for records.
pub fn update_subjects(conn: &mut DbConn, rows: &[SubjectRow]) -> StoreResult<usize> {
    use diesel::upsert::excluded;
    use subjects::*;
    macro_rules! changes {
        () => {
            (
                kind.eq(excluded(kind)),
                name.eq(excluded(name)),
                legal_rep_name.eq(excluded(legal_rep_name)),
                legal_rep_id_enc.eq(excluded(legal_rep_id_enc)),
                legal_rep_id_masked.eq(excluded(legal_rep_id_masked)),
                legal_rep_id_hash.eq(excluded(legal_rep_id_hash)),
                checksum_warning.eq(excluded(checksum_warning)),
                updated_at.eq(excluded(updated_at)),
            )
        };
    }
    update_chunks!(
        conn,
        table,
        id,
        rows,
        changes!(),
        |conn: &mut DbConn, row: &SubjectRow| { super::subjects::update(conn, row) }
    )
}
