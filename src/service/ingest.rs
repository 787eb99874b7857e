//! Ingestion: one path for the API batch, the bulk import and the demo data.
//!
//! Each item is validated on its own and written in its own savepoint, so a bad item never blocks
//! the others and no item is half written. (source code, source record id) identifies a record
//! (一数一源, the governing measures Art. 5(1), 12): the same content again is `unchanged`, a
//! higher version replaces it (the earlier versions are kept), a lower or equal version with
//! other content is `stale_version`.

use std::collections::BTreeSet;

use diesel::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use validator::Validate;

use super::{Ctx, ServiceError, ServiceResult};
use crate::crypto::DataKeys;
use crate::domain::record::{check_record_shape, parse_date, parse_enum, Errors};
use crate::domain::*;
use crate::store::{self, records, subjects, DbConn, StoreError};

/// The highest record version: versions count a record's changes, and the bound keeps every
/// sum and comparison of them far from overflow (`i64::MAX + 1` was a crash).
pub const MAX_VERSION: i64 = i32::MAX as i64;

/// One record as a provider submits it (API.md "Records").
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    /// The provider's own id of the record; with the provider's source code it identifies the record.
    #[validate(length(min = 1, max = 128))]
    #[schema(example = "SCJG-CF-2026-000123")]
    pub source_record_id: Option<String>,
    /// Admins only: the source code to file the record under (default: the key's organisation).
    #[validate(length(min = 1, max = 64))]
    pub source_code: Option<String>,
    /// `license`, `penalty`, `list_entry`, `red_list` or `commitment`.
    #[schema(example = "penalty")]
    pub kind: Option<String>,
    /// Required for `list_entry` and `red_list`: a list code of the rule catalog.
    #[validate(length(min = 1, max = 64))]
    pub list_code: Option<String>,
    /// Whom the record is about.
    #[validate(nested)]
    pub subject: Option<SubjectInput>,
    /// Decision document number (决定文书号).
    #[validate(length(min = 1, max = 128))]
    pub decision_no: Option<String>,
    /// Decision date, `YYYY-MM-DD`.
    #[schema(example = "2026-03-01")]
    pub decision_date: Option<String>,
    /// First day in force, `YYYY-MM-DD`.
    pub valid_from: Option<String>,
    /// Last day in force, `YYYY-MM-DD`; absent: until removed.
    pub valid_to: Option<String>,
    /// Penalties: `minor`, `general` or `serious`.
    pub severity: Option<String>,
    /// Penalties: the 行政处罚法 Art. 9 categories, such as `fine`, `licence_revoked`.
    pub penalty_types: Option<Vec<String>>,
    /// Fine in yuan: a decimal string with at most 2 decimals (`"2500000.00"`) or a JSON number.
    #[schema(value_type = Option<String>, example = "2500000.00")]
    pub fine_amount: Option<Value>,
    /// The deciding authority.
    #[validate(nested)]
    pub authority: Option<AuthorityInput>,
    /// `unconditional`, `conditional` or `special` (无条件 / 有条件 / 特殊共享).
    pub sharing_class: Option<String>,
    /// `open`, `on_request` or `closed`; default `closed`.
    pub open_class: Option<String>,
    /// `active` (default) or `revoked`.
    pub status: Option<String>,
    /// Version of this record at the provider, from 1 (default 1).
    pub version: Option<i64>,
    /// Admins only: `provincial` for records relayed from the provincial platform, whose codes
    /// are accepted with a checksum warning when they fail the check (pilot-era codes).
    pub origin: Option<String>,
    /// Further 双公示 fields as submitted (`CF_WFXW`, `CF_SY`, `CF_YJ`, …).
    #[schema(value_type = Option<Object>)]
    pub details: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectInput {
    /// Unified social credit code; `00000000000000000X` only together with `reg_no`.
    #[schema(example = "91110000MA00000152")]
    pub uscc: Option<String>,
    /// 工商注册号, for an entity without a code.
    #[validate(length(min = 1, max = 64))]
    pub reg_no: Option<String>,
    /// Citizen ID number, for a natural person instead of `uscc`.
    pub id_number: Option<String>,
    /// Name of the entity or person.
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "北京示例科技有限公司")]
    pub name: Option<String>,
    /// `legal_person`, `other_org`, `individual_business` or `natural_person`.
    pub kind: Option<String>,
    /// The legal representative (法定代表人).
    #[validate(nested)]
    pub legal_rep: Option<PersonInput>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    #[validate(length(min = 1, max = 100))]
    pub name: Option<String>,
    /// Citizen ID number (GB 11643).
    pub id_number: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorityInput {
    #[validate(length(min = 1, max = 200))]
    pub name: Option<String>,
    pub uscc: Option<String>,
}

