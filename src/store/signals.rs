//! Signals between instances: a write that other processes' in-process caches depend on leaves a
//! signal (a topic and an item) in its own transaction, and every server listens.
//!
//! - PostgreSQL: `pg_notify` on one channel; the server delivers it at commit, in commit order,
//!   to every session that listens, and never for a transaction that rolled back.
//! - SQLite (several processes on one file, e.g. `creditgate keys revoke` beside the server): a
//!   row of `signals`; each listener reads the rows after the last one it saw. SQLite commits
//!   one writer at a time, so the sequence order is the commit order.
//!
//! A listener that loses its connection cannot know what it missed: it says so
//! ([`Listener::poll`] fails), and its owner forgets everything it cached.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::schema::signals;
use super::{DbConn, StoreResult};

/// The PostgreSQL channel.
const CHANNEL: &str = "creditgate_signals";
/// SQLite: rows kept for listeners that fell behind; older ones are pruned.
const KEEP: i64 = 10_000;

/// One signal, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub topic: String,
    pub item: String,
}

/// Sends a signal with the caller's transaction (delivered only if it commits).
pub fn emit(conn: &mut DbConn, topic: &str, item: &str) -> StoreResult<()> {
    match conn {
        DbConn::Pg(c) => {
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(CHANNEL)
                .bind::<Text, _>(format!("{topic} {item}"))
                .execute(c)?;
        }
        DbConn::Sqlite(c) => {
            diesel::insert_into(signals::table)
                .values((signals::topic.eq(topic), signals::item.eq(item)))
                .execute(c)?;
        }
    }
    Ok(())
}

/// PostgreSQL takes NOTIFY payloads under 8,000 bytes.
const MAX_PAYLOAD: usize = 7_000;

/// Several items of one topic in as few signals as fit, one item per line (items hold no line
/// breaks).
pub fn emit_many(conn: &mut DbConn, topic: &str, items: &[&str]) -> StoreResult<()> {
    let mut payload = String::new();
    for item in items {
        if !payload.is_empty() && payload.len() + 1 + item.len() > MAX_PAYLOAD {
            emit(conn, topic, &payload)?;
            payload.clear();
        }
        if !payload.is_empty() {
            payload.push('\n');
        }
        payload.push_str(item);
    }
    if !payload.is_empty() {
        emit(conn, topic, &payload)?;
    }
    Ok(())
}

/// A listening connection of its own (outside the pool).
pub struct Listener {
    conn: DbConn,
    /// SQLite: the last sequence number read.
    last: i64,
    polls: u64,
}

/// What a poll found.
#[derive(Debug, Default)]
pub struct Heard {
    pub signals: Vec<Signal>,
    /// Signals were lost (a listener that fell more than the kept rows behind): forget all.
    pub gap: bool,
}

impl Listener {
    /// Starts listening from now on.
    pub fn start(mut conn: DbConn) -> StoreResult<Listener> {
        let last = match &mut conn {
            DbConn::Pg(c) => {
                c.batch_execute(&format!("LISTEN {CHANNEL}"))?;
                0
            }
            DbConn::Sqlite(c) => signals::table
                .select(diesel::dsl::max(signals::seq))
                .first::<Option<i64>>(c)?
                .unwrap_or(0),
        };
        Ok(Listener {
            conn,
            last,
            polls: 0,
        })
    }

    /// The signals committed since the last poll. An error means the connection is gone and
    /// signals may have been missed.
    pub fn poll(&mut self) -> StoreResult<Heard> {
        self.polls += 1;
        match &mut self.conn {
            DbConn::Pg(c) => {
                // Reading notifications sends nothing to the server; a query now and then finds
                // a connection that died without closing.
                if self.polls.is_multiple_of(50) {
                    c.batch_execute("SELECT 1")?;
                }
                let mut heard = Heard::default();
                for n in c.notifications_iter() {
                    let n = n?;
                    if let Some((topic, item)) = n.payload.split_once(' ') {
                        heard.signals.push(Signal {
                            topic: topic.to_string(),
                            item: item.to_string(),
                        });
                    }
                }
                Ok(heard)
            }
            DbConn::Sqlite(c) => {
                let rows: Vec<(i64, String, String)> = signals::table
                    .filter(signals::seq.gt(self.last))
                    .order(signals::seq.asc())
                    .select((signals::seq, signals::topic, signals::item))
                    .load(c)?;
                // AUTOINCREMENT numbers are not reused and a rollback takes its number back, so
                // a hole after the last row seen is rows pruned before this listener read them.
                let gap = rows.first().is_some_and(|(seq, _, _)| *seq > self.last + 1);
                if let Some((seq, _, _)) = rows.last() {
                    self.last = *seq;
                }
                if self.polls.is_multiple_of(200) {
                    diesel::delete(signals::table.filter(signals::seq.le(self.last - KEEP)))
                        .execute(c)?;
                }
                Ok(Heard {
                    signals: rows
                        .into_iter()
                        .map(|(_, topic, item)| Signal { topic, item })
                        .collect(),
                    gap,
                })
            }
        }
    }
}
