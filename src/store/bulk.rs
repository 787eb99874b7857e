//! Multi-row inserts for bulk loading (the generator). diesel's `MultiConnection` does not take a
//! multi-row `values(&[...])`, so each statement is dispatched to the backend's own connection
//! (STACK.md).

use diesel::prelude::*;

use super::records::{RecordRow, VersionRow};
use super::schema::{credit_record_versions, credit_records, subjects};
use super::subjects::SubjectRow;
use super::{DbConn, StoreResult};

/// Rows per statement: SQLite allows 32,766 bound values, PostgreSQL 65,535; a record row has 28.
const CHUNK: usize = 500;

macro_rules! insert_chunks {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut n = 0;
        for chunk in $rows.chunks(CHUNK) {
            n += match $conn {
                DbConn::Pg(c) => diesel::insert_into($table).values(chunk).execute(c)?,
                DbConn::Sqlite(c) => diesel::insert_into($table).values(chunk).execute(c)?,
            };
        }
        Ok(n)
    }};
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
