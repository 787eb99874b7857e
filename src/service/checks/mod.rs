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
use super::query::{check_purpose, PersonView};
use super::{access, audit, commit, policy, schema, Ctx, ServiceError, ServiceResult};
use crate::domain::{
    canonical_json, Caller, FieldError, IdNumber, OpenClass, PenaltyType, Role, SharingClass,
    SubjectKey, Uscc, UsccError, Yuan,
};
use crate::rules::eval::{self, MatchedRecord};
use crate::rules::{AppliesTo, Facts, Finding, Party, RecordFact, RecordOf, RuleSet};
use crate::service::grants::Grant;
use crate::store::checks::{self as store_checks, FeedbackRow, ReportRow, RuleSetRow};
use crate::store::records::RecordRow;
use crate::store::{records, StoreError};

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
    #[schema(schema_with = schema::scenario, required = true)]
    pub scenario: Option<String>,
    #[schema(required = true)]
    pub subject: Option<CheckSubjectInput>,
    #[serde(default)]
    pub related_persons: Vec<RelatedPersonInput>,
    #[schema(schema_with = schema::purpose, required = true)]
    pub purpose: Option<String>,
    /// The caller's file or project number, such as a procurement project number.
    #[schema(example = "ZFCG-2026-0457")]
    pub reference: Option<String>,
    /// The date the measures are applied as of, `YYYY-MM-DD`; default today (China Standard Time).
    #[schema(schema_with = schema::date_or_null)]
    pub as_of: Option<String>,
    /// Partners: the reference of the subject's written authorisation for this check.
    pub authorization_ref: Option<String>,
    /// A replay: evaluate with the record versions received by this time and the rule set
    /// active then (RFC 3339, not after now); `as_of` defaults to that day (China Standard
    /// Time). The report says `"replay": true`.
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-11-20T10:00:00+08:00")]
    pub as_known_at: Option<String>,
}

/// `POST /api/v1/checks/batch`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchCheckRequest {
    #[schema(schema_with = schema::scenario, required = true)]
    pub scenario: Option<String>,
    #[schema(schema_with = schema::purpose, required = true)]
    pub purpose: Option<String>,
    pub reference: Option<String>,
    #[schema(schema_with = schema::date_or_null)]
    pub as_of: Option<String>,
    /// 1 to 500 subjects, such as the members of a consortium or all bidders of a project.
    #[schema(min_items = 1, max_items = 500)]
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
    /// The last day the record may be published, shared or used (`rules/periods.yaml`); null:
    /// no period ends it, or the record is restricted.
    #[serde(default)]
    pub publicity_until: Option<NaiveDate>,
    /// The first day its repair may be applied for; null: it cannot be, or it is restricted.
    #[serde(default)]
    pub repair_eligible_from: Option<NaiveDate>,
    pub under_objection: bool,
    /// The code of the department that provided the record (its source); absent when
    /// restricted, and in reports made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
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
    /// True for a replay (`as_known_at`): evaluated with the records received by that time and
    /// the rule set active then (`rule_set` names it), not with what is known now.
    #[serde(default)]
    pub replay: bool,
    /// A replay's time, RFC 3339 in UTC; absent for other checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_known_at: Option<String>,
    pub digest: String,
    /// `GET /api/v1/checks/{report_no}` only (not part of the report or its digest): records the
    /// report rests on that were since repaired, revoked, corrected or ended, so that the
    /// verdict would now differ; run the check again for the new verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub later_changes: Option<Vec<LaterChange>>,
}

/// A change since a report was made to a record it rests on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct LaterChange {
    pub record_id: String,
    /// `repaired`, `revoked`, `corrected` (a newer version) or `publicity_ended`.
    pub change: String,
    /// The day of the change, where known (the repair, the last day of publicity).
    pub on: Option<NaiveDate>,
    /// In words.
    pub detail: String,
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
    #[schema(schema_with = schema::feedback_action, required = true)]
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

mod gather;
mod later;
mod list;
mod plan;
mod replay;
mod report;
mod view;
mod watched;