/// The result of one item, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Created,
    Updated,
    Unchanged,
    Rejected,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemResult {
    pub index: usize,
    pub status: ItemStatus,
    /// The record's id (absent when rejected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why the item was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::FieldErrorDoc>>)]
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchResult {
    pub summary: Summary,
    pub results: Vec<ItemResult>,
}

/// Who submits and under which rules.
#[derive(Debug, Clone)]
pub struct Submitter {
    pub caller: Caller,
}

fn opt_trim(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Flattens validator's nested errors into our field paths.
fn validator_errors(prefix: &str, errs: &validator::ValidationErrors, out: &mut Vec<FieldError>) {
    use validator::ValidationErrorsKind as K;
    for (field, kind) in errs.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            K::Field(list) => {
                for e in list {
                    let message = match (e.code.as_ref(), e.params.get("min"), e.params.get("max"))
                    {
                        ("length", min, max) => format!(
                            "length must be between {} and {} characters",
                            min.map(|v| v.to_string()).unwrap_or_else(|| "0".into()),
                            max.map(|v| v.to_string()).unwrap_or_else(|| "any".into())
                        ),
                        (code, _, _) => format!("failed the {code} check"),
                    };
                    out.push(FieldError::new(path.clone(), e.code.to_string(), message));
                }
            }
            K::Struct(inner) => validator_errors(&path, inner, out),
            K::List(map) => {
                for (i, inner) in map {
                    validator_errors(&format!("{path}[{i}]"), inner, out);
                }
            }
        }
    }
}

/// Turns a JSON item into a validated record, or the list of everything wrong with it.
///
/// Every write path (batch API, 双公示 import, provincial sync, demo, `gen`) comes through here,
/// so this is where an ID number inside `source_record_id` is replaced by its keyed pseudonym
/// ([`DataKeys::pseudonymise`]): the 双公示 import makes natural persons' ids from 决定文书号 and
/// the ID number, and a provider may do the same. Nothing after this point sees the number.
pub fn parse_item(
    item: Value,
    submitter: &Submitter,
    keys: &DataKeys,
    known_list: &dyn Fn(&str) -> bool,
) -> Result<(NewRecord, String), Vec<FieldError>> {
    let input: RecordInput = match serde_path_to_error::deserialize(item) {
        Ok(i) => i,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let (code, message) = if inner.starts_with("unknown field") {
                ("unknown_field", inner)
            } else {
                ("invalid_type", inner)
            };
            let field = if path == "." { String::new() } else { path };
            return Err(vec![FieldError::new(field, code, message)]);
        }
    };
    let (mut record, source_code) = input.into_record(submitter, known_list)?;
    record.source_record_id = keys.pseudonymise(&record.source_record_id);
    mask_free_text(&mut record);
    Ok((record, source_code))
}

