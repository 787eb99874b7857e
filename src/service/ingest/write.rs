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

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

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

/// The content hash of a record: SHA-256 of its canonical content without version.
pub fn content_hash(record: &NewRecord, keys: &DataKeys) -> String {
    hash_of(&content_of(record, keys))
}

fn content_of(record: &NewRecord, keys: &DataKeys) -> Value {
    record.content(&|i| keys.lookup_hash(i))
}

fn hash_of(content: &Value) -> String {
    let digest = Sha256::digest(canonical_json(content).as_bytes());
    format!("sha256:{}", hex::encode(digest))
}

/// The history row of one version, as submitted (ID numbers as masked form and keyed hash).
pub fn version_row(
    keys: &DataKeys,
    r: &NewRecord,
    record_id: String,
    source_code: &str,
    content_hash: String,
    now: chrono::NaiveDateTime,
) -> VersionRow {
    history_row(
        content_of(r, keys),
        r.version,
        record_id,
        source_code,
        content_hash,
        now,
    )
}

fn history_row(
    mut content: Value,
    version: i64,
    record_id: String,
    source_code: &str,
    content_hash: String,
    now: chrono::NaiveDateTime,
) -> VersionRow {
    content["version"] = Value::from(version);
    content["source_code"] = Value::from(source_code);
    VersionRow {
        record_id,
        version,
        content: canonical_json(&content),
        content_hash,
        recorded_at: now,
    }
}

/// The history content of a removal, and its hash.
pub fn removal_content(
    source_code: &str,
    source_record_id: &str,
    version: i64,
) -> (String, String) {
    let content = canonical_json(&json!({
        "op": "remove",
        "source_code": source_code,
        "source_record_id": source_record_id,
        "version": version,
        "status": "revoked",
        "origin": Origin::Provincial.as_str(),
    }));
    let hash = format!("sha256:{}", hex::encode(Sha256::digest(content.as_bytes())));
    (content, hash)
}

fn rep_id(r: &NewRecord) -> Option<&IdNumber> {
    r.subject
        .legal_rep
        .as_ref()
        .and_then(|p| p.id_number.as_ref())
}

/// The stored row of a record.
pub fn record_row(
    keys: &DataKeys,
    r: &NewRecord,
    id: String,
    source_code: &str,
    subject_id: String,
    content_hash: String,
    now: chrono::NaiveDateTime,
) -> RecordRow {
    RecordRow {
        id,
        source_code: source_code.to_string(),
        source_record_id: r.source_record_id.clone(),
        subject_id,
        kind: r.kind,
        list_code: r.list_code.clone(),
        decision_no: r.decision_no.clone(),
        decision_date: r.decision_date,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
        severity: r.severity,
        penalty_types: canonical_json(&Value::from(
            r.penalty_types
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>(),
        )),
        fine_amount_fen: r.fine_amount.map(|f| f.fen()),
        authority_name: r.authority.name.clone(),
        authority_uscc: r.authority.uscc.clone(),
        legal_rep_name: r.subject.legal_rep.as_ref().map(|p| p.name.clone()),
        legal_rep_id_enc: rep_id(r).map(|i| keys.encrypt(i.expose())),
        legal_rep_id_masked: rep_id(r).map(|i| i.masked()),
        legal_rep_id_hash: rep_id(r).map(|i| keys.lookup_hash(i)),
        sharing_class: r.sharing_class,
        open_class: r.open_class,
        status: r.status,
        version: r.version,
        origin: r.origin,
        checksum_warning: r.subject.checksum_warning,
        under_objection: false,
        details: canonical_json(&Value::Object(r.details.clone())),
        content_hash,
        created_at: now,
        updated_at: now,
    }
}

/// The stored row of a new subject.
pub fn subject_row(
    keys: &DataKeys,
    s: &SubjectData,
    id: String,
    now: chrono::NaiveDateTime,
) -> SubjectRow {
    let (uscc, reg_no, person) = match &s.key {
        SubjectKey::Uscc(u) => (Some(u.as_str().to_string()), None, None),
        SubjectKey::RegNo(r) => (Some(uscc::PLACEHOLDER.to_string()), Some(r.clone()), None),
        SubjectKey::Person(p) => (None, None, Some(p)),
    };
    let rep = s.legal_rep.as_ref().and_then(|p| p.id_number.as_ref());
    SubjectRow {
        id,
        subject_key: s.key.storage_key(&|i| keys.lookup_hash(i)),
        kind: s.kind,
        uscc,
        reg_no,
        id_number_enc: person.map(|p| keys.encrypt(p.expose())),
        id_number_masked: person.map(|p| p.masked()),
        name: s.name.clone(),
        legal_rep_name: s.legal_rep.as_ref().map(|p| p.name.clone()),
        legal_rep_id_enc: rep.map(|i| keys.encrypt(i.expose())),
        legal_rep_id_masked: rep.map(|i| i.masked()),
        legal_rep_id_hash: rep.map(|i| keys.lookup_hash(i)),
        checksum_warning: s.checksum_warning,
        created_at: now,
        updated_at: now,
    }
}

/// The subject as a registering record leaves it: kind, name and checksum mark from the record,
/// the legal representative from the record where it names one. `None` when nothing changes.
fn merged_subject(old: &SubjectRow, new: &SubjectRow) -> Option<SubjectRow> {
    let merged = SubjectRow {
        kind: new.kind,
        name: new.name.clone(),
        legal_rep_name: new.legal_rep_name.clone().or(old.legal_rep_name.clone()),
        // The encrypted value differs on every write (random IV): compare by hash.
        legal_rep_id_enc: new
            .legal_rep_id_enc
            .clone()
            .or(old.legal_rep_id_enc.clone()),
        legal_rep_id_masked: new
            .legal_rep_id_masked
            .clone()
            .or(old.legal_rep_id_masked.clone()),
        legal_rep_id_hash: new
            .legal_rep_id_hash
            .clone()
            .or(old.legal_rep_id_hash.clone()),
        checksum_warning: new.checksum_warning,
        updated_at: new.updated_at,
        ..old.clone()
    };
    let changed = merged.kind != old.kind
        || merged.name != old.name
        || merged.legal_rep_name != old.legal_rep_name
        || merged.legal_rep_id_hash != old.legal_rep_id_hash
        || merged.checksum_warning != old.checksum_warning;
    changed.then_some(merged)
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
