//! The stored forms of a record version, as the one write path (`write`) keeps them: its
//! canonical content and hash, its history row, the record's row and its subject's row (ID
//! numbers encrypted, masked and keyed-hashed), and a registering record's merge into a stored
//! subject.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::crypto::DataKeys;
use crate::domain::*;
use crate::store::records::{RecordRow, VersionRow};
use crate::store::subjects::SubjectRow;

/// The content hash of a record: SHA-256 of its canonical content without version.
pub fn content_hash(record: &NewRecord, keys: &DataKeys) -> String {
    hash_of(&content_of(record, keys))
}

pub(super) fn content_of(record: &NewRecord, keys: &DataKeys) -> Value {
    record.content(&|i| keys.lookup_hash(i))
}

pub(super) fn hash_of(content: &Value) -> String {
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

pub(super) fn history_row(
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
pub(super) fn merged_subject(old: &SubjectRow, new: &SubjectRow) -> Option<SubjectRow> {
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