/// The free text of a record (names, the document number, the 双公示 details) keeps an ID
/// number written into it masked only: the person is named by the subject's encrypted number,
/// and text is shown, cached, pushed and kept in the history as it is stored.
fn mask_free_text(r: &mut NewRecord) {
    fn mask(s: &mut String) {
        if let std::borrow::Cow::Owned(m) = crate::domain::id_number::mask_id_numbers(s) {
            *s = m;
        }
    }
    fn mask_value(v: &mut Value) {
        match v {
            Value::String(s) => mask(s),
            Value::Array(a) => a.iter_mut().for_each(mask_value),
            Value::Object(m) => {
                let entries = std::mem::take(m);
                for (mut k, mut v) in entries {
                    mask(&mut k);
                    mask_value(&mut v);
                    m.insert(k, v);
                }
            }
            // A number of 18 digits is too long for an exact JSON number; as text it is caught.
            _ => {}
        }
    }
    mask(&mut r.subject.name);
    if let Some(p) = &mut r.subject.legal_rep {
        mask(&mut p.name);
    }
    for s in [&mut r.decision_no, &mut r.authority.name]
        .into_iter()
        .flatten()
    {
        mask(s);
    }
    r.details.values_mut().for_each(mask_value);
    let keys: Vec<String> = r.details.keys().cloned().collect();
    for k in keys {
        let masked = crate::domain::id_number::mask_id_numbers(&k).into_owned();
        if masked != k {
            if let Some(v) = r.details.remove(&k) {
                r.details.insert(masked, v);
            }
        }
    }
}