use gather::*;
pub use list::{recent_reports, ReportQuery, ReportSummary, LIST_LIMIT};
use plan::*;
use report::*;
pub use report::{NumberBlock, Unstored};
use view::basis_views;
pub use view::{
    feedback, get_report, issuer_name, keep_rule_set, reevaluate, rules_view, verify,
    verify_public, PublicVerification,
};
pub use watched::{outcomes, watched, Outcome, SubjectOutcomes, Watched, WatchedRecord};

/// Refuses (and logs the refusal) unless the caller's role may run checks.
async fn may_check(ctx: &Ctx, caller: &Caller, purpose: &Option<String>) -> ServiceResult<()> {
    let asked = audit::Entry {
        action: "check.run",
        purpose: purpose.clone(),
        ..Default::default()
    };
    audit::require_logged(ctx, caller, CHECKERS, "run checks", asked).await
}

/// `POST /api/v1/checks`.
#[tracing::instrument(skip_all, fields(role = %caller.role))]
pub async fn check(ctx: &Ctx, caller: &Caller, mut req: CheckRequest) -> ServiceResult<Report> {
    // A replay is validated and its rule set found before anything else: it decides which
    // scenarios exist, and bad input costs a partner no quota.
    let known_at = match req.as_known_at.take() {
        None => None,
        Some(s) => {
            let at = replay::parse_known_at(&s, ctx.clock.now()).map_err(ServiceError::Invalid)?;
            if req.as_of.is_none() {
                let day = crate::domain::calendar::shanghai_day(at.and_utc());
                req.as_of = Some(day.to_string());
            }
            Some(at)
        }
    };
    let set = match known_at {
        Some(at) => replay::rule_set_at(ctx, at).await?,
        None => ctx.rules(),
    };
    let (scope, mut plan) = admit(ctx, caller, &set, req).await?;
    plan.known_at = known_at;
    let made = evaluate(ctx, caller, set, vec![(scope, plan)])
        .await?
        .into_iter()
        .collect::<ServiceResult<Vec<_>>>()?;
    let mut report = store_all(ctx, made)
        .await?
        .pop()
        .ok_or_else(|| ServiceError::Unavailable("the check made no report".into()))?;
    if known_at.is_some() {
        // What changed since, in the records the replay used (not part of the report).
        let row = view::load_report(ctx, &report.report_no).await?;
        report.later_changes = Some(later::changes(ctx, caller, &row, &report).await?);
    }
    Ok(report)
}

/// Checks of many requests, each as [`check`] checks it (the same validation, admission and
/// report), with their facts read together: in the order of `reqs`, each line's report or why
/// it was refused; `Err` when the reports could not be made at all. Nothing is stored: the
/// caller stores each report with its entry ([`Unstored::into_parts`]) before it shows one.
pub async fn check_unstored(
    ctx: &Ctx,
    caller: &Caller,
    reqs: Vec<CheckRequest>,
) -> ServiceResult<Vec<ServiceResult<Unstored>>> {
    let set = ctx.rules();
    let mut refused: Vec<Option<ServiceError>> = Vec::with_capacity(reqs.len());
    let mut admitted = Vec::new();
    for req in reqs {
        match admit(ctx, caller, &set, req).await {
            Ok(a) => {
                admitted.push(a);
                refused.push(None);
            }
            Err(e) => refused.push(Some(e)),
        }
    }
    let mut made = evaluate(ctx, caller, set, admitted).await?.into_iter();
    Ok(refused
        .into_iter()
        .map(|r| match r {
            Some(e) => Err(e),
            None => made
                .next()
                .unwrap_or_else(|| Err(ServiceError::Unavailable("a check made no report".into()))),
        })
        .collect())
}

