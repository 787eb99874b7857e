//! The access log (the governing measures Art. 20, 22, 25; DESIGN.md "Security and privacy").
//!
//! Every read of credit data and every administrative change leaves an entry: who (key,
//! organisation, role), when, what (action, subject, records), purpose, reference, outcome. An
//! entry that records a change is written in the same transaction as the change.
//!
//! The chain: each entry gets a keyed SM3 hash of its content when written (`entry_hash`), so
//! writers never wait on each other. One sealer (a PostgreSQL advisory lock picks it among
//! instances) then gives unsealed entries their place: `seq`, the previous entry's
//! `chain_hash`, and its own `chain_hash` = HMAC-SM3(prev ‖ seq ‖ entry_hash). `verify` finds an
//! edited entry (its hash), a deleted one (a gap in seq), an inserted one (a bad hash, or a seq
//! that breaks the chain) and a reordered one (prev and chain hashes), and names each. The head
//! is written to the service log at every seal, so a cut-off tail can be found against it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, SecondsFormat};
use serde::Serialize;
use serde_json::{json, Value};

use super::{Ctx, ServiceError, ServiceResult};
use crate::crypto::DataKeys;
use crate::domain::{canonical_json, Caller};
use crate::store::audit::{self as store_audit, AccessRow};
use crate::store::{DbConn, StoreError};

pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const SEAL_BATCH: i64 = 1000;

/// One entry as a use case describes it.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub action: &'static str,
    pub subject_key: Option<String>,
    pub records: Vec<String>,
    pub purpose: Option<String>,
    pub reference: Option<String>,
    /// `ok`, `denied`, `not_found`, `invalid`.
    pub outcome: &'static str,
    pub detail: Option<Value>,
}

fn content(row: &AccessRow) -> String {
    canonical_json(&json!({
        "id": row.id,
        "at": row.at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true),
        "key_id": row.key_id,
        "org_code": row.org_code,
        "role": row.role,
        "action": row.action,
        "subject_key": row.subject_key,
        "records": row.records,
        "purpose": row.purpose,
        "reference": row.reference,
        "outcome": row.outcome,
        "detail": row.detail,
    }))
}

fn entry_hash(keys: &DataKeys, row: &AccessRow) -> String {
    keys.audit_mac(&[content(row).as_bytes()])
}

fn chain_hash(keys: &DataKeys, prev: &str, seq: i64, entry_hash: &str) -> String {
    keys.audit_mac(&[
        prev.as_bytes(),
        b"|",
        seq.to_string().as_bytes(),
        b"|",
        entry_hash.as_bytes(),
    ])
}

/// Who makes a change, and when: the entry of a write names `who`, is hashed with `keys` and
/// carries `at`, the time of the change itself (from the context's clock, as every row the
/// change writes).
#[derive(Clone)]
pub struct Actor {
    pub keys: Arc<DataKeys>,
    pub who: Caller,
    pub at: NaiveDateTime,
}

impl Actor {
    /// The caller of a request, now.
    pub fn new(ctx: &Ctx, who: &Caller) -> Self {
        Actor {
            keys: ctx.keys.clone(),
            who: who.clone(),
            at: ctx.clock.stamp(),
        }
    }

    /// The same actor, now. A long write takes its time inside its closure, once it has its
    /// turn and its connection, so that its entry's time is close to its commit: the log is
    /// sealed and paged in time order.
    pub fn now(self, clock: &super::Clock) -> Self {
        Actor {
            at: clock.stamp(),
            ..self
        }
    }
}

/// Appends an entry on `conn` (inside the caller's transaction when it records a change).
pub fn append(conn: &mut DbConn, a: &Actor, e: &Entry) -> Result<String, StoreError> {
    let row = build(&a.keys, &a.who, a.at, e);
    store_audit::insert(conn, &row)?;
    Ok(row.id)
}

/// Appends the entry of an administrative change (outcome `ok`, what changed in `detail`),
/// inside the change's transaction.
pub fn log_change(
    conn: &mut DbConn,
    a: &Actor,
    action: &'static str,
    detail: Value,
) -> Result<(), StoreError> {
    append(
        conn,
        a,
        &Entry {
            action,
            outcome: "ok",
            detail: Some(detail),
            ..Default::default()
        },
    )
    .map(|_| ())
}