impl RecordInput {
    /// Validates the input; returns the record and the source code it is filed under.
    pub fn into_record(
        self,
        submitter: &Submitter,
        known_list: &dyn Fn(&str) -> bool,
    ) -> Result<(NewRecord, String), Vec<FieldError>> {
        let mut errors = Errors::default();
        if let Err(e) = self.validate() {
            validator_errors("", &e, &mut errors.0);
        }
        let caller = &submitter.caller;
        let is_admin = caller.role == Role::Admin;

        let source_code = match opt_trim(&self.source_code) {
            Some(code) if is_admin => code,
            Some(code) if code == caller.org_code => code,
            Some(code) => {
                errors.push(
                    "source_code",
                    "source_code_forbidden",
                    format!(
                        "a provider submits only under its own source code ({}), not {code}",
                        caller.org_code
                    ),
                );
                code
            }
            None => caller.org_code.clone(),
        };
        let origin = match opt_trim(&self.origin).as_deref() {
            None => Origin::Local,
            Some(o) => {
                match Origin::parse(o) {
                    Some(Origin::Provincial) if !is_admin => {
                        errors.push("origin", "origin_forbidden", "only admins (and the provincial sync) file records with origin provincial");
                        Origin::Local
                    }
                    Some(v) => v,
                    None => {
                        errors.push(
                            "origin",
                            "unknown_value",
                            format!("'{o}' is not one of: {}", Origin::allowed()),
                        );
                        Origin::Local
                    }
                }
            }
        };
        let lenient = origin == Origin::Provincial;

        let source_record_id = opt_trim(&self.source_record_id);
        if source_record_id.is_none() {
            errors.required("source_record_id", "(the provider's own id of the record)");
        }
        let kind = parse_enum(
            &mut errors,
            "kind",
            self.kind.as_deref(),
            RecordKind::parse,
            RecordKind::allowed,
        );
        if self.kind.is_none() {
            errors.push(
                "kind",
                "required",
                format!("kind is required, one of: {}", RecordKind::allowed()),
            );
        }
        let subject = match &self.subject {
            None => {
                errors.required("subject", "(whom the record is about)");
                None
            }
            Some(s) => parse_subject(s, lenient, &mut errors),
        };
        let decision_date = parse_date(&mut errors, "decision_date", self.decision_date.as_deref());
        let valid_from = parse_date(&mut errors, "valid_from", self.valid_from.as_deref());
        let valid_to = parse_date(&mut errors, "valid_to", self.valid_to.as_deref());
        let severity = parse_enum(
            &mut errors,
            "severity",
            self.severity.as_deref(),
            Severity::parse,
            Severity::allowed,
        );
        let mut penalty_types = Vec::new();
        for (i, p) in self.penalty_types.iter().flatten().enumerate() {
            if let Some(t) = parse_enum(
                &mut errors,
                &format!("penalty_types[{i}]"),
                Some(p),
                PenaltyType::parse,
                PenaltyType::allowed,
            ) {
                if !penalty_types.contains(&t) {
                    penalty_types.push(t);
                }
            }
        }
        penalty_types.sort();
        let fine_amount = match &self.fine_amount {
            None | Some(Value::Null) => None,
            Some(v) => {
                let text = match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                match text.map(|t| Yuan::parse(&t)) {
                    Some(Ok(y)) => Some(y),
                    Some(Err(e)) => {
                        errors.push("fine_amount", "invalid_amount", e.to_string());
                        None
                    }
                    None => {
                        errors.push(
                            "fine_amount",
                            "invalid_amount",
                            "write the amount as a string such as \"2500000.00\" or a number",
                        );
                        None
                    }
                }
            }
        };
        let authority = match &self.authority {
            None => Authority::default(),
            Some(a) => {
                let uscc = opt_trim(&a.uscc);
                if let Some(u) = &uscc {
                    if let Err(e) = Uscc::parse(u) {
                        errors.push("authority.uscc", e.code(), e.to_string());
                    }
                }
                Authority {
                    name: opt_trim(&a.name),
                    uscc: uscc.map(|u| u.to_uppercase()),
                }
            }
        };
        let sharing_class = parse_enum(
            &mut errors,
            "sharing_class",
            self.sharing_class.as_deref(),
            SharingClass::parse,
            SharingClass::allowed,
        );
        if self.sharing_class.is_none() {
            errors.push(
                "sharing_class",
                "required",
                format!(
                    "sharing_class is required, one of: {}",
                    SharingClass::allowed()
                ),
            );
        }
        let open_class = match self.open_class.as_deref() {
            None => Some(OpenClass::Closed),
            v => parse_enum(
                &mut errors,
                "open_class",
                v,
                OpenClass::parse,
                OpenClass::allowed,
            ),
        };
        let status = match self.status.as_deref() {
            None => Some(RecordStatus::Active),
            v => parse_enum(
                &mut errors,
                "status",
                v,
                RecordStatus::parse,
                RecordStatus::allowed,
            ),
        };
        let list_code = opt_trim(&self.list_code);
        let version = self.version.unwrap_or(1);
        if !(1..=MAX_VERSION).contains(&version) {
            errors.push(
                "version",
                "out_of_range",
                format!("version is a whole number from 1 to {MAX_VERSION}, found {version}"),
            );
        }

        let (
            Some(source_record_id),
            Some(kind),
            Some(subject),
            Some(sharing_class),
            Some(open_class),
            Some(status),
        ) = (
            source_record_id,
            kind,
            subject,
            sharing_class,
            open_class,
            status,
        )
        else {
            return Err(errors.0);
        };
        let record = NewRecord {
            source_record_id,
            kind,
            list_code,
            subject,
            decision_no: opt_trim(&self.decision_no),
            decision_date,
            valid_from: valid_from.or(
                if matches!(kind, RecordKind::ListEntry | RecordKind::RedList) {
                    decision_date
                } else {
                    None
                },
            ),
            valid_to,
            severity,
            penalty_types,
            fine_amount,
            authority,
            sharing_class,
            open_class,
            status,
            version,
            origin,
            details: self.details.unwrap_or_default(),
        };
        check_record_shape(&record, known_list, &mut errors);
        if errors.is_empty() {
            Ok((record, source_code))
        } else {
            Err(errors.0)
        }
    }
}

