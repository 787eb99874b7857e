//! The access log: append, seal into the chain, read back.

use super::schema::{access_log, audit_anchor};
use super::{DbConn, StoreResult, SEALER_LOCK};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(
    Debug, Clone, Queryable, Selectable, Insertable, PartialEq, serde::Serialize, serde::Deserialize,
)]
#[diesel(table_name = access_log)]
pub struct AccessRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub key_id: String,
    pub org_code: String,
    pub role: String,
    pub action: String,
    pub subject_key: Option<String>,
    /// JSON array of record ids.
    pub records: String,
    pub purpose: Option<String>,
    pub reference: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub entry_hash: String,
    pub seq: Option<i64>,
    pub prev_hash: Option<String>,
    pub chain_hash: Option<String>,
    pub sealed_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, row: &AccessRow) -> StoreResult<()> {
    diesel::insert_into(access_log::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Takes the sealer's turn across instances for this transaction: a PostgreSQL advisory lock
/// (released at commit); on SQLite the single writer is the lock. False: another sealer runs.
pub fn try_sealer_lock(conn: &mut DbConn) -> StoreResult<bool> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    match conn {
        DbConn::Pg(c) => {
            let r: Locked = diesel::sql_query(format!(
                "SELECT pg_try_advisory_xact_lock({SEALER_LOCK}) AS locked"
            ))
            .get_result(c)?;
            Ok(r.locked)
        }
        DbConn::Sqlite(_) => Ok(true),
    }
}

/// The last sealed entry (the chain's head).
pub fn head(conn: &mut DbConn) -> StoreResult<Option<AccessRow>> {
    Ok(access_log::table
        .filter(access_log::seq.is_not_null())
        .order(access_log::seq.desc())
        .select(AccessRow::as_select())
        .first(conn)
        .optional()?)
}

/// Entries not yet sealed, oldest first.
pub fn unsealed(conn: &mut DbConn, limit: i64) -> StoreResult<Vec<AccessRow>> {
    Ok(access_log::table
        .filter(access_log::seq.is_null())
        .order((access_log::at.asc(), access_log::id.asc()))
        .limit(limit)
        .select(AccessRow::as_select())
        .load(conn)?)
}

/// An entry's place in the chain.
#[derive(Debug, Clone)]
pub struct Seal {
    pub id: String,
    pub seq: i64,
    pub prev_hash: String,
    pub chain_hash: String,
}

/// Seals entries at `at`. PostgreSQL: one statement per 1,000 entries (the sealer kept up with
/// a read load only by one UPDATE an entry before); SQLite, in process: one update an entry.
pub fn seal(conn: &mut DbConn, seals: &[Seal], at: NaiveDateTime) -> StoreResult<()> {
    use diesel::sql_types::{Array, BigInt, Text, Timestamp};
    let DbConn::Pg(c) = conn else {
        for s in seals {
            diesel::update(access_log::table.find(&s.id))
                .set((
                    access_log::seq.eq(Some(s.seq)),
                    access_log::prev_hash.eq(Some(&s.prev_hash)),
                    access_log::chain_hash.eq(Some(&s.chain_hash)),
                    access_log::sealed_at.eq(Some(at)),
                ))
                .execute(conn)?;
        }
        return Ok(());
    };
    for chunk in seals.chunks(1000) {
        let column = |f: fn(&Seal) -> String| chunk.iter().map(f).collect::<Vec<_>>();
        diesel::sql_query(
            "UPDATE access_log AS a SET seq = v.seq, prev_hash = v.prev, chain_hash = v.chain, \
             sealed_at = $5 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) \
             AS v(id, seq, prev, chain) WHERE a.id = v.id",
        )
        .bind::<Array<Text>, _>(column(|s| s.id.clone()))
        .bind::<Array<BigInt>, _>(chunk.iter().map(|s| s.seq).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(column(|s| s.prev_hash.clone()))
        .bind::<Array<Text>, _>(column(|s| s.chain_hash.clone()))
        .bind::<Timestamp, _>(at)
        .execute(c)?;
    }
    Ok(())
}

/// Sealed entries with seq greater than `after`, in chain order.
pub fn sealed_after(conn: &mut DbConn, after: i64, limit: i64) -> StoreResult<Vec<AccessRow>> {
    Ok(access_log::table
        .filter(access_log::seq.gt(after))
        .order(access_log::seq.asc())
        .limit(limit)
        .select(AccessRow::as_select())
        .load(conn)?)
}

pub fn all_unsealed(conn: &mut DbConn) -> StoreResult<Vec<AccessRow>> {
    unsealed(conn, i64::MAX)
}

/// What an auditor filters by.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    pub org_code: Option<String>,
    pub key_id: Option<String>,
    pub action: Option<String>,
    pub subject_key: Option<String>,
    /// Entries after this one in (time, id) order (the page cursor).
    pub after: Option<(NaiveDateTime, String)>,
}

/// Entries matching the filter, in (time, id) order, at most `limit`.
pub fn list(conn: &mut DbConn, f: &Filter, limit: i64) -> StoreResult<Vec<AccessRow>> {
    let mut q = access_log::table
        .select(AccessRow::as_select())
        .order((access_log::at.asc(), access_log::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(v) = f.from {
        q = q.filter(access_log::at.ge(v));
    }
    if let Some(v) = f.to {
        q = q.filter(access_log::at.lt(v));
    }
    if let Some(v) = &f.org_code {
        q = q.filter(access_log::org_code.eq(v.clone()));
    }
    if let Some(v) = &f.key_id {
        q = q.filter(access_log::key_id.eq(v.clone()));
    }
    if let Some(v) = &f.action {
        q = q.filter(access_log::action.eq(v.clone()));
    }
    if let Some(v) = &f.subject_key {
        q = q.filter(access_log::subject_key.eq(v.clone()));
    }
    if let Some((t, id)) = &f.after {
        q = q.filter(
            access_log::at
                .gt(*t)
                .or(access_log::at.eq(*t).and(access_log::id.gt(id.clone()))),
        );
    }
    Ok(q.load(conn)?)
}

/// Where the chain in the database begins once older entries were archived and removed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq)]
#[diesel(table_name = audit_anchor)]
pub struct Anchor {
    pub id: i32,
    /// The last archived (and removed) entry's seq and chain hash.
    pub seq: i64,
    pub chain_hash: String,
    pub archived_at: NaiveDateTime,
    /// The archive's file name.
    pub archive: String,
    pub mac: String,
}

pub fn anchor(conn: &mut DbConn) -> StoreResult<Option<Anchor>> {
    Ok(audit_anchor::table
        .select(Anchor::as_select())
        .first(conn)
        .optional()?)
}

/// The smallest seq of a sealed entry written at or after `at`.
pub fn first_seq_from(conn: &mut DbConn, at: NaiveDateTime) -> StoreResult<Option<i64>> {
    use diesel::dsl::min;
    Ok(access_log::table
        .filter(access_log::seq.is_not_null())
        .filter(access_log::at.ge(at))
        .select(min(access_log::seq))
        .first::<Option<i64>>(conn)?)
}

/// Removes the sealed entries after the anchor seq `after` (0: none yet) up to the new anchor's
/// seq, and sets the new anchor, in one transaction (on PostgreSQL under the sealer's lock).
/// Rolled back, with nothing removed, when the anchor is no longer at `after` (another archive
/// ran meanwhile) or the entries removed are not exactly that range. The delete comes first: on
/// SQLite it takes the write lock (waiting out the busy timeout), so that what is read after it
/// cannot change before the commit. Returns how many were removed.
pub fn prune(conn: &mut DbConn, after: i64, new: &Anchor) -> StoreResult<usize> {
    use diesel::Connection;
    conn.transaction::<_, super::StoreError, _>(|conn| {
        if let DbConn::Pg(c) = conn {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SEALER_LOCK})")).execute(c)?;
        }
        let n = diesel::delete(
            access_log::table
                .filter(access_log::seq.gt(after))
                .filter(access_log::seq.le(new.seq)),
        )
        .execute(conn)?;
        let now_at = anchor(conn)?.map_or(0, |a| a.seq);
        if now_at != after {
            return Err(super::StoreError::Corrupt(format!(
                "the archive anchor moved from seq {after} to {now_at} meanwhile (another archive ran): nothing was removed in this step"
            )));
        }
        if n as i64 != new.seq - after {
            return Err(super::StoreError::Corrupt(format!(
                "{n} entries found between seq {} and {}, not {}: nothing was removed in this step",
                after + 1,
                new.seq,
                new.seq - after
            )));
        }
        diesel::delete(audit_anchor::table).execute(conn)?;
        diesel::insert_into(audit_anchor::table)
            .values(new)
            .execute(conn)?;
        Ok(n)
    })
}

/// How many sealed entries with seq at most `seq` the database holds (after an archive removed
/// them: none, unless one was put back).
pub fn count_sealed_up_to(conn: &mut DbConn, seq: i64) -> StoreResult<i64> {
    Ok(access_log::table
        .filter(access_log::seq.le(seq))
        .count()
        .get_result(conn)?)
}