/// One request validated and admitted, ready to evaluate: the caller's role (or a partner's
/// agreement and quota) admits it, and its subject is one a check may look up.
async fn admit(
    ctx: &Ctx,
    caller: &Caller,
    set: &RuleSet,
    req: CheckRequest,
) -> ServiceResult<(Option<PartnerScope>, Plan)> {
    let today = ctx.clock.today();
    // A partner checks within its agreement (the scenario, the subject's authorisation, the
    // day's quota), and its request is validated first so that bad input costs no quota;
    // anyone else's role is checked first.
    let early = match caller.role {
        Role::Partner => Some(plan(set, today, &req).map_err(ServiceError::Invalid)?),
        _ => None,
    };
    let asked = audit::Entry {
        action: access::RUN_CHECK.action,
        subject_key: early.as_ref().map(|p| logged_key(ctx, p)),
        purpose: early
            .as_ref()
            .map_or(req.purpose.clone(), |p| Some(p.purpose.clone())),
        reference: req.authorization_ref.clone(),
        detail: early.as_ref().map(|p| json!({"scenario": p.scenario})),
        ..Default::default()
    };
    let scenario = early.as_ref().map_or("", |p| p.scenario.as_str());
    let auth = req.authorization_ref.as_deref();
    let scope =
        agreements::admit_request(ctx, caller, &access::RUN_CHECK, scenario, auth, asked).await?;
    let plan = match early {
        Some(p) => p,
        None => plan(set, today, &req).map_err(ServiceError::Invalid)?,
    };
    // After admission: whether a subject is held under a code is told to no one the operation
    // does not admit.
    let plan = vouch(ctx, caller, plan)
        .await?
        .map_err(ServiceError::Invalid)?;
    Ok((scope, plan))
}

/// A code that fails its check character is checked only when a subject is held under it with
/// the checksum warning (a pilot-era code from the provincial platform, shown in the report's
/// warnings); otherwise the request gets the check-character error, as any mistyped code.
///
/// The lookup is logged when it finds nothing, as a profile read of an unknown subject is.
async fn vouch(
    ctx: &Ctx,
    caller: &Caller,
    plan: Plan,
) -> ServiceResult<Result<Plan, Vec<FieldError>>> {
    let Some(error) = plan.unverified.clone() else {
        return Ok(Ok(plan));
    };
    let key = ctx.subject_key(&plan.key);
    if crate::service::query::held_with_checksum_warning(ctx, &key).await? {
        return Ok(Ok(plan));
    }
    let entry = audit::Entry {
        action: access::RUN_CHECK.action,
        subject_key: Some(logged_key(ctx, &plan)),
        purpose: Some(plan.purpose.clone()),
        reference: plan.reference.clone(),
        outcome: "not_found",
        ..Default::default()
    };
    audit::log(ctx, caller, entry).await?;
    Ok(Err(vec![error]))
}

/// The subject's key as the access log holds it: a code that fails its check character is
/// masked, since 18 digits that fail it may be an ID number typed into the wrong field.
fn logged_key(ctx: &Ctx, plan: &Plan) -> String {
    let key = ctx.subject_key(&plan.key);
    if plan.unverified.is_some() {
        crate::domain::id_number::masked(&key)
    } else {
        key
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
    let mut planned_all = Vec::new();
    let mut errors = Vec::new();
    for (index, s) in req.subjects.into_iter().enumerate() {
        let single = CheckRequest {
            scenario: req.scenario.clone(),
            subject: Some(s),
            related_persons: vec![],
            purpose: req.purpose.clone(),
            reference: req.reference.clone(),
            as_of: req.as_of.clone(),
            authorization_ref: None,
            as_known_at: None,
        };
        let planned = match plan(&set, today, &single) {
            Ok(p) => vouch(ctx, caller, p).await?,
            Err(errs) => Err(errs),
        };
        match planned {
            Ok(p) => planned_all.push((None, p)),
            Err(errs) => errors.push(BatchItemError {
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
    // The batch's facts read together, its reports committed together.
    let made = evaluate(ctx, caller, set, planned_all)
        .await?
        .into_iter()
        .collect::<ServiceResult<Vec<_>>>()?;
    Ok(BatchReports {
        reports: store_all(ctx, made).await?,
        errors,
    })
}