fn parse_subject(s: &SubjectInput, lenient: bool, errors: &mut Errors) -> Option<SubjectData> {
    let kind = match s.kind.as_deref() {
        None => {
            errors.push(
                "subject.kind",
                "required",
                format!(
                    "subject.kind is required, one of: {}",
                    SubjectKind::allowed()
                ),
            );
            None
        }
        v => parse_enum(
            errors,
            "subject.kind",
            v,
            SubjectKind::parse,
            SubjectKind::allowed,
        ),
    };
    let name = opt_trim(&s.name);
    if name.is_none() {
        errors.required("subject.name", "(the entity's or person's name)");
    }
    let reg_no = opt_trim(&s.reg_no);
    let mut checksum_warning = false;
    let key = match kind {
        Some(SubjectKind::NaturalPerson) => {
            if s.uscc.is_some() {
                errors.push(
                    "subject.uscc",
                    "not_allowed",
                    "a natural person is identified by id_number, not uscc",
                );
            }
            match opt_trim(&s.id_number) {
                None => {
                    errors.required("subject.id_number", "for a natural person");
                    None
                }
                Some(raw) => match IdNumber::parse(&raw) {
                    Ok(id) => Some(SubjectKey::Person(id)),
                    Err(e) => {
                        errors.push("subject.id_number", e.code(), e.to_string());
                        None
                    }
                },
            }
        }
        Some(_) => match opt_trim(&s.uscc) {
            None => {
                errors.required(
                    "subject.uscc",
                    "for an entity (use 00000000000000000X with reg_no if it has no code)",
                );
                None
            }
            Some(raw) => {
                let parsed = if lenient {
                    Uscc::parse_upstream(&raw)
                } else {
                    Uscc::parse_with_reg_no(&raw, reg_no.as_deref())
                };
                match parsed {
                    Ok(u) if u.is_placeholder() => match &reg_no {
                        Some(r) => Some(SubjectKey::RegNo(r.clone())),
                        None => {
                            let e = UsccError::PlaceholderWithoutRegNo;
                            errors.push("subject.uscc", e.code(), e.to_string());
                            None
                        }
                    },
                    Ok(u) => {
                        checksum_warning = u.checksum_warning();
                        Some(SubjectKey::Uscc(u))
                    }
                    Err(e) => {
                        errors.push("subject.uscc", e.code(), e.to_string());
                        None
                    }
                }
            }
        },
        None => None,
    };
    let legal_rep = match &s.legal_rep {
        None => None,
        Some(p) => {
            let id_number = match opt_trim(&p.id_number) {
                None => None,
                Some(raw) => match IdNumber::parse(&raw) {
                    Ok(id) => Some(id),
                    Err(e) => {
                        errors.push("subject.legal_rep.id_number", e.code(), e.to_string());
                        None
                    }
                },
            };
            match opt_trim(&p.name) {
                Some(name) => Some(Person { name, id_number }),
                None => {
                    errors.required("subject.legal_rep.name", "when legal_rep is given");
                    None
                }
            }
        }
    };
    Some(SubjectData {
        key: key?,
        kind: kind?,
        name: name?,
        legal_rep,
        checksum_warning,
    })
}

/// What happened to one stored item.
enum Stored {
    Created(String),
    Updated(String),
    Unchanged(String),
    Stale { stored_version: i64 },
}