/// Appends the entry of a change that every instance must hear of (a key, a grant, an
/// agreement) and sends its signal (`signals`): both inside the change's transaction, so no
/// instance forgets what did not change and none keeps what did.
pub fn log_signalled(
    conn: &mut DbConn,
    a: &Actor,
    action: &'static str,
    detail: Value,
    (topic, item): (super::signals::Topic, &str),
) -> Result<(), StoreError> {
    log_change(conn, a, action, detail)?;
    super::signals::emit(conn, topic, item)
}

fn mask_free_text(s: &str) -> String {
    crate::domain::id_number::mask_id_numbers(s).into_owned()
}

/// The row of an entry, with its keyed hash.
pub fn build(keys: &DataKeys, caller: &Caller, at: NaiveDateTime, e: &Entry) -> AccessRow {
    let mut row = AccessRow {
        id: format!("acc_{}", ulid::Ulid::new()),
        at,
        key_id: caller.key_id.clone(),
        org_code: caller.org_code.clone(),
        role: caller.role.as_str().to_string(),
        action: e.action.to_string(),
        subject_key: e.subject_key.clone(),
        // What the caller wrote (purpose, reference, and the ids and numbers of a path, which
        // are logged even when nothing has them): an ID number in it is kept masked only.
        records: mask_free_text(&serde_json::to_string(&e.records).unwrap_or_else(|_| "[]".into())),
        purpose: e.purpose.as_deref().map(mask_free_text),
        reference: e.reference.as_deref().map(mask_free_text),
        outcome: e.outcome.to_string(),
        detail: e
            .detail
            .as_ref()
            .map(|d| mask_free_text(&canonical_json(d))),
        entry_hash: String::new(),
        seq: None,
        prev_hash: None,
        chain_hash: None,
        sealed_at: None,
    };
    row.entry_hash = entry_hash(keys, &row);
    row
}

/// Logs a read (or a refused request) on its own. A read that cannot be logged is not
/// answered: the log is the condition of access.
pub async fn log(ctx: &Ctx, caller: &Caller, e: Entry) -> ServiceResult<()> {
    if e.outcome == "denied" {
        super::access::refusal_logged();
    }
    let row = build(&ctx.keys, caller, ctx.clock.stamp(), &e);
    super::commit::durable(ctx, super::commit::Durable::Access(row))
        .await
        .map_err(|why| {
            ServiceError::Unavailable(format!("the access log cannot be written: {why}"))
        })
}

/// Refuses unless the caller's role is one of `roles` (`doing` says what, in the reason); the
/// refusal is logged as `entry`, with the outcome `denied`. The one role check of the use cases
/// that log what was asked (profiles, records, checks).
pub async fn require_logged(
    ctx: &Ctx,
    caller: &Caller,
    roles: &[crate::domain::Role],
    doing: &str,
    mut entry: Entry,
) -> ServiceResult<()> {
    let Err(why) = caller.require(roles, doing) else {
        return Ok(());
    };
    entry.outcome = "denied";
    log(ctx, caller, entry).await?;
    Err(ServiceError::Forbidden(why))
}

/// A refusal of `op` for `caller`, with its reason: the API's gate logs every refusal that a use
/// case did not log itself (with more context) already.
pub async fn log_refusal(
    ctx: &Ctx,
    caller: &Caller,
    op: &super::access::Operation,
    reason: &str,
) -> ServiceResult<()> {
    log(
        ctx,
        caller,
        Entry {
            action: op.action,
            outcome: "denied",
            detail: Some(json!({ "reason": reason })),
            ..Default::default()
        },
    )
    .await
}

/// One sealing round: the oldest unsealed entries join the chain. Returns how many.
pub fn seal_round(
    conn: &mut DbConn,
    keys: &DataKeys,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    use diesel::Connection;
    conn.transaction::<_, StoreError, _>(|conn| {
        if !store_audit::try_sealer_lock(conn)? {
            return Ok(0);
        }
        let rows = store_audit::unsealed(conn, SEAL_BATCH)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let head = store_audit::head(conn)?;
        let (mut seq, mut prev) = match head {
            Some(h) => (
                h.seq.unwrap_or(0),
                h.chain_hash.unwrap_or_else(|| GENESIS.to_string()),
            ),
            // Nothing in the database: the chain goes on from the archive's anchor, if any
            // (an archive keeps the last entry in the database, so this is a safeguard).
            None => match store_audit::anchor(conn)? {
                Some(a) => (a.seq, a.chain_hash),
                None => (0, GENESIS.to_string()),
            },
        };
        let mut seals = Vec::with_capacity(rows.len());
        for r in &rows {
            seq += 1;
            let chain = chain_hash(keys, &prev, seq, &r.entry_hash);
            seals.push(store_audit::Seal {
                id: r.id.clone(),
                seq,
                prev_hash: std::mem::replace(&mut prev, chain.clone()),
                chain_hash: chain,
            });
        }
        store_audit::seal(conn, &seals, now)?;
        tracing::info!(sealed = rows.len(), head_seq = seq, head = %prev, "access log sealed");
        Ok(rows.len())
    })
}

