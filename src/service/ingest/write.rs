//! The one write path of credit records: [`apply_versions`] holds the rules of a record's
//! versions, its content hash and its subject, for the API batch, the 双公示 import, the
//! provincial sync, the demo data and `gen` alike.
//!
//! Rules, per (source code, source record id) (一数一源, the governing measures Art. 5(1), 12):
//! - a version not newer than the stored one changes nothing: `unchanged` when its content is the
//!   stored content, `stale` otherwise;
//! - a newer version replaces the record (its id, creation time and objection mark stay) and adds
//!   one history row; the earlier versions are kept;
//! - a removal (the provincial `remove`) revokes the record at its version, with one history row;
//!   a removal of a record never stored changes nothing;
//! - the subject is found by its key or made; only a registration authority's record (or a
//!   provincial one) sets its kind, name and legal representative, see [`registers_subjects`].
//!
//! The batch is read in two queries (its records, its subjects), decided in memory in input
//! order, so a later item sees an earlier one of the same batch, and written with multi-row
//! inserts; the caller's transaction makes it all or nothing.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

pub use super::rows::{content_hash, record_row, removal_content, subject_row, version_row};
use super::rows::{content_of, hash_of, history_row, merged_subject};
use crate::crypto::DataKeys;
use crate::domain::*;
use crate::service::watchlists::events::{self, Change, EventType, Watch};
use crate::store::records::{self, RecordRow, VersionRow};
use crate::store::subjects::{self, SubjectRow};
use crate::store::{self, bulk, DbConn, StoreResult};

/// One write of a record version.
#[derive(Debug, Clone)]
pub enum Write {
    /// A version of a record (from [`super::parse_item`]), filed under `source_code`.
    Upsert {
        record: Box<NewRecord>,
        source_code: String,
    },
    /// The provider withdrew the record: it is revoked at `version`.
    Remove {
        source_code: String,
        source_record_id: String,
        version: i64,
    },
    /// A version that failed validation: only compared with the stored version, so that a
    /// change already superseded is told apart from one that was lost.
    Invalid {
        source_code: String,
        source_record_id: String,
        version: i64,
    },
}

impl Write {
    fn source(&self) -> (&str, &str) {
        match self {
            Write::Upsert {
                record,
                source_code,
            } => (source_code, &record.source_record_id),
            Write::Remove {
                source_code,
                source_record_id,
                ..
            }
            | Write::Invalid {
                source_code,
                source_record_id,
                ..
            } => (source_code, source_record_id),
        }
    }

    fn version(&self) -> i64 {
        match self {
            Write::Upsert { record, .. } => record.version,
            Write::Remove { version, .. } | Write::Invalid { version, .. } => *version,
        }
    }
}

/// What one write did, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created(String),
    Updated(String),
    Revoked(String),
    /// The same version (or an older one) with the stored content.
    Unchanged(String),
    /// Not newer than the stored version, with other content.
    Stale {
        stored_version: i64,
    },
    /// A removal of a record never stored.
    Absent,
    /// An invalid write newer than the stored version (or of a record never stored).
    Invalid,
}

/// The outcomes and what changed.
#[derive(Debug, Default)]
pub struct Applied {
    pub outcomes: Vec<Outcome>,
    /// Cache keys of the subjects whose profile changed.
    pub touched: BTreeSet<String>,
    /// Ids of the records written, sorted, once each.
    pub changed: Vec<String>,
}

