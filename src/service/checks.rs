//! The joint-sanction check: gather the facts, evaluate the active rule set, store the report
//! with its digest, and answer it as far as the caller may see the records behind it.
//!
//! The law applies whether or not the caller may read a record, so every record is evaluated;
//! a finding that rests on a record the caller may not see shows the measure and its basis and
//! says that the record's details are restricted.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::agreements::{self, PartnerScope};
use super::grants::Grant;
use super::query::{check_purpose, PersonView};
use super::{access, audit, policy, Ctx, ServiceError, ServiceResult};
use crate::domain::{
    canonical_json, Caller, FieldError, IdNumber, OpenClass, PenaltyType, RecordKind, RecordStatus,
    Role, Severity, SharingClass, SubjectKey, Uscc, UsccError, Yuan,
};
use crate::rules::eval::{self, MatchedRecord};
use crate::rules::{AppliesTo, Facts, Finding, Party, RecordFact, RecordOf, RuleSet};
use crate::store::checks::{self as store_checks, FeedbackRow, ReportRow, RuleSetRow};
use crate::store::records::RecordRow;
use crate::store::{records, subjects, StoreError};

/// Government roles that run checks (partners act under agreements: `agreements::admit`).
const CHECKERS: &[Role] = access::RUN_CHECKS_IN_BATCH.roles;
/// Roles that may read any stored report (others read their own organisation's).
const REPORT_READERS: &[Role] = &[Role::Admin, Role::Auditor];
/// Roles that may report what was done with a report (响应—反馈).
const FEEDBACK_ROLES: &[Role] = access::REPORT_FEEDBACK.roles;

pub const MAX_BATCH: usize = 500;

/// Whom to check: a code (or the placeholder with a registration number), or a natural person.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSubjectInput {
    /// Unified social credit code.
    #[schema(example = "91110000MA00000152")]
    pub uscc: Option<String>,
    /// Registration number, with the placeholder code `00000000000000000X`.
    pub reg_no: Option<String>,
    /// A natural person's citizen ID number (instead of `uscc`).
    pub id_number: Option<String>,
    /// A natural person's name.
    pub name: Option<String>,
}

/// A person related to the subject whose own records the measures look at.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelatedPersonInput {
    /// `legal_rep`, `director`, `supervisor`, `senior_manager` or `principal`.
    #[schema(example = "legal_rep")]
    pub role: Option<String>,
    #[schema(example = "张三")]
    pub name: Option<String>,
    /// Citizen ID number; needed to find the person's records.
    #[schema(example = "110101199003070011")]
    pub id_number: Option<String>,
}

/// `POST /api/v1/checks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// `market_entry`, `procurement`, `bidding`, `subsidy`, or another scenario of the rule files.
    #[schema(example = "procurement")]
    pub scenario: Option<String>,
    pub subject: Option<CheckSubjectInput>,
    #[serde(default)]
    pub related_persons: Vec<RelatedPersonInput>,
    /// Why the check is made (2 to 200 characters); goes into the report and the access log.
    #[schema(example = "政府采购资格审查")]
    pub purpose: Option<String>,
    /// The caller's file or project number, such as a procurement project number.
    #[schema(example = "ZFCG-2026-0457")]
    pub reference: Option<String>,
    /// The date the measures are applied as of, `YYYY-MM-DD`; default today (China Standard Time).
    #[schema(example = "2026-11-24")]
    pub as_of: Option<String>,
    /// Partners: the reference of the subject's written authorisation for this check.
    pub authorization_ref: Option<String>,
}

