//! As-known-at replay (API.md "Impact analysis and replay"; the tender rule 评审时查询结果为准):
//! a check evaluated with what had been received by a past time and the rule set active then.
//!
//! Every record version is kept with the time it was received, approved repairs with the time
//! of their decision, and every rule set by digest with its activations (`rule_history`). A
//! replay reads those, never the records' current rows, so records received, corrected,
//! revoked or repaired later do not change it; `later_changes` names the later changes to the
//! records it used.

use super::*;
use crate::domain::{Origin, RecordKind, RecordStatus, Severity};
use crate::store::known_at::{self, KnownVersion};
use crate::store::subjects::SubjectRow;
use chrono::{DateTime, NaiveDateTime, Utc};

/// `as_known_at` read: an RFC 3339 time, not after now. Stored as UTC to the microsecond, as
/// the receipt times it is compared with are.
pub(super) fn parse_known_at(
    s: &str,
    now: DateTime<Utc>,
) -> Result<NaiveDateTime, Vec<FieldError>> {
    let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) else {
        return Err(vec![invalid(
            "as_known_at",
            "invalid_time",
            format!("'{s}' is not an RFC 3339 time; write e.g. 2026-11-24T10:00:00+08:00"),
        )]);
    };
    let t = t.with_timezone(&Utc);
    if t > now {
        return Err(vec![invalid(
            "as_known_at",
            "future_time",
            format!(
                "as_known_at {} is after now ({}): a replay looks at the past; leave it out to check with what is known now",
                t.to_rfc3339_opts(SecondsFormat::Secs, true),
                now.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
        )]);
    }
    let t = t.naive_utc();
    Ok(chrono::DurationRound::duration_trunc(t, chrono::TimeDelta::microseconds(1)).unwrap_or(t))
}

/// The rule set that was active at `at` (the last activation at or before it), built from its
/// kept files; the active set itself when it is the same digest.
pub(super) async fn rule_set_at(ctx: &Ctx, at: NaiveDateTime) -> ServiceResult<Arc<RuleSet>> {
    let (activation, first) = ctx
        .db
        .run(move |conn| {
            let active = crate::store::rule_history::active_at(conn, at)?;
            let first = match &active {
                Some(_) => None,
                None => crate::store::rule_history::all(conn)?
                    .into_iter()
                    .next()
                    .map(|(r, _)| r.activated_at),
            };
            Ok((active, first))
        })
        .await?;
    let Some(activation) = activation else {
        let since = first.map_or("no rule set has been activated yet".to_string(), |f| {
            format!("the rule history begins at {}", crate::service::rfc3339(f))
        });
        return Err(ServiceError::Invalid(vec![invalid(
            "as_known_at",
            "before_history",
            format!("no rule set was active at that time: {since}; replay a later time"),
        )]));
    };
    crate::service::rules::kept(ctx, &activation.digest)
        .await
        .map_err(|e| match e {
            // Its files are not kept, or no longer load under this version's loader: said to
            // the caller (a replay of another time may work), and logged for the operator.
            ServiceError::Internal(why) => {
                tracing::warn!(digest = %activation.digest, error = %why, "a past rule set cannot be built for a replay");
                ServiceError::Invalid(vec![invalid(
                    "as_known_at",
                    "rule_set_unavailable",
                    format!(
                        "the rule set active at that time ({}) cannot be loaded by this version of the service; replay another time, or ask the operator",
                        activation.digest
                    ),
                )])
            }
            other => other,
        })
}

/// The warning every replay report carries: what it is, and what it is not.
pub(super) fn warning(at: NaiveDateTime, set: &RuleSet) -> String {
    format!(
        "本报告为按时点重现的核查：依据 {} 前已接收的信用记录及当时生效的规则集（版本 {}）作出；此后接收、更正、撤销或修复的记录不影响本报告，其后续变化见 later_changes",
        crate::service::rfc3339(at),
        set.version
    )
}

