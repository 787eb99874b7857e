//! The queries of the data steps that run after the schema migrations (`service::upgrade`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::records::VersionRow;
use super::schema::{credit_record_versions, credit_records, data_migrations, sync_state};
use super::{DbConn, StoreResult};

pub fn is_done(conn: &mut DbConn, name: &str) -> StoreResult<bool> {
    let n: i64 = data_migrations::table
        .filter(data_migrations::name.eq(name))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn mark_done(conn: &mut DbConn, name: &str, now: NaiveDateTime) -> StoreResult<()> {
    diesel::insert_into(data_migrations::table)
        .values((
            data_migrations::name.eq(name),
            data_migrations::done_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
pub struct RecordId {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub source_record_id: String,
}

/// Records whose source record id holds a run of 17 digits and a digit or X: the candidates for
/// pseudonymisation (the caller decides which of them hold an ID number).
pub fn records_with_long_digit_runs(conn: &mut DbConn) -> StoreResult<Vec<RecordId>> {
    const SELECT: &str = "SELECT id, source_record_id FROM credit_records WHERE ";
    let rows = match conn {
        DbConn::Pg(c) => diesel::sql_query(format!(
            "{SELECT}source_record_id ~ '[0-9]{{17}}[0-9Xx]' ORDER BY id"
        ))
        .load(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(format!(
            "{SELECT}source_record_id GLOB '*{}[0-9Xx]*' ORDER BY id",
            "[0-9]".repeat(17)
        ))
        .load(c)?,
    };
    Ok(rows)
}

pub fn versions_of(conn: &mut DbConn, record_id: &str) -> StoreResult<Vec<VersionRow>> {
    Ok(credit_record_versions::table
        .filter(credit_record_versions::record_id.eq(record_id))
        .order(credit_record_versions::version)
        .select(VersionRow::as_select())
        .load(conn)?)
}

pub fn set_record_identity(
    conn: &mut DbConn,
    id: &str,
    source_record_id: &str,
    content_hash: &str,
) -> StoreResult<()> {
    diesel::update(credit_records::table.find(id))
        .set((
            credit_records::source_record_id.eq(source_record_id),
            credit_records::content_hash.eq(content_hash),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_version_content(
    conn: &mut DbConn,
    record_id: &str,
    version: i64,
    content: &str,
    content_hash: &str,
) -> StoreResult<()> {
    diesel::update(credit_record_versions::table.find((record_id, version)))
        .set((
            credit_record_versions::content.eq(content),
            credit_record_versions::content_hash.eq(content_hash),
        ))
        .execute(conn)?;
    Ok(())
}

/// The free-text columns of a sync state row that may quote a record id.
#[derive(Queryable)]
pub struct SyncTexts {
    pub name: String,
    pub last_error: Option<String>,
    pub last_reject: Option<String>,
}

pub fn sync_texts(conn: &mut DbConn) -> StoreResult<Vec<SyncTexts>> {
    Ok(sync_state::table
        .select((
            sync_state::name,
            sync_state::last_error,
            sync_state::last_reject,
        ))
        .load(conn)?)
}

pub fn set_sync_texts(
    conn: &mut DbConn,
    name: &str,
    last_error: Option<&str>,
    last_reject: Option<&str>,
) -> StoreResult<()> {
    diesel::update(sync_state::table.find(name))
        .set((
            sync_state::last_error.eq(last_error),
            sync_state::last_reject.eq(last_reject),
        ))
        .execute(conn)?;
    Ok(())
}