/// Whether a record filed under `source_code` with `origin` sets its subject's name, kind and
/// legal representative (一数一源): the registration authorities' records (`registration`, from
/// `CREDITGATE_REGISTRATION_SOURCES`) and those pulled from the provincial platform.
pub fn registers_subjects(registration: &[String], source_code: &str, origin: Origin) -> bool {
    origin == Origin::Provincial || registration.iter().any(|s| s == source_code)
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

/// A row read or made in this batch: `new` rows are inserted, `dirty` ones updated.
struct Slot<R> {
    row: R,
    new: bool,
    dirty: bool,
}

/// Rows written by this process, and the count at which the planner's statistics of the looked-up
/// keys are refreshed next (then at four times that, and so on): a database loaded from empty by
/// an import, a sync or `gen` gets them early, a running one keeps autovacuum's.
static WRITTEN: AtomicU64 = AtomicU64::new(0);
static NEXT_ANALYZE: AtomicU64 = AtomicU64::new(1_000);

fn note_growth(conn: &mut DbConn, rows: usize) -> StoreResult<()> {
    let written = WRITTEN.fetch_add(rows as u64, Ordering::Relaxed) + rows as u64;
    let next = NEXT_ANALYZE.load(Ordering::Relaxed);
    if written >= next
        && NEXT_ANALYZE
            .compare_exchange(
                next,
                next.saturating_mul(4),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    {
        store::analyze_write_keys(conn)?;
    }
    Ok(())
}

/// Applies `writes` in order (the rules above) inside the caller's transaction.
pub fn apply_versions(
    conn: &mut DbConn,
    watch: &Watch,
    registration: &[String],
    writes: &[Write],
    now: chrono::NaiveDateTime,
) -> StoreResult<Applied> {
    let keys: &DataKeys = &watch.keys;
    let person = |i: &IdNumber| keys.lookup_hash(i);
    let pairs: Vec<(String, String)> = writes
        .iter()
        .map(|w| {
            let (code, id) = w.source();
            (code.to_string(), id.to_string())
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut records: HashMap<(String, String), Slot<RecordRow>> =
        records::by_sources(conn, &pairs)?
            .into_iter()
            .map(|row| {
                let key = (row.source_code.clone(), row.source_record_id.clone());
                (
                    key,
                    Slot {
                        row,
                        new: false,
                        dirty: false,
                    },
                )
            })
            .collect();
    let subject_keys: Vec<String> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Upsert { record, .. } => Some(record.subject.key.storage_key(&person)),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut subject_slots: HashMap<String, Slot<SubjectRow>> =
        subjects::by_keys(conn, &subject_keys)?
            .into_iter()
            .map(|row| {
                (
                    row.subject_key.clone(),
                    Slot {
                        row,
                        new: false,
                        dirty: false,
                    },
                )
            })
            .collect();

    let mut applied = Applied::default();
    let mut versions: Vec<VersionRow> = Vec::new();
    let mut revoked_subjects = Vec::new();
    // (record id, event, subject key or, for a removal, subject id) of each change
    let mut changes: Vec<(String, EventType, Result<String, String>)> = Vec::new();
    for w in writes {
        let (code, source_record_id) = w.source();
        let key = (code.to_string(), source_record_id.to_string());
        let stored = records.get(&key).map(|s| s.row.version);
        let superseded = stored.filter(|v| *v >= w.version());
        let outcome = match w {
            Write::Invalid { .. } => match superseded {
                Some(stored_version) => Outcome::Stale { stored_version },
                None => Outcome::Invalid,
            },
            Write::Remove { version, .. } => match (records.get_mut(&key), superseded) {
                (None, _) => Outcome::Absent,
                (Some(_), Some(stored_version)) => Outcome::Stale { stored_version },
                (Some(slot), None) => {
                    let (content, hash) = removal_content(code, source_record_id, *version);
                    slot.row.status = RecordStatus::Revoked;
                    slot.row.version = *version;
                    slot.row.content_hash = hash.clone();
                    slot.row.updated_at = now;
                    slot.dirty = !slot.new;
                    versions.push(VersionRow {
                        record_id: slot.row.id.clone(),
                        version: *version,
                        content,
                        content_hash: hash,
                        recorded_at: now,
                    });
                    revoked_subjects.push(slot.row.subject_id.clone());
                    applied.changed.push(slot.row.id.clone());
                    changes.push((
                        slot.row.id.clone(),
                        EventType::Revoked,
                        Err(slot.row.subject_id.clone()),
                    ));
                    Outcome::Revoked(slot.row.id.clone())
                }
            },
            Write::Upsert {
                record,
                source_code,
            } => {
                let content = content_of(record, keys);
                let hash = hash_of(&content);
                if let (Some(stored_version), Some(slot)) = (superseded, records.get(&key)) {
                    if slot.row.content_hash == hash {
                        Outcome::Unchanged(slot.row.id.clone())
                    } else {
                        Outcome::Stale { stored_version }
                    }
                } else {
                    let registers = registers_subjects(registration, source_code, record.origin);
                    let subject_id =
                        subject_for(keys, &mut subject_slots, &record.subject, registers, now);
                    applied
                        .touched
                        .insert(record.subject.key.storage_key(&person));
                    let old = records.get(&key);
                    let new = old.is_none_or(|s| s.new);
                    let id = old
                        .map(|s| s.row.id.clone())
                        .unwrap_or_else(|| new_id("rec"));
                    let mut row = record_row(
                        keys,
                        record,
                        id.clone(),
                        source_code,
                        subject_id,
                        hash.clone(),
                        now,
                    );
                    if let Some(old) = old {
                        row.created_at = old.row.created_at;
                        row.under_objection = old.row.under_objection;
                    }
                    // A provider withdrawing its decision sends a version marked revoked.
                    let withdrawn = record.status == RecordStatus::Revoked
                        && old.is_some_and(|o| o.row.status != RecordStatus::Revoked);
                    let (outcome, event) = match old {
                        Some(_) if withdrawn => (Outcome::Updated(id.clone()), EventType::Revoked),
                        Some(_) => (Outcome::Updated(id.clone()), EventType::Updated),
                        None => (Outcome::Created(id.clone()), EventType::Created),
                    };
                    changes.push((
                        id.clone(),
                        event,
                        Ok(record.subject.key.storage_key(&person)),
                    ));
                    records.insert(
                        key,
                        Slot {
                            row,
                            new,
                            dirty: !new,
                        },
                    );
                    versions.push(history_row(
                        content,
                        record.version,
                        id.clone(),
                        source_code,
                        hash,
                        now,
                    ));
                    applied.changed.push(id);
                    outcome
                }
            }
        };
        applied.outcomes.push(outcome);
    }
    revoked_subjects.sort();
    revoked_subjects.dedup();
    let revoked_keys: HashMap<String, String> = subjects::keys_of(conn, &revoked_subjects)?
        .into_iter()
        .collect();
    applied.touched.extend(revoked_keys.values().cloned());
    applied.changed.sort();
    applied.changed.dedup();
    // The watchers of the subjects touched, and their verdicts before the writes below.
    let touched: Vec<String> = applied.touched.iter().cloned().collect();
    let before = events::before(conn, watch, &touched)?;

    // Subjects first (records refer to them), then records, then their history.
    let new_subjects: Vec<SubjectRow> = subject_slots
        .values()
        .filter(|s| s.new)
        .map(|s| s.row.clone())
        .collect();
    bulk::insert_subjects(conn, &new_subjects)?;
    let changed_subjects: Vec<SubjectRow> = subject_slots
        .values()
        .filter(|s| s.dirty)
        .map(|s| SubjectRow {
            updated_at: now,
            ..s.row.clone()
        })
        .collect();
    bulk::update_subjects(conn, &changed_subjects)?;
    let new_records: Vec<RecordRow> = records
        .values()
        .filter(|s| s.new)
        .map(|s| s.row.clone())
        .collect();
    bulk::insert_records(conn, &new_records)?;
    let changed_records: Vec<RecordRow> = records
        .values()
        .filter(|s| s.dirty)
        .map(|s| s.row.clone())
        .collect();
    bulk::update_records(conn, &changed_records)?;
    bulk::insert_versions(conn, &versions)?;
    note_growth(conn, new_subjects.len() + new_records.len())?;
    let changes: Vec<Change> = changes
        .into_iter()
        .filter_map(|(record_id, kind, subject)| {
            let subject_key = match subject {
                Ok(key) => key,
                Err(id) => revoked_keys.get(&id)?.clone(),
            };
            Some(Change {
                subject_key,
                record_id,
                kind,
            })
        })
        .collect();
    events::after(conn, watch, before, &changes, now)?;
    // Every server forgets these profiles once this commits (whoever writes: API, import, sync).
    crate::service::signals::emit_profiles(conn, applied.touched.iter())?;
    Ok(applied)
}

/// The id of the record's subject, found among the batch's subjects or made (see
/// [`registers_subjects`] for who may set what).
fn subject_for(
    keys: &DataKeys,
    slots: &mut HashMap<String, Slot<SubjectRow>>,
    s: &SubjectData,
    registers: bool,
    now: chrono::NaiveDateTime,
) -> String {
    let mut candidate = subject_row(keys, s, new_id("sub"), now);
    if !registers {
        candidate.legal_rep_name = None;
        candidate.legal_rep_id_enc = None;
        candidate.legal_rep_id_masked = None;
        candidate.legal_rep_id_hash = None;
    }
    match slots.get_mut(&candidate.subject_key) {
        Some(slot) => {
            if registers {
                if let Some(merged) = merged_subject(&slot.row, &candidate) {
                    slot.row = merged;
                    slot.dirty = !slot.new;
                }
            }
            slot.row.id.clone()
        }
        None => {
            let id = candidate.id.clone();
            slots.insert(
                candidate.subject_key.clone(),
                Slot {
                    row: candidate,
                    new: true,
                    dirty: false,
                },
            );
            id
        }
    }
}
