//! Upgrading a database: the schema migrations, then the data steps that need the data key
//! (SQL never sees it), each once and each in one transaction with its mark in
//! `data_migrations`. Every command that opens the database for work goes through [`migrate`].

use diesel::Connection;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::crypto::DataKeys;
use crate::domain::canonical_json;
use crate::store::{self, upgrade as q, DbConn, StoreError};

/// Record ids that carried an ID number get the keyed pseudonym (issue: the 双公示 import made a
/// natural person's id from 决定文书号 and the number, which then sat in the records, their
/// history, the API answers and the sync messages).
pub const PSEUDONYMOUS_RECORD_IDS: &str = "2026-12-06 pseudonymous record ids";

/// Applies the pending schema migrations and data steps; returns what was applied.
///
/// Instances that start together take turns (a PostgreSQL advisory lock): the first upgrades,
/// the others then find nothing pending.
pub fn migrate(
    conn: &mut DbConn,
    keys: &DataKeys,
    at: chrono::NaiveDateTime,
) -> Result<Vec<String>, String> {
    store::with_session_lock(conn, store::MIGRATION_LOCK, |conn| {
        migrate_locked(conn, keys, at)
    })
}

fn migrate_locked(
    conn: &mut DbConn,
    keys: &DataKeys,
    at: chrono::NaiveDateTime,
) -> Result<Vec<String>, String> {
    let mut applied = store::migrate(conn)?;
    let done = q::is_done(conn, PSEUDONYMOUS_RECORD_IDS).map_err(|e| e.to_string())?;
    if !done {
        let step = conn.transaction::<_, StoreError, _>(|conn| {
            let n = pseudonymise_record_ids(conn, keys)?;
            q::mark_done(conn, PSEUDONYMOUS_RECORD_IDS, at)?;
            Ok(n)
        });
        match step {
            Ok(n) => applied.push(format!("{PSEUDONYMOUS_RECORD_IDS} ({n} records)")),
            // Another instance starting at the same moment did it first (its mark won).
            Err(_) if q::is_done(conn, PSEUDONYMOUS_RECORD_IDS).unwrap_or(false) => {}
            Err(e) => return Err(format!("data step '{PSEUDONYMOUS_RECORD_IDS}' failed: {e}")),
        }
    }
    Ok(applied)
}

/// Rewrites every stored record id that holds an ID number, with its version history (content
/// and content hashes, so the same submission again is still `unchanged`) and the sync state's
/// texts. Returns the number of records rewritten.
fn pseudonymise_record_ids(conn: &mut DbConn, keys: &DataKeys) -> Result<usize, StoreError> {
    let mut n = 0;
    for rec in q::records_with_long_digit_runs(conn)? {
        let new_id = keys.pseudonymise(&rec.source_record_id);
        if new_id == rec.source_record_id {
            continue;
        }
        let mut current_hash = None;
        let versions = q::versions_of(conn, &rec.id)?;
        let last = versions.last().map(|v| v.version);
        for v in versions {
            let mut content: Value = serde_json::from_str(&v.content).map_err(|e| {
                StoreError::Corrupt(format!("history of {} v{}: {e}", rec.id, v.version))
            })?;
            if let Some(Value::String(s)) = content.get("source_record_id") {
                content["source_record_id"] = Value::from(keys.pseudonymise(s));
            }
            let hash = version_content_hash(&content);
            if Some(v.version) == last {
                current_hash = Some(hash.clone());
            }
            q::set_version_content(conn, &rec.id, v.version, &canonical_json(&content), &hash)?;
        }
        let hash = current_hash
            .ok_or_else(|| StoreError::Corrupt(format!("record {} has no history", rec.id)))?;
        q::set_record_identity(conn, &rec.id, &new_id, &hash)?;
        n += 1;
    }
    for t in q::sync_texts(conn)? {
        let error = t.last_error.as_deref().map(|s| keys.pseudonymise(s));
        let reject = t.last_reject.as_deref().map(|s| keys.pseudonymise(s));
        if error != t.last_error || reject != t.last_reject {
            q::set_sync_texts(conn, &t.name, error.as_deref(), reject.as_deref())?;
        }
    }
    Ok(n)
}

/// The content hash of a stored history entry, as the write paths make it: a removal's entry is
/// hashed whole (`ingest::write::removal_content`); a version's entry is the record's content with
/// `version` and `source_code` added, and the hash covers the content without them
/// (`ingest::content_hash`, `ingest::version_row`).
fn version_content_hash(content: &Value) -> String {
    let hashed = if content.get("op").and_then(Value::as_str) == Some("remove") {
        content.clone()
    } else {
        let mut c = content.clone();
        if let Some(m) = c.as_object_mut() {
            m.remove("version");
            m.remove("source_code");
        }
        c
    };
    let digest = Sha256::digest(canonical_json(&hashed).as_bytes());
    format!("sha256:{}", hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Caller, Role};
    use crate::service::ingest::{self, Submitter};

    /// The history's hash rule here is the write path's: a version row's stored hash is what
    /// this function computes from its content.
    #[test]
    fn version_hash_is_the_write_paths_hash() {
        let keys = DataKeys::parse(&"11".repeat(32)).unwrap();
        let item = serde_json::json!({
            "source_record_id": "FY-1|110101199003070011", "kind": "list_entry",
            "list_code": "court.dishonest_debtor",
            "subject": {"kind": "natural_person", "name": "张三", "id_number": "110101199003070011"},
            "decision_date": "2026-02-01", "sharing_class": "unconditional", "version": 3
        });
        let submitter = Submitter {
            caller: Caller {
                key_id: "k".into(),
                org_code: "FY".into(),
                role: Role::Provider,
            },
        };
        let (r, source) = ingest::parse_item(item, &submitter, &keys, &|_| true).unwrap();
        assert!(r.source_record_id.starts_with("FY-1|pid-"));
        let hash = ingest::content_hash(&r, &keys);
        let row = ingest::version_row(
            &keys,
            &r,
            "rec_1".into(),
            &source,
            hash.clone(),
            chrono::NaiveDateTime::default(),
        );
        let content: Value = serde_json::from_str(&row.content).unwrap();
        assert_eq!(version_content_hash(&content), hash);
    }

    /// A removal's history entry is hashed whole, as the sync wrote it.
    #[test]
    fn removal_hash_is_the_syncs_hash() {
        let change = crate::sync::protocol::Change {
            cursor: "c_1".into(),
            op: "remove".into(),
            source_code: "PROV-FY".into(),
            source_record_id: "FY-1|pid-abcdefghijklmnopabcd".into(),
            version: 2,
            record: None,
        };
        let (content, hash) = crate::service::ingest::write::removal_content(
            &change.source_code,
            &change.source_record_id,
            change.version,
        );
        let content: Value = serde_json::from_str(&content).unwrap();
        assert_eq!(version_content_hash(&content), hash);
    }
}