/// The facts of a plan as the database knew them at `at`: the subject's records, its legal
/// representative as the records then registered it, and the related persons' records, each
/// record in its last version received by then; repairs decided and objections open then.
pub(super) fn gather(
    conn: &mut crate::store::DbConn,
    set: &RuleSet,
    keys: &crate::crypto::DataKeys,
    registration: &[String],
    plan: &Plan,
    at: NaiveDateTime,
) -> Result<Gathered, StoreError> {
    let key = plan.key.storage_key(&|i| keys.lookup_hash(i));
    let held = held_at(conn, &key, at)?;
    let held = match held {
        Some(subject) => {
            let versions = known_at::versions_of_subject(conn, &subject.id, &key, at)?;
            let subject = subject_then(subject, &versions, registration);
            Some((subject, rows_then(&versions, &key)?))
        }
        None => None,
    };
    let persons = persons_of(plan, keys, held.as_ref().map(|(s, _)| s));
    let hashes: Vec<String> = persons
        .iter()
        .filter_map(|p| p.2.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut own: BTreeMap<String, Vec<RecordRow>> = BTreeMap::new();
    for hash in &hashes {
        let pid = format!("pid:{hash}");
        if let Some(person) = held_at(conn, &pid, at)? {
            let versions = known_at::versions_of_subject(conn, &person.id, &pid, at)?;
            own.insert(hash.clone(), rows_then(&versions, &pid)?);
        }
    }
    let mut named: BTreeMap<String, Vec<(RecordRow, String)>> = BTreeMap::new();
    let naming = known_at::versions_naming(conn, &hashes, at)?;
    for (row, content) in last_versions(&naming)? {
        let Some(hash) = row.legal_rep_id_hash.clone() else {
            continue;
        };
        if hashes.contains(&hash) {
            let subject_name = content["subject"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            named.entry(hash).or_default().push((row, subject_name));
        }
    }
    let ids: Vec<String> = held
        .iter()
        .flat_map(|(_, rows)| rows.iter().map(|r| r.id.clone()))
        .chain(own.values().flatten().map(|r| r.id.clone()))
        .chain(named.values().flatten().map(|(r, _)| r.id.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let repaired = known_at::repaired_by(conn, &ids, at)?;
    let objected = known_at::objected_at(conn, &ids, at)?;
    let mark = |r: &mut RecordRow| r.under_objection = objected.contains(&r.id);
    let held = held.map(|(s, mut rows)| {
        rows.iter_mut().for_each(mark);
        (s, rows)
    });
    own.values_mut().flatten().for_each(mark);
    named.values_mut().flatten().for_each(|(r, _)| mark(r));
    let own_of = |hash: &str| own.get(hash).map(Vec::as_slice).unwrap_or_default();
    let named_of = |hash: &str| named.get(hash).map(Vec::as_slice).unwrap_or_default();
    let held = held.as_ref().map(|(s, rows)| (s, rows.as_slice()));
    assemble(set, plan, held, &persons, &own_of, &named_of, &repaired)
}

/// The subject held under `key`, if it was already held at `at`.
fn held_at(
    conn: &mut crate::store::DbConn,
    key: &str,
    at: NaiveDateTime,
) -> Result<Option<SubjectRow>, StoreError> {
    Ok(records::of_subject_keys(conn, &[key.to_string()])?
        .remove(key)
        .map(|(s, _)| s)
        .filter(|s| s.created_at <= at))
}

/// The subject as the versions received by then left it, after the rules of ingestion
/// (`ingest::write::subject_for`, `ingest::rows::merged_subject`): created by the first record
/// received about it (its name; its legal representative only from a registering source),
/// then each record from a registering source (`ingest::write::registers_subjects`, with
/// today's registration sources) sets the name, and the legal representative's name, masked
/// number and hash each where it gives one, in the order received. Versions about another
/// subject (a record corrected to another code) are passed over. Kind, code and checksum mark
/// are the stored row's.
fn subject_then(
    mut s: SubjectRow,
    versions: &[KnownVersion],
    registration: &[String],
) -> SubjectRow {
    let mut ordered: Vec<&KnownVersion> = versions.iter().collect();
    ordered.sort_by(|a, b| {
        (a.recorded_at, &a.record_id, a.version).cmp(&(b.recorded_at, &b.record_id, b.version))
    });
    let mut then: Option<(String, [Option<String>; 3])> = None;
    for v in ordered {
        let Ok(content) = serde_json::from_str::<Value>(&v.content) else {
            continue;
        };
        let subject = &content["subject"];
        if content.get("op").is_some() || subject["key"].as_str() != Some(s.subject_key.as_str()) {
            continue;
        }
        let origin = content["origin"]
            .as_str()
            .and_then(Origin::parse)
            .unwrap_or(Origin::Local);
        let registers =
            crate::service::ingest::write::registers_subjects(registration, &v.source_code, origin);
        let lr = &subject["legal_rep"];
        let given = |f: &str| {
            if registers {
                lr[f].as_str().map(String::from)
            } else {
                None
            }
        };
        let rep = [given("name"), given("id_number"), given("id_key")];
        let name = subject["name"].as_str().unwrap_or_default().to_string();
        then = match then {
            None => Some((name, rep)),
            Some((_, [n, m, h])) if registers => {
                let [rn, rm, rh] = rep;
                Some((name, [rn.or(n), rm.or(m), rh.or(h)]))
            }
            kept => kept,
        };
    }
    if let Some((name, [rep_name, masked, hash])) = then {
        if !name.is_empty() {
            s.name = name;
        }
        s.legal_rep_name = rep_name;
        s.legal_rep_id_masked = masked;
        s.legal_rep_id_hash = hash;
        s.legal_rep_id_enc = None;
    }
    s
}

/// Each record's last version among these, as a row, when that version is about the subject
/// `key` (a record removed by then, or corrected to another subject, is left out: a revoked
/// record has no effect on a check).
fn rows_then(versions: &[KnownVersion], key: &str) -> Result<Vec<RecordRow>, StoreError> {
    Ok(last_versions(versions)?
        .into_iter()
        .filter(|(_, c)| c["subject"]["key"].as_str() == Some(key))
        .map(|(r, _)| r)
        .collect())
}

/// Each record's last version among these, as a row and its content, in record id order.
fn last_versions(versions: &[KnownVersion]) -> Result<Vec<(RecordRow, Value)>, StoreError> {
    let mut last: BTreeMap<&str, &KnownVersion> = BTreeMap::new();
    for v in versions {
        let e = last.entry(v.record_id.as_str()).or_insert(v);
        if v.version > e.version {
            *e = v;
        }
    }
    let mut out = Vec::with_capacity(last.len());
    for v in last.into_values() {
        if let Some(row) = row_of(v)? {
            out.push(row);
        }
    }
    Ok(out)
}

/// A received version as the record's row then; `None` for a removal.
pub(super) fn row_of(v: &KnownVersion) -> Result<Option<(RecordRow, Value)>, StoreError> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(format!(
            "version {} of record {}: {what}",
            v.version, v.record_id
        ))
    };
    let c: Value = serde_json::from_str(&v.content).map_err(|_| corrupt("not JSON"))?;
    if c.get("op").and_then(Value::as_str) == Some("remove") {
        return Ok(None);
    }
    let text = |f: &str| c[f].as_str().map(String::from);
    let date = |f: &str| -> Result<Option<NaiveDate>, StoreError> {
        match c[f].as_str() {
            None => Ok(None),
            Some(s) => crate::domain::iso_date(s)
                .map(Some)
                .ok_or_else(|| corrupt(f)),
        }
    };
    fn parsed<T>(v: &Value, parse: fn(&str) -> Option<T>) -> Option<T> {
        v.as_str().and_then(parse)
    }
    let fine = match c["fine_amount"].as_str() {
        None => None,
        Some(s) => Some(Yuan::parse(s).map_err(|_| corrupt("fine_amount"))?.fen()),
    };
    let lr = &c["subject"]["legal_rep"];
    let row = RecordRow {
        id: v.record_id.clone(),
        source_code: v.source_code.clone(),
        source_record_id: v.source_record_id.clone(),
        subject_id: v.subject_id.clone(),
        kind: parsed(&c["kind"], RecordKind::parse).ok_or_else(|| corrupt("kind"))?,
        list_code: text("list_code"),
        decision_no: text("decision_no"),
        decision_date: date("decision_date")?,
        valid_from: date("valid_from")?,
        valid_to: date("valid_to")?,
        severity: parsed(&c["severity"], Severity::parse),
        penalty_types: canonical_json(&c["penalty_types"]),
        fine_amount_fen: fine,
        authority_name: c["authority"]["name"].as_str().map(String::from),
        authority_uscc: c["authority"]["uscc"].as_str().map(String::from),
        legal_rep_name: lr["name"].as_str().map(String::from),
        legal_rep_id_enc: None,
        legal_rep_id_masked: lr["id_number"].as_str().map(String::from),
        legal_rep_id_hash: lr["id_key"].as_str().map(String::from),
        sharing_class: parsed(&c["sharing_class"], SharingClass::parse)
            .ok_or_else(|| corrupt("sharing_class"))?,
        open_class: parsed(&c["open_class"], OpenClass::parse)
            .ok_or_else(|| corrupt("open_class"))?,
        status: parsed(&c["status"], RecordStatus::parse).ok_or_else(|| corrupt("status"))?,
        version: v.version,
        origin: parsed(&c["origin"], Origin::parse).ok_or_else(|| corrupt("origin"))?,
        checksum_warning: false,
        under_objection: false,
        details: canonical_json(&c["details"]),
        content_hash: String::new(),
        created_at: v.recorded_at,
        updated_at: v.recorded_at,
    };
    Ok(Some((row, c)))
}
