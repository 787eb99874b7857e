//! A submitted record, as the API, the 双公示 import, the provincial sync and the generator give
//! it, turned into a validated [`NewRecord`] or the list of everything wrong with it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use validator::Validate;

use super::Submitter;
use crate::crypto::DataKeys;
use crate::domain::record::{check_details, check_record_shape, parse_date, parse_enum, Errors};
use crate::domain::*;

/// The highest record version: versions count a record's changes, and the bound keeps every
/// sum and comparison of them far from overflow (`i64::MAX + 1` was a crash).
pub const MAX_VERSION: i64 = i32::MAX as i64;

/// One record as a provider submits it (API.md "Records").
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    /// The provider's own id of the record; with the provider's source code it identifies the record.
    #[validate(length(min = 1, max = 128))]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, example = "SCJG-CF-2026-000123")]
    pub source_record_id: Option<String>,
    /// Admins only: the source code to file the record under (default: the key's organisation).
    #[validate(length(min = 1, max = 64))]
    pub source_code: Option<String>,
    #[schema(schema_with = crate::service::schema::record_kind_required, required = true)]
    pub kind: Option<String>,
    /// Required for `list_entry` and `red_list`: a list code of the rule catalog.
    #[validate(length(min = 1, max = 64))]
    pub list_code: Option<String>,
    /// Whom the record is about.
    #[validate(nested)]
    #[schema(required = true)]
    pub subject: Option<SubjectInput>,
    /// Decision document number (决定文书号).
    #[validate(length(min = 1, max = 128))]
    pub decision_no: Option<String>,
    /// Decision date (required for penalties and licences).
    #[schema(schema_with = crate::service::schema::date_or_null)]
    pub decision_date: Option<String>,
    /// First day in force.
    #[schema(schema_with = crate::service::schema::date_or_null)]
    pub valid_from: Option<String>,
    /// Last day in force; absent: until removed.
    #[schema(schema_with = crate::service::schema::date_or_null)]
    pub valid_to: Option<String>,
    /// Penalties: 轻微, 一般 or 严重.
    #[schema(schema_with = crate::service::schema::severity_or_null)]
    pub severity: Option<String>,
    /// Penalties: the 行政处罚法 Art. 9 categories (at least one for a penalty).
    #[schema(schema_with = crate::service::schema::penalty_types_or_null)]
    pub penalty_types: Option<Vec<String>>,
    /// Fine in yuan: a decimal string with at most 2 decimals (`"2500000.00"`) or a JSON number.
    #[schema(value_type = Option<String>, example = "2500000.00")]
    pub fine_amount: Option<Value>,
    /// The deciding authority.
    #[validate(nested)]
    pub authority: Option<AuthorityInput>,
    /// 无条件 / 有条件 / 特殊共享.
    #[schema(schema_with = crate::service::schema::sharing_class_required, required = true)]
    pub sharing_class: Option<String>,
    /// Default `closed`.
    #[schema(schema_with = crate::service::schema::open_class_or_null)]
    pub open_class: Option<String>,
    /// Default `active`.
    #[schema(schema_with = crate::service::schema::status_or_null)]
    pub status: Option<String>,
    /// Version of this record at the provider, from 1 (default 1).
    #[schema(minimum = 1, maximum = 2147483647)]
    pub version: Option<i64>,
    /// Admins only: `provincial` for records relayed from the provincial platform, whose codes
    /// are accepted with a checksum warning when they fail the check (pilot-era codes).
    #[schema(schema_with = crate::service::schema::origin_or_null)]
    pub origin: Option<String>,
    /// Further 双公示 fields as submitted (`CF_WFXW`, `CF_SY`, `CF_YJ`, …): at most 64 fields,
    /// names of 1 to 64 characters, values nested at most 3 levels, 65,536 bytes as compact
    /// JSON; beyond that the item is rejected with an error naming `details` or the field.
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
    #[schema(schema_with = crate::service::schema::subject_kind_required, required = true)]
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
    super::mask::mask_free_text(&mut record);
    Ok((record, source_code))
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

        if let Some(details) = &self.details {
            check_details(details, &mut errors);
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