pub fn content_hash(record: &NewRecord, keys: &DataKeys) -> String {
    let digest =
        Sha256::digest(canonical_json(&record.content(&|i| keys.lookup_hash(i))).as_bytes());
    format!("sha256:{}", hex::encode(digest))
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

/// Whether a record filed under `source_code` with `origin` sets its subject's name, kind and
/// legal representative (一数一源): the registration authorities' records (`registration`, from
/// `CREDITGATE_REGISTRATION_SOURCES`) and those pulled from the provincial platform.
pub fn registers_subjects(registration: &[String], source_code: &str, origin: Origin) -> bool {
    origin == Origin::Provincial || registration.iter().any(|s| s == source_code)
}

/// Finds or creates the subject. A record of the registration authority (`registers`) sets the
/// subject's kind, name and legal representative; anyone else's record finds the subject as it
/// is, or makes it with the kind and name given and no legal representative, so that no other
/// department can rename a subject or name its legal representative (一数一源).
fn upsert_subject(
    conn: &mut DbConn,
    keys: &DataKeys,
    s: &SubjectData,
    registers: bool,
    now: chrono::NaiveDateTime,
) -> Result<String, StoreError> {
    let mut new = subject_row(keys, s, new_id("sub"), now);
    if !registers {
        new.legal_rep_name = None;
        new.legal_rep_id_enc = None;
        new.legal_rep_id_masked = None;
        new.legal_rep_id_hash = None;
    }
    match subjects::find_by_key(conn, &new.subject_key)? {
        Some(row) if !registers => Ok(row.id),
        Some(row) => {
            let changes = subjects::SubjectChanges {
                kind: new.kind,
                name: new.name,
                legal_rep_name: new.legal_rep_name.or(row.legal_rep_name.clone()),
                // The encrypted value differs on every write (random IV): compare by hash.
                legal_rep_id_enc: new
                    .legal_rep_id_enc
                    .clone()
                    .or(row.legal_rep_id_enc.clone()),
                legal_rep_id_masked: new.legal_rep_id_masked.or(row.legal_rep_id_masked.clone()),
                legal_rep_id_hash: new
                    .legal_rep_id_hash
                    .clone()
                    .or(row.legal_rep_id_hash.clone()),
                checksum_warning: new.checksum_warning,
                updated_at: now,
            };
            if changes.kind != row.kind
                || changes.name != row.name
                || changes.legal_rep_name != row.legal_rep_name
                || changes.legal_rep_id_hash != row.legal_rep_id_hash
                || changes.checksum_warning != row.checksum_warning
            {
                subjects::update(conn, &row.id, &changes)?;
            }
            Ok(row.id)
        }
        None => {
            let id = new.id.clone();
            if subjects::insert_if_absent(conn, &new)? {
                Ok(id)
            } else {
                // Another request made the subject between our look-up and insert.
                subjects::find_by_key(conn, &new.subject_key)?
                    .map(|row| row.id)
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("subject {} vanished", new.subject_key))
                    })
            }
        }
    }
}

/// The stored row of a record (the same for the ingest path and the bulk generator).
pub fn record_row(
    keys: &DataKeys,
    r: &NewRecord,
    id: String,
    source_code: &str,
    subject_id: String,
    content_hash: String,
    now: chrono::NaiveDateTime,
) -> records::RecordRow {
    records::RecordRow {
        id,
        source_code: source_code.to_string(),
        source_record_id: r.source_record_id.clone(),
        subject_id,
        kind: r.kind.as_str().to_string(),
        list_code: r.list_code.clone(),
        decision_no: r.decision_no.clone(),
        decision_date: r.decision_date,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
        severity: r.severity.map(|s| s.as_str().to_string()),
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
        sharing_class: r.sharing_class.as_str().to_string(),
        open_class: r.open_class.as_str().to_string(),
        status: r.status.as_str().to_string(),
        version: r.version,
        origin: r.origin.as_str().to_string(),
        checksum_warning: r.subject.checksum_warning,
        under_objection: false,
        details: canonical_json(&Value::Object(r.details.clone())),
        content_hash,
        created_at: now,
        updated_at: now,
    }
}

fn rep_id(r: &NewRecord) -> Option<&IdNumber> {
    r.subject
        .legal_rep
        .as_ref()
        .and_then(|p| p.id_number.as_ref())
}

/// The history row of one version, as submitted (ID numbers as masked form and keyed hash).
pub fn version_row(
    keys: &DataKeys,
    r: &NewRecord,
    record_id: String,
    source_code: &str,
    content_hash: String,
    now: chrono::NaiveDateTime,
) -> records::VersionRow {
    let mut content = r.content(&|i| keys.lookup_hash(i));
    content["version"] = Value::from(r.version);
    content["source_code"] = Value::from(source_code);
    records::VersionRow {
        record_id,
        version: r.version,
        content: canonical_json(&content),
        content_hash,
        recorded_at: now,
    }
}