/// `POST /api/v1/checks/batch`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchCheckRequest {
    pub scenario: Option<String>,
    pub purpose: Option<String>,
    pub reference: Option<String>,
    pub as_of: Option<String>,
    /// 1 to 500 subjects, such as the members of a consortium or all bidders of a project.
    pub subjects: Vec<CheckSubjectInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReportSubject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uscc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_no: Option<String>,
    /// Natural persons: masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    pub name: Option<String>,
    /// Whether any record of the subject is known.
    pub known: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FindingRecordView {
    pub id: String,
    pub kind: String,
    /// True when the caller's sharing class does not reach this record: its details are left out.
    pub restricted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_date: Option<NaiveDate>,
    pub under_objection: bool,
    /// The conditions the record met, with their values (empty when restricted).
    pub conditions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BasisView {
    pub text: String,
    /// `verified`, `secondary` or `uncertain` (how sure the rule set's authors are of it).
    pub confidence: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FindingView {
    #[schema(example = "procurement.dishonest_debtor")]
    pub measure_id: String,
    /// `prohibit`, `restrict`, `review` or `incentive`.
    pub measure: String,
    pub title: String,
    /// `subject`, or the related person's role.
    pub applies_to: String,
    /// The related person the finding is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<PersonView>,
    /// The legal bases, as text.
    pub basis: Vec<String>,
    /// The same bases with their confidence.
    pub basis_detail: Vec<BasisView>,
    pub implemented_by: String,
    /// Last day the measure holds; null: until the record is removed or repaired.
    pub until: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Which conditions held, in plain words.
    pub explanation: String,
    pub records: Vec<FindingRecordView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RuleSetRef {
    pub version: String,
    #[schema(example = "sha256:cf927cf6e7424bb51e5b12d3caf47f328a82c88e1b9527dd60fd1976f474a568")]
    pub digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RequesterView {
    pub org_code: String,
    pub role: String,
}

/// A check report. `digest` is `sha256:` over the canonical JSON of every other field, so a
/// printed copy can be verified with `GET /api/v1/checks/{report_no}/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Report {
    #[schema(example = "CR-20261124-000042")]
    pub report_no: String,
    pub scenario: String,
    pub subject: ReportSubject,
    /// `clear`, `review`, `restricted` or `prohibited`: the strongest measure among the findings.
    pub verdict: String,
    pub findings: Vec<FindingView>,
    /// Incentives (red lists), apart from the verdict.
    pub incentives: Vec<FindingView>,
    pub rule_set: RuleSetRef,
    pub as_of: NaiveDate,
    /// RFC 3339, UTC.
    pub checked_at: String,
    pub purpose: String,
    pub reference: Option<String>,
    pub requested_by: RequesterView,
    /// What could not be checked, such as a related person given without an ID number.
    pub warnings: Vec<String>,
    pub digest: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchItemError {
    pub index: usize,
    #[schema(value_type = Vec<crate::service::FieldErrorDoc>)]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchReports {
    pub reports: Vec<Report>,
    pub errors: Vec<BatchItemError>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Verification {
    /// True when the digest given is the report's, and the stored report still matches it.
    pub valid: bool,
    pub report_no: String,
    /// Only when valid: a wrong digest, or a number no report has, learns nothing more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Only when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackInput {
    /// `restricted`, `not_restricted` or `other`.
    #[schema(example = "restricted")]
    pub action: Option<String>,
    /// What was done, up to 1000 characters.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedbackView {
    pub id: String,
    pub report_no: String,
    pub org_code: String,
    pub action: String,
    pub note: Option<String>,
    pub created_at: String,
}

/// The active rule set as `GET /api/v1/rules` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RulesView {
    pub version: String,
    pub title: Option<String>,
    pub digest: String,
    pub scenarios: Vec<ScenarioView>,
    pub lists: Vec<ListView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScenarioView {
    pub name: String,
    pub title: String,
    pub measures: Vec<MeasureView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeasureView {
    pub id: String,
    pub title: String,
    pub measure: String,
    pub applies_to: Vec<String>,
    pub basis: Vec<BasisView>,
    pub implemented_by: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListView {
    pub code: String,
    pub name: String,
    pub issued_by: String,
    /// `negative` or `red`.
    pub polarity: String,
}

/// The active rule set, for `GET /api/v1/rules` (any authenticated caller).
pub fn rules_view(set: &RuleSet) -> RulesView {
    RulesView {
        version: set.version.clone(),
        title: set.title.clone(),
        digest: set.digest.clone(),
        scenarios: set
            .scenarios
            .values()
            .map(|s| ScenarioView {
                name: s.name.clone(),
                title: s.title.clone(),
                measures: s
                    .measures
                    .iter()
                    .map(|m| MeasureView {
                        id: m.id.clone(),
                        title: m.title.clone(),
                        measure: m.measure.as_str().into(),
                        applies_to: m.applies_to.iter().map(|a| a.as_str().into()).collect(),
                        basis: basis_views(&m.basis),
                        implemented_by: m.implemented_by.clone(),
                        note: m.note.clone(),
                    })
                    .collect(),
            })
            .collect(),
        lists: set
            .catalog
            .lists()
            .map(|l| ListView {
                code: l.code.clone(),
                name: l.name.clone(),
                issued_by: l.issued_by.clone(),
                polarity: match l.polarity {
                    crate::rules::Polarity::Negative => "negative".into(),
                    crate::rules::Polarity::Red => "red".into(),
                },
            })
            .collect(),
    }
}

fn basis_views(b: &[crate::rules::Basis]) -> Vec<BasisView> {
    b.iter()
        .map(|b| BasisView {
            text: b.text.clone(),
            confidence: match b.confidence {
                crate::rules::Confidence::Verified => "verified",
                crate::rules::Confidence::Secondary => "secondary",
                crate::rules::Confidence::Uncertain => "uncertain",
            }
            .into(),
        })
        .collect()
}

/// Keeps the files of a rule set in the database, so reports can name and re-use them.
pub fn keep_rule_set(conn: &mut crate::store::DbConn, set: &RuleSet) -> Result<(), StoreError> {
    let sources = serde_json::to_string(&set.sources)
        .map_err(|e| StoreError::Corrupt(format!("rule set sources: {e}")))?;
    store_checks::keep_rule_set(
        conn,
        &RuleSetRow {
            digest: set.digest.clone(),
            version: set.version.clone(),
            sources,
            first_loaded_at: chrono::Utc::now().naive_utc(),
        },
    )
}

/// A validated check of one subject.
struct Plan {
    scenario: String,
    key: SubjectKey,
    given_name: Option<String>,
    persons: Vec<PersonPlan>,
    purpose: String,
    reference: Option<String>,
    as_of: NaiveDate,
}

struct PersonPlan {
    role: AppliesTo,
    name: String,
    id: Option<IdNumber>,
}

fn invalid(field: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, code, message)
}

/// Scenario, purpose, reference and as-of date, common to single and batch checks.
fn common(
    set: &RuleSet,
    today: NaiveDate,
    scenario: Option<&str>,
    purpose: Option<&str>,
    reference: Option<&str>,
    as_of: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> (String, String, Option<String>, NaiveDate) {
    let scenario = scenario.map(str::trim).unwrap_or("").to_string();
    if scenario.is_empty() {
        errors.push(invalid(
            "scenario",
            "required",
            format!(
                "name the scenario: one of {}",
                set.scenario_names().join(", ")
            ),
        ));
    } else if set.scenario(&scenario).is_none() {
        errors.push(invalid(
            "scenario",
            "unknown_scenario",
            format!(
                "unknown scenario '{scenario}'; the rule set knows {}",
                set.scenario_names().join(", ")
            ),
        ));
    }
    let purpose = match check_purpose(purpose) {
        Ok(p) => p,
        Err(ServiceError::Invalid(e)) => {
            errors.extend(e);
            String::new()
        }
        Err(_) => String::new(),
    };
    let reference = reference
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(crate::domain::id_number::mask_id_numbers);
    let reference = reference.as_deref();
    if reference.is_some_and(|r| r.chars().count() > 100) {
        errors.push(invalid(
            "reference",
            "invalid_length",
            "the reference is at most 100 characters",
        ));
    }
    let as_of = match as_of.map(str::trim) {
        None | Some("") => today,
        Some(s) => {
            match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) if d > today => {
                    errors.push(invalid(
                    "as_of",
                    "future_date",
                    format!("as_of {d} is after today ({today}); records of the future are not known"),
                ));
                    today
                }
                Ok(d) => d,
                Err(_) => {
                    errors.push(invalid(
                        "as_of",
                        "invalid_date",
                        format!("'{s}' is not a date; write YYYY-MM-DD"),
                    ));
                    today
                }
            }
        }
    };
    (scenario, purpose, reference.map(String::from), as_of)
}

fn subject_key(
    s: &CheckSubjectInput,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Option<SubjectKey> {
    let field = |f: &str| {
        if prefix.is_empty() {
            f.to_string()
        } else {
            format!("{prefix}.{f}")
        }
    };
    match (&s.uscc, &s.id_number) {
        (Some(_), Some(_)) => {
            errors.push(invalid(
                &field("uscc"),
                "ambiguous_subject",
                "give either uscc (an organisation) or id_number (a natural person), not both",
            ));
            None
        }
        (Some(u), None) => {
            let reg_no = s.reg_no.as_deref().map(str::trim).filter(|r| !r.is_empty());
            match Uscc::parse_with_reg_no(u, reg_no) {
                Ok(code) if code.is_placeholder() => {
                    reg_no.map(|r| SubjectKey::RegNo(r.to_string()))
                }
                Ok(code) => Some(SubjectKey::Uscc(code)),
                Err(e) => {
                    let f = if matches!(e, UsccError::PlaceholderWithoutRegNo) {
                        field("reg_no")
                    } else {
                        field("uscc")
                    };
                    errors.push(invalid(&f, e.code(), e.to_string()));
                    None
                }
            }
        }
        (None, Some(id)) => match IdNumber::parse(id) {
            Ok(id) => Some(SubjectKey::Person(id)),
            Err(e) => {
                errors.push(invalid(&field("id_number"), e.code(), e.to_string()));
                None
            }
        },
        (None, None) => {
            errors.push(invalid(
                &field("uscc"),
                "required",
                "give the subject's uscc (or id_number for a natural person)",
            ));
            None
        }
    }
}

fn plan(set: &RuleSet, today: NaiveDate, req: &CheckRequest) -> Result<Plan, Vec<FieldError>> {
    let mut errors = Vec::new();
    let (scenario, purpose, reference, as_of) = common(
        set,
        today,
        req.scenario.as_deref(),
        req.purpose.as_deref(),
        req.reference.as_deref(),
        req.as_of.as_deref(),
        &mut errors,
    );
    let key = match &req.subject {
        Some(s) => subject_key(s, "subject", &mut errors),
        None => {
            errors.push(invalid(
                "subject",
                "required",
                "give the subject: {\"uscc\": \"...\"}",
            ));
            None
        }
    };
    if req.related_persons.len() > 50 {
        errors.push(invalid(
            "related_persons",
            "too_many",
            "at most 50 related persons",
        ));
    }
    let mut persons = Vec::new();
    for (i, p) in req.related_persons.iter().enumerate() {
        let at = |f: &str| format!("related_persons[{i}].{f}");
        let role = match p.role.as_deref().map(str::trim) {
            Some(r) => match AppliesTo::parse(r).filter(|a| *a != AppliesTo::Subject) {
                Some(a) => Some(a),
                None => {
                    errors.push(invalid(
                        &at("role"),
                        "invalid_value",
                        format!("'{r}' is not a role; use legal_rep, director, supervisor, senior_manager or principal"),
                    ));
                    None
                }
            },
            None => {
                errors.push(invalid(
                    &at("role"),
                    "required",
                    "give the person's role, such as legal_rep",
                ));
                None
            }
        };
        let name = p.name.as_deref().map(str::trim).unwrap_or("");
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(invalid(
                &at("name"),
                "required",
                "give the person's name (at most 100 characters)",
            ));
        }
        let id = match p.id_number.as_deref() {
            None => None,
            Some(s) => match IdNumber::parse(s) {
                Ok(id) => Some(id),
                Err(e) => {
                    errors.push(invalid(&at("id_number"), e.code(), e.to_string()));
                    None
                }
            },
        };
        if let Some(role) = role {
            persons.push(PersonPlan {
                role,
                name: name.to_string(),
                id,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let Some(key) = key else {
        return Err(errors);
    };
    Ok(Plan {
        scenario,
        key,
        given_name: req.subject.as_ref().and_then(|s| s.name.clone()),
        persons,
        purpose,
        reference,
        as_of,
    })
}

/// A record as evaluated, and whom it came from (for the caller's view).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredFacts {
    facts: Facts,
    /// record id → where it came from and how it may be shared
    provenance: BTreeMap<String, Provenance>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Provenance {
    source_code: String,
    sharing_class: String,
    open_class: String,
    version: i64,
}

fn record_fact(
    set: &RuleSet,
    r: &RecordRow,
    relation: RecordOf,
    subject_name: &str,
) -> Result<RecordFact, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("record {}: {what}", r.id));
    let kind = RecordKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?;
    let penalty_types: Vec<String> =
        serde_json::from_str(&r.penalty_types).map_err(|_| corrupt("penalty_types"))?;
    let details: serde_json::Map<String, Value> =
        serde_json::from_str(&r.details).map_err(|_| corrupt("details"))?;
    Ok(RecordFact {
        id: r.id.clone(),
        kind,
        list_code: r.list_code.clone(),
        list_name: r
            .list_code
            .as_deref()
            .and_then(|c| set.catalog.get(c))
            .map(|l| l.name.clone()),
        decision_no: r.decision_no.clone(),
        decision_date: r.decision_date,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
        severity: r.severity.as_deref().and_then(Severity::parse),
        penalty_types: penalty_types
            .iter()
            .filter_map(|p| PenaltyType::parse(p))
            .collect(),
        fine: r.fine_amount_fen.map(Yuan::from_fen),
        status: RecordStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
        under_objection: r.under_objection,
        details,
        relation,
        subject_name: subject_name.to_string(),
    })
}

struct Gathered {
    stored: StoredFacts,
    subject_name: Option<String>,
    known: bool,
    warnings: Vec<String>,
}

/// Reads everything the measures may look at: the subject's records, and each related
/// person's own records and the records that name the person as legal representative.
fn gather(
    conn: &mut crate::store::DbConn,
    set: &RuleSet,
    keys: &crate::crypto::DataKeys,
    plan: &Plan,
) -> Result<Gathered, StoreError> {
    let mut provenance = BTreeMap::new();
    let mut note = |r: &RecordRow| {
        provenance.insert(
            r.id.clone(),
            Provenance {
                source_code: r.source_code.clone(),
                sharing_class: r.sharing_class.clone(),
                open_class: r.open_class.clone(),
                version: r.version,
            },
        );
    };
    let subject_key = plan.key.storage_key(&|i| keys.lookup_hash(i));
    let subject = subjects::find_by_key(conn, &subject_key)?;
    let name = subject
        .as_ref()
        .map(|s| s.name.clone())
        .or_else(|| plan.given_name.clone());
    let label = name.clone().unwrap_or_default();
    let mut parties = Vec::new();
    let mut subject_records = Vec::new();
    if let Some(s) = &subject {
        for r in records::by_subject(conn, &s.id)? {
            note(&r);
            subject_records.push(record_fact(set, &r, RecordOf::Subject, &label)?);
        }
    }
    let known = !subject_records.is_empty();
    parties.push(Party {
        role: AppliesTo::Subject,
        name: label,
        id_masked: match &plan.key {
            SubjectKey::Person(p) => Some(p.masked()),
            _ => None,
        },
        records: subject_records,
    });
    // (role, name, keyed hash of the ID number, masked ID number)
    let mut persons: Vec<(AppliesTo, String, Option<String>, Option<String>)> = plan
        .persons
        .iter()
        .map(|p| {
            (
                p.role,
                p.name.clone(),
                p.id.as_ref().map(|i| keys.lookup_hash(i)),
                p.id.as_ref().map(|i| i.masked()),
            )
        })
        .collect();
    // Without a legal representative in the request, the one recorded on the subject is checked.
    if !persons.iter().any(|p| p.0 == AppliesTo::LegalRep) {
        if let Some(s) = &subject {
            if let Some(hash) = &s.legal_rep_id_hash {
                persons.push((
                    AppliesTo::LegalRep,
                    s.legal_rep_name.clone().unwrap_or_default(),
                    Some(hash.clone()),
                    s.legal_rep_id_masked.clone(),
                ));
            }
        }
    }
    let mut warnings = Vec::new();
    for (role, pname, hash, masked) in persons {
        let mut recs = Vec::new();
        match &hash {
            None => warnings.push(format!(
                "{} {pname}：未提供身份证号码，未能核查其本人记录",
                role.label_zh()
            )),
            Some(hash) => {
                if let Some(ps) = subjects::find_by_key(conn, &format!("pid:{hash}"))? {
                    for r in records::by_subject(conn, &ps.id)? {
                        note(&r);
                        recs.push(record_fact(set, &r, RecordOf::Subject, &pname)?);
                    }
                }
                for (r, subject_name) in records::naming_legal_rep(conn, hash)? {
                    note(&r);
                    recs.push(record_fact(set, &r, RecordOf::LegalRep, &subject_name)?);
                }
            }
        }
        parties.push(Party {
            role,
            name: pname,
            id_masked: masked,
            records: recs,
        });
    }
    Ok(Gathered {
        stored: StoredFacts {
            facts: Facts { parties },
            provenance,
        },
        subject_name: name,
        known,
        warnings,
    })
}

fn digest_of(report: &Value) -> String {
    let mut h = Sha256::new();
    h.update(canonical_json(report).as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The caller's view of a finding: restricted records keep their id and kind only.
fn finding_view(
    f: &Finding,
    facts: &StoredFacts,
    caller: &Caller,
    partner: Option<&PartnerScope>,
    grants: &[Grant],
) -> FindingView {
    let by_id: BTreeMap<&str, &RecordFact> = facts
        .facts
        .parties
        .iter()
        .flat_map(|p| p.records.iter())
        .map(|r| (r.id.as_str(), r))
        .collect();
    let visible = |id: &str| {
        let (Some(p), Some(r)) = (facts.provenance.get(id), by_id.get(id)) else {
            return false;
        };
        let meta = policy::RecordMeta {
            id,
            list_code: r.list_code.as_deref(),
            sharing: SharingClass::parse(&p.sharing_class).unwrap_or(SharingClass::Special),
            open_class: OpenClass::parse(&p.open_class).unwrap_or(OpenClass::Closed),
            kind: r.kind,
            source_code: &p.source_code,
        };
        policy::can_see(caller, meta, partner, grants)
    };
    let mut shown: Vec<&MatchedRecord> = Vec::new();
    let mut hidden = 0;
    let records = f
        .records
        .iter()
        .map(|m| {
            let r = by_id.get(m.record_id.as_str());
            let kind = r.map(|r| r.kind.as_str().to_string()).unwrap_or_default();
            if visible(&m.record_id) {
                shown.push(m);
                FindingRecordView {
                    id: m.record_id.clone(),
                    kind,
                    restricted: false,
                    list_code: r.and_then(|r| r.list_code.clone()),
                    decision_no: r.and_then(|r| r.decision_no.clone()),
                    decision_date: r.and_then(|r| r.decision_date),
                    under_objection: r.is_some_and(|r| r.under_objection),
                    conditions: m.conditions.clone(),
                }
            } else {
                hidden += 1;
                FindingRecordView {
                    id: m.record_id.clone(),
                    kind,
                    restricted: true,
                    list_code: None,
                    decision_no: None,
                    decision_date: None,
                    under_objection: r.is_some_and(|r| r.under_objection),
                    conditions: vec![],
                }
            }
        })
        .collect();
    let partner_view = policy::hides_ids(caller);
    // Natural persons (related persons, or a subject checked by ID number) are masked for
    // partners: the surname only, no ID number.
    let person = f.applies_to != AppliesTo::Subject || f.party_id_masked.is_some();
    let name = if person {
        policy::person_name(caller, &f.party_name)
    } else {
        f.party_name.clone()
    };
    let explanation = if hidden == 0 && !partner_view {
        f.explanation.clone()
    } else {
        let label = if partner_view {
            match f.applies_to {
                AppliesTo::Subject => format!("被核查主体「{name}」"),
                role => format!("{} {name}", role.label_zh()),
            }
        } else {
            eval::finding_party_label(f)
        };
        let mut e = format!("{label}：{}。", f.title);
        for m in &shown {
            e.push_str(&format!(
                "记录 {}：{}。",
                m.record_id,
                m.conditions.join("；")
            ));
        }
        if hidden > 0 {
            e.push_str(&format!(
                "另有 {hidden} 条记录符合本措施的条件，其详细信息受共享类别限制，不予显示。"
            ));
        }
        e.push_str(&eval::until_sentence(f.until));
        e
    };
    FindingView {
        measure_id: f.measure_id.clone(),
        measure: f.measure.as_str().into(),
        title: f.title.clone(),
        applies_to: f.applies_to.as_str().into(),
        person: (f.applies_to != AppliesTo::Subject).then(|| PersonView {
            name: name.clone(),
            id_number: if partner_view {
                None
            } else {
                f.party_id_masked.clone()
            },
        }),
        basis: f.basis.iter().map(|b| b.text.clone()).collect(),
        basis_detail: basis_views(&f.basis),
        implemented_by: f.implemented_by.clone(),
        until: f.until,
        note: f.note.clone(),
        explanation,
        records,
    }
}

fn report_subject(key: &SubjectKey, name: Option<String>, known: bool) -> ReportSubject {
    let (uscc, reg_no, id) = match key {
        SubjectKey::Uscc(u) => (Some(u.as_str().to_string()), None, None),
        SubjectKey::RegNo(r) => (
            Some(crate::domain::uscc::PLACEHOLDER.to_string()),
            Some(r.clone()),
            None,
        ),
        SubjectKey::Person(p) => (None, None, Some(p.masked())),
    };
    ReportSubject {
        uscc,
        reg_no,
        id_number: id,
        name,
        known,
    }
}

fn day_of(ctx: &Ctx) -> String {
    ctx.clock.today().format("%Y%m%d").to_string()
}

/// How many report numbers an instance reserves at a time. Numbers are unique and increase
/// within an instance; several instances interleave, and numbers reserved but unused when an
/// instance stops are skipped (so a day's numbers may have gaps).
const NUMBER_BLOCK: i64 = 50;

/// Report numbers reserved by this instance: `next ..= last` of `day`.
#[derive(Debug, Default)]
pub struct NumberBlock {
    day: String,
    next: i64,
    last: i64,
}

/// The next report number, `CR-YYYYMMDD-NNNNNN` (the day in China Standard Time).
async fn next_report_no(ctx: &Ctx) -> ServiceResult<String> {
    let day = day_of(ctx);
    let mut block = ctx.report_numbers.lock().await;
    if block.day != day || block.next > block.last {
        let d = day.clone();
        let last = ctx
            .db
            .run(move |conn| store_checks::reserve_report_numbers(conn, &d, NUMBER_BLOCK))
            .await?;
        *block = NumberBlock {
            day: day.clone(),
            next: last - NUMBER_BLOCK + 1,
            last,
        };
    }
    let n = block.next;
    block.next += 1;
    Ok(format!("CR-{day}-{n:06}"))
}

/// Evaluates and stores one planned check.
async fn run_plan(
    ctx: &Ctx,
    caller: &Caller,
    partner: Option<PartnerScope>,
    set: Arc<RuleSet>,
    plan: Plan,
) -> ServiceResult<Report> {
    // The report shows whole seconds; the stored time is the same instant.
    let now = chrono::DurationRound::duration_trunc(ctx.clock.now(), chrono::TimeDelta::seconds(1))
        .unwrap_or_else(|_| ctx.clock.now());
    let checked_at = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let report_no = next_report_no(ctx).await?;
    let caller = caller.clone();
    let keys = ctx.keys.clone();
    let subject_key = ctx.subject_key(&plan.key);
    let grants = super::grants::in_force(ctx, &caller).await?;
    let report = ctx
        .db
        .run_write(move |conn| {
            let g = gather(conn, &set, &keys, &plan)?;
            let scenario = set.scenario(&plan.scenario).ok_or_else(|| {
                StoreError::Corrupt(format!("scenario {} vanished", plan.scenario))
            })?;
            let ev = eval::evaluate(scenario, &g.stored.facts, plan.as_of);
            let mut report = Report {
                report_no: report_no.clone(),
                scenario: plan.scenario.clone(),
                subject: {
                    let mut s = report_subject(&plan.key, g.subject_name.clone(), g.known);
                    if let SubjectKey::Person(_) = plan.key {
                        s.name = s.name.map(|n| policy::person_name(&caller, &n));
                        if policy::hides_ids(&caller) {
                            s.id_number = None;
                        }
                    }
                    s
                },
                verdict: ev.verdict.as_str().into(),
                findings: ev
                    .findings
                    .iter()
                    .map(|f| finding_view(f, &g.stored, &caller, partner.as_ref(), &grants))
                    .collect(),
                incentives: ev
                    .incentives
                    .iter()
                    .map(|f| finding_view(f, &g.stored, &caller, partner.as_ref(), &grants))
                    .collect(),
                rule_set: RuleSetRef {
                    version: set.version.clone(),
                    digest: set.digest.clone(),
                },
                as_of: plan.as_of,
                checked_at: checked_at.clone(),
                purpose: plan.purpose.clone(),
                reference: plan.reference.clone(),
                requested_by: RequesterView {
                    org_code: caller.org_code.clone(),
                    role: caller.role.as_str().into(),
                },
                warnings: g.warnings.clone(),
                digest: String::new(),
            };
            let mut body = serde_json::to_value(&report)
                .map_err(|e| StoreError::Corrupt(format!("report: {e}")))?;
            if let Some(o) = body.as_object_mut() {
                o.remove("digest");
            }
            report.digest = digest_of(&body);
            let facts = serde_json::to_string(&g.stored)
                .map_err(|e| StoreError::Corrupt(format!("facts: {e}")))?;
            let used: Vec<String> = g.stored.provenance.keys().cloned().collect();
            let row = ReportRow {
                report_no,
                scenario: plan.scenario.clone(),
                subject_key: subject_key.clone(),
                verdict: report.verdict.clone(),
                rule_set_digest: set.digest.clone(),
                requester_org: caller.org_code.clone(),
                requester_role: caller.role.as_str().into(),
                requester_key_id: caller.key_id.clone(),
                purpose: plan.purpose.clone(),
                reference: plan.reference.clone(),
                as_of: plan.as_of,
                checked_at: now.naive_utc(),
                report: canonical_json(&body),
                facts,
                digest: report.digest.clone(),
            };
            // The report and its access-log entry are one transaction.
            diesel::Connection::transaction::<_, StoreError, _>(conn, |conn| {
                store_checks::insert_report(conn, &row)?;
                audit::append(
                    conn,
                    &keys,
                    &caller,
                    &audit::Entry {
                        action: "check.run",
                        subject_key: Some(row.subject_key.clone()),
                        records: used,
                        purpose: Some(row.purpose.clone()),
                        reference: row.reference.clone(),
                        outcome: "ok",
                        detail: Some(json!({
                            "report_no": row.report_no,
                            "scenario": row.scenario,
                            "verdict": row.verdict,
                        })),
                    },
                )
            })?;
            Ok(report)
        })
        .await?;
    tracing::info!(
        report_no = %report.report_no,
        scenario = %report.scenario,
        verdict = %report.verdict,
        findings = report.findings.len(),
        "check reported"
    );
    Ok(report)
}

/// Refuses (and logs the refusal) unless the caller's role may run checks.
async fn may_check(ctx: &Ctx, caller: &Caller, purpose: &Option<String>) -> ServiceResult<()> {
    if let Err(why) = caller.require(CHECKERS, "run checks") {
        let e = audit::Entry {
            action: "check.run",
            purpose: purpose.clone(),
            outcome: "denied",
            ..Default::default()
        };
        audit::log(ctx, caller, e).await?;
        return Err(ServiceError::Forbidden(why));
    }
    Ok(())
}

/// `POST /api/v1/checks`.
#[tracing::instrument(skip_all, fields(role = %caller.role))]
pub async fn check(ctx: &Ctx, caller: &Caller, req: CheckRequest) -> ServiceResult<Report> {
    let set = ctx.rules();
    let partner = if caller.role == Role::Partner {
        // A partner checks within its agreement: the scenario, the subject's authorisation,
        // the day's quota. The request is validated first so that bad input costs no quota.
        let plan = plan(&set, ctx.clock.today(), &req).map_err(ServiceError::Invalid)?;
        let asked = audit::Entry {
            action: access::RUN_CHECK.action,
            subject_key: Some(ctx.subject_key(&plan.key)),
            purpose: Some(plan.purpose.clone()),
            reference: req.authorization_ref.clone(),
            detail: Some(json!({"scenario": plan.scenario})),
            ..Default::default()
        };
        let scenario = plan.scenario.clone();
        let auth = req.authorization_ref.as_deref();
        let scope = agreements::admit_logged(ctx, caller, &scenario, auth, asked).await?;
        Some((scope, plan))
    } else {
        may_check(ctx, caller, &req.purpose).await?;
        None
    };
    match partner {
        Some((scope, plan)) => run_plan(ctx, caller, Some(scope), set, plan).await,
        None => {
            let plan = plan(&set, ctx.clock.today(), &req).map_err(ServiceError::Invalid)?;
            run_plan(ctx, caller, None, set, plan).await
        }
    }
}

/// `POST /api/v1/checks/batch`: one report per valid subject, errors by index for the others.
#[tracing::instrument(skip_all, fields(role = %caller.role, subjects = req.subjects.len()))]
pub async fn check_batch(
    ctx: &Ctx,
    caller: &Caller,
    req: BatchCheckRequest,
) -> ServiceResult<BatchReports> {
    may_check(ctx, caller, &req.purpose).await?;
    let set = ctx.rules();
    let today = ctx.clock.today();
    let mut errors = Vec::new();
    common(
        &set,
        today,
        req.scenario.as_deref(),
        req.purpose.as_deref(),
        req.reference.as_deref(),
        req.as_of.as_deref(),
        &mut errors,
    );
    if req.subjects.is_empty() {
        errors.push(invalid("subjects", "required", "give 1 to 500 subjects"));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let mut out = BatchReports {
        reports: Vec::new(),
        errors: Vec::new(),
    };
    for (index, s) in req.subjects.into_iter().enumerate() {
        let single = CheckRequest {
            scenario: req.scenario.clone(),
            subject: Some(s),
            related_persons: vec![],
            purpose: req.purpose.clone(),
            reference: req.reference.clone(),
            as_of: req.as_of.clone(),
            authorization_ref: None,
        };
        match plan(&set, today, &single) {
            Ok(p) => out
                .reports
                .push(run_plan(ctx, caller, None, set.clone(), p).await?),
            Err(errs) => out.errors.push(BatchItemError {
                index,
                errors: errs
                    .into_iter()
                    .map(|e| {
                        let field = e
                            .field
                            .strip_prefix("subject.")
                            .unwrap_or(&e.field)
                            .to_string();
                        FieldError::new(format!("subjects[{index}].{field}"), e.code, e.message)
                    })
                    .collect(),
            }),
        }
    }
    Ok(out)
}

fn may_read(caller: &Caller, row: &ReportRow) -> bool {
    REPORT_READERS.contains(&caller.role) || caller.org_code == row.requester_org
}

async fn load_report(ctx: &Ctx, report_no: &str) -> ServiceResult<ReportRow> {
    let no = report_no.to_string();
    ctx.db
        .run(move |conn| store_checks::find_report(conn, &no))
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("report {report_no}")))
}

fn report_from_row(row: &ReportRow) -> ServiceResult<Report> {
    let mut body: Value = serde_json::from_str(&row.report)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("report {}: {e}", row.report_no)))?;
    if let Some(o) = body.as_object_mut() {
        o.insert("digest".into(), json!(row.digest));
    }
    serde_json::from_value(body)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("report {}: {e}", row.report_no)))
}

/// `GET /api/v1/checks/{report_no}`: the requesting organisation, admins and auditors.
pub async fn get_report(ctx: &Ctx, caller: &Caller, report_no: &str) -> ServiceResult<Report> {
    let entry = |outcome: &'static str| audit::Entry {
        action: "check.read",
        outcome,
        detail: Some(json!({"report_no": report_no})),
        ..Default::default()
    };
    let row = match load_report(ctx, report_no).await {
        Ok(r) => r,
        Err(e) => {
            audit::log(ctx, caller, entry("not_found")).await?;
            return Err(e);
        }
    };
    if !may_read(caller, &row) {
        // Reports of other organisations are answered as absent.
        audit::log(ctx, caller, entry("denied")).await?;
        return Err(ServiceError::NotFound(format!("report {report_no}")));
    }
    let mut e = entry("ok");
    e.subject_key = Some(row.subject_key.clone());
    audit::log(ctx, caller, e).await?;
    report_from_row(&row)
}

/// `GET /api/v1/checks/{report_no}/verify?digest=`: whether a printed copy's digest is the
/// report's and the stored report still matches it. Any key may verify, since a printed copy
/// travels; only a caller holding the right digest learns the verdict and the time, and an
/// unknown number answers as a wrong digest does (`valid: false`), so numbers cannot be probed.
pub async fn verify(
    ctx: &Ctx,
    caller: &Caller,
    report_no: &str,
    digest: Option<&str>,
) -> ServiceResult<Verification> {
    let given = digest.map(str::trim).unwrap_or("");
    if given.is_empty() {
        return Err(ServiceError::Invalid(vec![invalid(
            "digest",
            "required",
            "give the digest printed on the report, such as sha256:…",
        )]));
    }
    let row = match load_report(ctx, report_no).await {
        Ok(row) if given.eq_ignore_ascii_case(&row.digest) => Some(row),
        Ok(_) | Err(ServiceError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let entry = audit::Entry {
        action: "check.verify",
        subject_key: row.as_ref().map(|r| r.subject_key.clone()),
        outcome: if row.is_some() { "ok" } else { "mismatch" },
        detail: Some(json!({ "report_no": report_no })),
        ..Default::default()
    };
    audit::log(ctx, caller, entry).await?;
    let invalid = Verification {
        valid: false,
        report_no: crate::domain::id_number::mask_id_numbers(report_no).into_owned(),
        verdict: None,
        checked_at: None,
    };
    let Some(row) = row else {
        return Ok(invalid);
    };
    let body: Value = serde_json::from_str(&row.report)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("report {}: {e}", row.report_no)))?;
    if digest_of(&body) != row.digest {
        tracing::error!(report_no = %row.report_no, "stored report does not match its digest");
        return Ok(invalid);
    }
    Ok(Verification {
        valid: true,
        report_no: row.report_no,
        verdict: Some(row.verdict),
        checked_at: Some(super::rfc3339(row.checked_at)),
    })
}

/// `POST /api/v1/checks/{report_no}/feedback`.
pub async fn feedback(
    ctx: &Ctx,
    caller: &Caller,
    report_no: &str,
    input: FeedbackInput,
) -> ServiceResult<FeedbackView> {
    caller
        .require(FEEDBACK_ROLES, "report feedback on checks")
        .map_err(ServiceError::Forbidden)?;
    let mut errors = Vec::new();
    let action = input.action.as_deref().map(str::trim).unwrap_or("");
    if !["restricted", "not_restricted", "other"].contains(&action) {
        errors.push(invalid(
            "action",
            if action.is_empty() {
                "required"
            } else {
                "invalid_value"
            },
            "action is one of restricted, not_restricted, other",
        ));
    }
    let note = input
        .note
        .map(|n| crate::domain::id_number::masked(n.trim()))
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        errors.push(invalid(
            "note",
            "invalid_length",
            "the note is at most 1000 characters",
        ));
    }
    if action == "other" && note.is_none() {
        errors.push(invalid(
            "note",
            "required",
            "say what was done when the action is other",
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    // Feedback comes from the organisation that asked (the implementing department) or an
    // admin; another organisation's report is answered as absent, so numbers cannot be probed.
    let report = load_report(ctx, report_no).await?;
    if !(caller.role == Role::Admin || caller.org_code == report.requester_org) {
        let entry = audit::Entry {
            action: access::REPORT_FEEDBACK.action,
            outcome: "denied",
            detail: Some(
                json!({"report_no": report_no, "reason": "another organisation's report"}),
            ),
            ..Default::default()
        };
        audit::log(ctx, caller, entry).await?;
        return Err(ServiceError::NotFound(format!("report {report_no}")));
    }
    let row = FeedbackRow {
        id: format!("fb_{}", ulid::Ulid::new()),
        report_no: report_no.to_string(),
        org_code: caller.org_code.clone(),
        action: action.to_string(),
        note,
        created_at: ctx.clock.now().naive_utc(),
    };
    let saved = row.clone();
    let keys = ctx.keys.clone();
    let who = caller.clone();
    ctx.db
        .run_write(move |conn| {
            diesel::Connection::transaction::<_, StoreError, _>(conn, |conn| {
                store_checks::insert_feedback(conn, &saved)?;
                audit::append(
                    conn,
                    &keys,
                    &who,
                    &audit::Entry {
                        action: "check.feedback",
                        outcome: "ok",
                        detail: Some(json!({"report_no": saved.report_no, "action": saved.action, "feedback_id": saved.id})),
                        ..Default::default()
                    },
                )
                .map(|_| ())
            })
        })
        .await?;
    Ok(FeedbackView {
        id: row.id,
        report_no: row.report_no,
        org_code: row.org_code,
        action: row.action,
        note: row.note,
        created_at: super::rfc3339(row.created_at),
    })
}

/// Evaluates a stored report again with the rule set and facts it used; true when the verdict
/// and the measures come out the same (the rule set's files are kept by digest).
pub async fn reevaluate(ctx: &Ctx, report_no: &str) -> ServiceResult<bool> {
    let row = load_report(ctx, report_no).await?;
    let digest = row.rule_set_digest.clone();
    let kept = ctx
        .db
        .run(move |conn| store_checks::find_rule_set(conn, &digest))
        .await?
        .ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("rule set {} not kept", row.rule_set_digest))
        })?;
    let sources: crate::rules::Sources = serde_json::from_str(&kept.sources)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("rule set sources: {e}")))?;
    let set = crate::rules::load::build(sources).map_err(|e| {
        ServiceError::Internal(anyhow::anyhow!("kept rule set no longer builds: {e:?}"))
    })?;
    let stored: StoredFacts = serde_json::from_str(&row.facts)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("facts: {e}")))?;
    let scenario = set.scenario(&row.scenario).ok_or_else(|| {
        ServiceError::Internal(anyhow::anyhow!("scenario {} missing", row.scenario))
    })?;
    let ev = eval::evaluate(scenario, &stored.facts, row.as_of);
    let report = report_from_row(&row)?;
    let ids: Vec<&str> = ev.findings.iter().map(|f| f.measure_id.as_str()).collect();
    let stored_ids: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.measure_id.as_str())
        .collect();
    Ok(ev.verdict.as_str() == report.verdict && ids == stored_ids)
}
