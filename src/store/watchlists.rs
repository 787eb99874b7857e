//! Watch lists and the subjects on them.

use super::schema::{watchlist_subjects, watchlists};
use super::{DbConn, StoreResult};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = watchlists)]
pub struct WatchlistRow {
    pub id: String,
    pub org_code: String,
    /// The key or person that made it.
    pub created_by: String,
    pub owner_role: String,
    pub name: String,
    pub webhook_url: String,
    /// JSON array of scenario names.
    pub scenarios: String,
    /// The signing secret, encrypted under the data key (`crypto`).
    pub secret: String,
    pub created_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = watchlist_subjects)]
struct SubjectRow<'a> {
    watchlist_id: &'a str,
    subject_key: &'a str,
    added_at: NaiveDateTime,
}

/// Rows per multi-row insert (three parameters each, well under SQLite's limit).
const CHUNK: usize = 1000;

pub fn insert(conn: &mut DbConn, row: &WatchlistRow) -> StoreResult<()> {
    diesel::insert_into(watchlists::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The list with this id, unless deleted.
pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<WatchlistRow>> {
    Ok(watchlists::table
        .find(id)
        .filter(watchlists::deleted_at.is_null())
        .select(WatchlistRow::as_select())
        .first(conn)
        .optional()?)
}

/// Lists not deleted, of one organisation or all, in creation order.
pub fn list(conn: &mut DbConn, org: Option<&str>) -> StoreResult<Vec<WatchlistRow>> {
    let mut q = watchlists::table
        .filter(watchlists::deleted_at.is_null())
        .select(WatchlistRow::as_select())
        .order(watchlists::id)
        .into_boxed();
    if let Some(o) = org {
        q = q.filter(watchlists::org_code.eq(o.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Deletes the list (kept, marked) and its subjects; false when it was gone already.
pub fn delete(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> StoreResult<bool> {
    let n = diesel::update(
        watchlists::table
            .find(id)
            .filter(watchlists::deleted_at.is_null()),
    )
    .set(watchlists::deleted_at.eq(Some(at)))
    .execute(conn)?;
    clear_subjects(conn, id)?;
    Ok(n == 1)
}

pub fn count_subjects(conn: &mut DbConn, id: &str) -> StoreResult<i64> {
    Ok(watchlist_subjects::table
        .filter(watchlist_subjects::watchlist_id.eq(id))
        .count()
        .get_result(conn)?)
}

/// Adds the subjects not on the list yet; returns how many were added.
pub fn add_subjects(
    conn: &mut DbConn,
    id: &str,
    keys: &[String],
    at: NaiveDateTime,
) -> StoreResult<usize> {
    let mut added = 0;
    for chunk in keys.chunks(CHUNK) {
        let rows: Vec<SubjectRow> = chunk
            .iter()
            .map(|k| SubjectRow {
                watchlist_id: id,
                subject_key: k,
                added_at: at,
            })
            .collect();
        // diesel builds no multi-row upsert for SQLite; its INSERT OR IGNORE does the same.
        added += match conn {
            DbConn::Pg(c) => diesel::insert_into(watchlist_subjects::table)
                .values(&rows)
                .on_conflict((
                    watchlist_subjects::watchlist_id,
                    watchlist_subjects::subject_key,
                ))
                .do_nothing()
                .execute(c)?,
            DbConn::Sqlite(c) => diesel::insert_or_ignore_into(watchlist_subjects::table)
                .values(&rows)
                .execute(c)?,
        };
    }
    Ok(added)
}

/// Removes the subjects given; returns how many were on the list.
pub fn remove_subjects(conn: &mut DbConn, id: &str, keys: &[String]) -> StoreResult<usize> {
    let mut removed = 0;
    for chunk in keys.chunks(CHUNK) {
        removed += diesel::delete(
            watchlist_subjects::table
                .filter(watchlist_subjects::watchlist_id.eq(id))
                .filter(watchlist_subjects::subject_key.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(removed)
}

/// How many of `keys` are on the list.
pub fn count_present(conn: &mut DbConn, id: &str, keys: &[String]) -> StoreResult<usize> {
    let mut n = 0;
    for chunk in keys.chunks(CHUNK) {
        let c: i64 = watchlist_subjects::table
            .filter(watchlist_subjects::watchlist_id.eq(id))
            .filter(watchlist_subjects::subject_key.eq_any(chunk))
            .count()
            .get_result(conn)?;
        n += c as usize;
    }
    Ok(n)
}

/// Removes every subject of the list; returns how many there were.
pub fn clear_subjects(conn: &mut DbConn, id: &str) -> StoreResult<usize> {
    Ok(
        diesel::delete(watchlist_subjects::table.filter(watchlist_subjects::watchlist_id.eq(id)))
            .execute(conn)?,
    )
}