/// Seals until nothing is left (the CLI and tests).
pub fn seal_all(
    conn: &mut DbConn,
    keys: &DataKeys,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let n = seal_round(conn, keys, now)?;
        total += n;
        if n < SEAL_BATCH as usize {
            return Ok(total);
        }
    }
}

/// Seals in the background, every `every`, until the process ends; with `checkpoints` (a
/// directory and a period), writes a checkpoint of the chain's head there once a period
/// ([`checkpoint::write`]).
pub fn spawn_sealer(
    ctx: Ctx,
    every: Duration,
    checkpoints: Option<(std::path::PathBuf, Duration)>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_checkpoint: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            let (keys, now) = (ctx.keys.clone(), ctx.clock.stamp());
            if let Err(e) = ctx
                .db
                .run_write(move |conn| seal_round(conn, &keys, now))
                .await
            {
                tracing::warn!(error = %e, "access log sealing failed; retrying");
                continue;
            }
            let Some((dir, period)) = &checkpoints else {
                continue;
            };
            if last_checkpoint.is_some_and(|t| t.elapsed() < *period) {
                continue;
            }
            let (keys, dir) = (ctx.keys.clone(), dir.clone());
            let written = ctx
                .db
                .run_write(move |conn| checkpoint::write(conn, &keys, &dir, now))
                .await;
            match written {
                // Nothing written (no chain yet, its head has one, another instance seals):
                // tried again next round.
                Ok(Ok(None)) => {}
                Ok(Ok(Some(_))) => last_checkpoint = Some(std::time::Instant::now()),
                Ok(Err(e)) => {
                    // Retried a period later, not every round: the directory will not mend itself.
                    last_checkpoint = Some(std::time::Instant::now());
                    tracing::error!(error = %e, "access log checkpoint not written; retrying in a period")
                }
                // The database: tried again next round.
                Err(e) => tracing::warn!(error = %e, "access log checkpoint not written; retrying"),
            }
        }
    });
}

/// Whether `keys` are the keys the access log was written under: the last sealed entry's hash
/// recomputes (true with nothing sealed yet). A tool run under another key must not seal: the
/// entries it sealed would never verify again.
pub fn key_matches(conn: &mut DbConn, keys: &DataKeys) -> Result<bool, StoreError> {
    Ok(match store_audit::head(conn)? {
        Some(row) => entry_hash(keys, &row) == row.entry_hash,
        None => true,
    })
}

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub id: Option<String>,
    pub seq: Option<i64>,
    pub problem: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    pub sealed: u64,
    pub unsealed: u64,
    pub head_seq: i64,
    pub head: String,
    /// Entries up to this seq were archived and removed (0: none).
    pub archived_to: i64,
    pub breaks: Vec<Break>,
}

/// Follows a chain entry by entry, from the entry before its first (seq `after`, chain hash
/// `prev`): the database's chain, or an archive's. Names what each entry breaks.
pub(crate) struct Walk<'k> {
    keys: &'k DataKeys,
    expected: i64,
    prev: String,
    pub sealed: u64,
    pub head_seq: i64,
    pub head: String,
    pub breaks: Vec<Break>,
}

impl<'k> Walk<'k> {
    pub(crate) fn after(keys: &'k DataKeys, after: i64, prev: String) -> Self {
        Walk {
            keys,
            expected: after + 1,
            head: prev.clone(),
            prev,
            sealed: 0,
            head_seq: after,
            breaks: Vec::new(),
        }
    }