/// The stored row of a new subject.
pub fn subject_row(
    keys: &DataKeys,
    s: &SubjectData,
    id: String,
    now: chrono::NaiveDateTime,
) -> subjects::SubjectRow {
    let (uscc, reg_no, person) = match &s.key {
        SubjectKey::Uscc(u) => (Some(u.as_str().to_string()), None, None),
        SubjectKey::RegNo(r) => (Some(uscc::PLACEHOLDER.to_string()), Some(r.clone()), None),
        SubjectKey::Person(p) => (None, None, Some(p)),
    };
    let rep = s.legal_rep.as_ref().and_then(|p| p.id_number.as_ref());
    subjects::SubjectRow {
        id,
        subject_key: s.key.storage_key(&|i| keys.lookup_hash(i)),
        kind: s.kind.as_str().to_string(),
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

fn store_item(
    conn: &mut DbConn,
    keys: &DataKeys,
    r: &NewRecord,
    source_code: &str,
    registers: bool,
    now: chrono::NaiveDateTime,
) -> Result<Stored, StoreError> {
    let hash = content_hash(r, keys);
    let existing = records::find_by_source(conn, source_code, &r.source_record_id)?;
    if let Some(old) = &existing {
        if r.version <= old.version {
            return Ok(if old.content_hash == hash {
                Stored::Unchanged(old.id.clone())
            } else {
                Stored::Stale {
                    stored_version: old.version,
                }
            });
        }
    }
    let subject_id = upsert_subject(conn, keys, &r.subject, registers, now)?;
    let (id, outcome) = match existing {
        None => {
            let id = new_id("rec");
            let row = record_row(
                keys,
                r,
                id.clone(),
                source_code,
                subject_id,
                hash.clone(),
                now,
            );
            records::insert(conn, &row)?;
            (id.clone(), Stored::Created(id))
        }
        Some(old) => {
            let row = record_row(
                keys,
                r,
                old.id.clone(),
                source_code,
                subject_id,
                hash.clone(),
                now,
            );
            records::update(conn, &old.id, &records::RecordChanges::from(&row))?;
            (old.id.clone(), Stored::Updated(old.id))
        }
    };
    records::insert_version(conn, &version_row(keys, r, id, source_code, hash, now))?;
    Ok(outcome)
}

/// A validated item ready to store, or its errors.
pub type Parsed = Result<(NewRecord, String), Vec<FieldError>>;

/// Stores already-parsed items: one transaction, one savepoint per item. Returns the results in
/// input order and the cache keys of the subjects that changed.
pub async fn store_batch(
    ctx: &Ctx,
    caller: &Caller,
    parsed: Vec<Parsed>,
) -> ServiceResult<BatchResult> {
    let now = store::now();
    let keys = ctx.keys.clone();
    let caller = caller.clone();
    let registration = ctx.registration_sources.clone();
    let (results, touched) = ctx
        .db
        .run_write(move |conn| {
            let person = |i: &IdNumber| keys.lookup_hash(i);
            conn.transaction::<_, StoreError, _>(|conn| {
                let mut results = Vec::with_capacity(parsed.len());
                let mut touched = BTreeSet::new();
                for (index, item) in parsed.into_iter().enumerate() {
                    let (record, source_code) = match item {
                        Ok(v) => v,
                        Err(errors) => {
                            results.push(ItemResult { index, status: ItemStatus::Rejected, id: None, errors: Some(errors) });
                            continue;
                        }
                    };
                    let registers = registers_subjects(&registration, &source_code, record.origin);
                    let attempt = |conn: &mut DbConn| {
                        conn.transaction::<_, StoreError, _>(|conn| store_item(conn, &keys, &record, &source_code, registers, now))
                    };
                    let mut outcome = attempt(conn);
                    if outcome.as_ref().is_err_and(|e| e.is_unique_violation()) {
                        // A concurrent request created the same record first; the savepoint is
                        // rolled back, and a second attempt finds the stored row.
                        outcome = attempt(conn);
                    }
                    let result = match outcome {
                        Ok(Stored::Created(id)) => {
                            touched.insert(record.subject.key.storage_key(&person));
                            ItemResult { index, status: ItemStatus::Created, id: Some(id), errors: None }
                        }
                        Ok(Stored::Updated(id)) => {
                            touched.insert(record.subject.key.storage_key(&person));
                            ItemResult { index, status: ItemStatus::Updated, id: Some(id), errors: None }
                        }
                        Ok(Stored::Unchanged(id)) => ItemResult { index, status: ItemStatus::Unchanged, id: Some(id), errors: None },
                        Ok(Stored::Stale { stored_version }) => ItemResult {
                            index,
                            status: ItemStatus::Rejected,
                            id: None,
                            errors: Some(vec![FieldError::new(
                                "version",
                                "stale_version",
                                format!(
                                    "version {} is not newer than the stored version {stored_version}, and the content differs; send version {} or higher to replace it",
                                    record.version,
                                    stored_version + 1
                                ),
                            )]),
                        },
                        Err(e) if e.is_unique_violation() => ItemResult {
                            index,
                            status: ItemStatus::Rejected,
                            id: None,
                            errors: Some(vec![FieldError::new(
                                "source_record_id",
                                "concurrent_write",
                                "the same record was being written by another request at the same moment; send it again",
                            )]),
                        },
                        Err(e) => return Err(e),
                    };
                    results.push(result);
                }
                // The submission is logged in its own transaction: no entry without the change.
                let changed: Vec<String> = results
                    .iter()
                    .filter(|r| matches!(r.status, ItemStatus::Created | ItemStatus::Updated))
                    .filter_map(|r| r.id.clone())
                    .collect();
                let count = |s: ItemStatus| results.iter().filter(|r| r.status == s).count();
                super::audit::append(
                    conn,
                    &keys,
                    &caller,
                    &super::audit::Entry {
                        action: "records.submit",
                        records: changed,
                        outcome: "ok",
                        detail: Some(serde_json::json!({
                            "created": count(ItemStatus::Created),
                            "updated": count(ItemStatus::Updated),
                            "unchanged": count(ItemStatus::Unchanged),
                            "rejected": count(ItemStatus::Rejected),
                        })),
                        ..Default::default()
                    },
                )?;
                Ok((results, touched))
            })
        })
        .await?;
    super::query::invalidate_profiles(ctx, &touched).await;
    let mut summary = Summary::default();
    for r in &results {
        match r.status {
            ItemStatus::Created => summary.created += 1,
            ItemStatus::Updated => summary.updated += 1,
            ItemStatus::Unchanged => summary.unchanged += 1,
            ItemStatus::Rejected => summary.rejected += 1,
        }
    }
    Ok(BatchResult { summary, results })
}

/// The API batch: parse every item, then store the valid ones.
#[tracing::instrument(skip_all, fields(items = items.len(), org = %submitter.caller.org_code))]
pub async fn ingest_batch(
    ctx: &Ctx,
    submitter: &Submitter,
    items: Vec<Value>,
) -> ServiceResult<BatchResult> {
    super::access::SUBMIT_RECORDS
        .allows(&submitter.caller)
        .map_err(ServiceError::Forbidden)?;
    let known = |c: &str| ctx.known_list(c);
    let parsed: Vec<Parsed> = items
        .into_iter()
        .map(|item| parse_item(item, submitter, &ctx.keys, &known))
        .collect();
    store_batch(ctx, &submitter.caller, parsed).await
}