    pub(crate) fn step(&mut self, r: &AccessRow) {
        let (keys, expected) = (self.keys, self.expected);
        let seq = r.seq.unwrap_or(0);
        self.sealed += 1;
        let brk = |problem: String| Break {
            id: Some(r.id.clone()),
            seq: Some(seq),
            problem,
        };
        if seq > expected {
            self.breaks.push(Break {
                id: None,
                seq: Some(expected),
                problem: if seq == expected + 1 {
                    format!("entry seq {expected} is missing (deleted)")
                } else {
                    format!(
                        "entries seq {expected} to {} are missing (deleted)",
                        seq - 1
                    )
                },
            });
        }
        self.expected = seq + 1;
        if entry_hash(keys, r) != r.entry_hash {
            self.breaks.push(brk(format!(
                "entry {} (seq {seq}) was edited, or inserted without the key: its content does not match its hash",
                r.id
            )));
        }
        if r.prev_hash.as_deref() != Some(self.prev.as_str()) {
            self.breaks.push(brk(format!(
                "entry {} (seq {seq}) does not follow the entry before it in the chain (reordered, inserted, or the one before was removed)",
                r.id
            )));
        }
        let want = chain_hash(
            keys,
            r.prev_hash.as_deref().unwrap_or(""),
            seq,
            &r.entry_hash,
        );
        if r.chain_hash.as_deref() != Some(want.as_str()) {
            self.breaks.push(brk(format!(
                "entry {} (seq {seq}) has a wrong chain hash (its place in the chain was changed)",
                r.id
            )));
        }
        self.prev = r.chain_hash.clone().unwrap_or_default();
        self.head_seq = seq;
        self.head = self.prev.clone();
    }
}

/// Calls `f` with each sealed entry after seq `after` up to seq `to`, in chain order, a page at
/// a time.
pub(crate) fn each_sealed<E: From<StoreError>>(
    conn: &mut DbConn,
    after: i64,
    to: i64,
    mut f: impl FnMut(&AccessRow) -> Result<(), E>,
) -> Result<(), E> {
    let mut last = after;
    loop {
        let page = store_audit::sealed_after(conn, last, 10_000)?;
        let Some(end) = page.last().and_then(|r| r.seq) else {
            return Ok(());
        };
        for r in page.iter().take_while(|r| r.seq.is_some_and(|s| s <= to)) {
            f(r)?;
        }
        if end >= to {
            return Ok(());
        }
        last = end;
    }
}

/// Walks the whole chain held in the database (from the archive's anchor, when older entries
/// were archived and removed) and every unsealed entry.
pub fn verify(conn: &mut DbConn, keys: &DataKeys) -> Result<Verification, StoreError> {
    let anchor = store_audit::anchor(conn)?;
    let (after, prev) = match &anchor {
        Some(a) => (a.seq, a.chain_hash.clone()),
        None => (0, GENESIS.to_string()),
    };
    let mut walk = Walk::after(keys, after, prev);
    if let Some(a) = &anchor {
        if !archive::anchor_mac_ok(keys, a) {
            walk.breaks.push(Break {
                id: None,
                seq: Some(a.seq),
                problem: format!(
                    "the archive anchor (seq {}, archive {}) does not carry the key's MAC: edited, so where the chain begins is not known",
                    a.seq, a.archive
                ),
            });
        }
    }
    if anchor.is_some() {
        let back = store_audit::count_sealed_up_to(conn, after)?;
        if back > 0 {
            walk.breaks.push(Break {
                id: None,
                seq: Some(after),
                problem: format!(
                    "{back} entries with seq at most {after} are in the database, though entries up to seq {after} were archived and removed: inserted"
                ),
            });
        }
    }
    each_sealed(conn, after, i64::MAX, |r| {
        walk.step(r);
        Ok::<_, StoreError>(())
    })?;
    let mut v = Verification {
        sealed: walk.sealed,
        head_seq: walk.head_seq,
        head: walk.head,
        archived_to: after,
        breaks: walk.breaks,
        ..Default::default()
    };
    for r in store_audit::all_unsealed(conn)? {
        v.unsealed += 1;
        if entry_hash(keys, &r) != r.entry_hash {
            v.breaks.push(Break {
                id: Some(r.id.clone()),
                seq: None,
                problem: format!(
                    "unsealed entry {} was edited, or inserted without the key: its content does not match its hash",
                    r.id
                ),
            });
        }
    }
    Ok(v)
}

pub mod archive;
pub mod checkpoint;
mod read;
pub use read::{list, to_csv, EntryPage, EntryQuery, EntryView};
