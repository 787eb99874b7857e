//! What objections look like to callers: the inputs, the views, and who sees what.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{Caller, ObjectionStatus, Role};
use crate::service::audit::Actor;
use crate::store::objections::ObjectionRow;

/// Who objects, as sent.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FiledByInput {
    /// `using_department` (officer, system, admin) or `subject` (admin only: the subject objected
    /// in person or through 信用中国).
    #[schema(schema_with = crate::service::schema::filer_kind, required = true)]
    pub kind: Option<String>,
    /// The department's or the person's name, 1 to 100 characters.
    #[schema(schema_with = crate::service::schema::name_100, required = true)]
    pub name: Option<String>,
    /// How to reach the filer with the answer (telephone, address), at most 100 characters.
    #[schema(schema_with = crate::service::schema::contact)]
    pub contact: Option<String>,
}

/// `POST /api/v1/objections`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectionInput {
    #[schema(example = "rec_01JD4S0M8Q3Z6Y2B5X7C9V1N0K", required = true)]
    pub record_id: Option<String>,
    /// What is wrong and why, 10 to 2000 characters.
    #[schema(schema_with = crate::service::schema::grounds, required = true)]
    pub grounds: Option<String>,
    #[schema(required = true)]
    pub filed_by: Option<FiledByInput>,
    /// The filing day (admin only, for an objection received earlier): not in the future;
    /// default today in Asia/Shanghai.
    #[schema(schema_with = crate::service::schema::date_or_null)]
    pub received_on: Option<String>,
}

/// A decision of the centre, or the provider's answer.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    /// Decision: `confirmed`, `corrected` or `forwarded`. Answer: `confirmed`, `corrected` or
    /// `revoked`.
    #[schema(schema_with = crate::service::schema::objection_outcome, required = true)]
    pub outcome: Option<String>,
    /// The written answer, 10 to 2000 characters: the filer is shown it.
    #[schema(schema_with = crate::service::schema::answer, required = true)]
    pub reason: Option<String>,
    /// The day of the step: not before the filing (or forwarding), not in the future; default
    /// today.
    #[schema(schema_with = crate::service::schema::date_or_null)]
    pub on: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FiledByView {
    /// `using_department` or `subject`.
    pub kind: String,
    pub name: String,
    /// Shown to admins, auditors and the filer's organisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// One step of an objection.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StepView {
    /// `filed`, `decided` (the centre) or `answered` (the provider).
    pub step: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The written reason or answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The day of the step.
    pub on: NaiveDate,
    /// Who took it: organisation and role.
    pub org_code: String,
    pub role: String,
    /// RFC 3339, UTC: when it was recorded.
    pub at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ObjectionView {
    #[schema(example = "obj_01JD4S0M8Q3Z6Y2B5X7C9V1N0K")]
    pub id: String,
    pub record_id: String,
    /// `open` (with the centre), `forwarded` (with the providing department) or `closed`.
    pub status: String,
    /// How it ended: `confirmed`, `corrected` or `revoked`.
    pub outcome: Option<String>,
    pub grounds: String,
    pub filed_by: FiledByView,
    /// The organisation that filed it (for the subject: the centre).
    pub filer_org: String,
    /// The department that provided the record.
    pub provider_code: String,
    /// The filing day.
    pub received_on: NaiveDate,
    /// The centre's review is due: 5 working days after filing.
    pub review_due: NaiveDate,
    pub forwarded_on: Option<NaiveDate>,
    /// The provider's answer is due: 3 working days after forwarding.
    pub provider_due: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    /// The running deadline (review or provider's) passed before today.
    pub overdue: bool,
    /// The written answer that closed it.
    pub answer: Option<StepView>,
    pub history: Vec<StepView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ObjectionList {
    pub items: Vec<ObjectionView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/objections` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open`, `forwarded` or `closed`.
    #[param(schema_with = crate::service::schema::objection_status)]
    pub status: Option<String>,
    /// Only those whose running deadline has passed.
    pub overdue: Option<bool>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Why the list is read, 2 to 200 characters (the access log keeps it).
    #[param(required = true, schema_with = crate::service::schema::purpose)]
    pub purpose: Option<String>,
}

/// `GET /api/v1/objections/{id}`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Why it is read, 2 to 200 characters (the access log keeps it).
    #[param(required = true, schema_with = crate::service::schema::purpose)]
    pub purpose: Option<String>,
}

pub(super) fn history_of(row: &ObjectionRow) -> Vec<StepView> {
    serde_json::from_str(&row.history).unwrap_or_default()
}

/// Whether the caller may see the objection: admins and auditors, the filer's organisation
/// and the provider concerned.
pub(super) fn may_see(caller: &Caller, row: &ObjectionRow) -> bool {
    matches!(caller.role, Role::Admin | Role::Auditor)
        || (matches!(caller.role, Role::Officer | Role::System | Role::Provider)
            && (caller.org_code == row.filer_org || caller.org_code == row.provider_code))
}

fn overdue(row: &ObjectionRow, today: NaiveDate) -> bool {
    match ObjectionStatus::parse(&row.status) {
        Some(ObjectionStatus::Open) => row.review_due < today,
        Some(ObjectionStatus::Forwarded) => row.provider_due.is_some_and(|d| d < today),
        _ => false,
    }
}

/// Where an objection stands, for a 409's `current`: its state and dates, without the grounds,
/// the filer or the answers (an error body carries no personal data).
pub(super) fn state_of(row: &ObjectionRow, today: NaiveDate) -> serde_json::Value {
    serde_json::json!({
        "id": row.id,
        "record_id": row.record_id,
        "status": row.status,
        "outcome": row.outcome,
        "received_on": row.received_on,
        "review_due": row.review_due,
        "forwarded_on": row.forwarded_on,
        "provider_due": row.provider_due,
        "closed_on": row.closed_on,
        "overdue": overdue(row, today),
    })
}

pub(super) fn view(caller: &Caller, row: &ObjectionRow, today: NaiveDate) -> ObjectionView {
    let history = history_of(row);
    let sees_contact =
        matches!(caller.role, Role::Admin | Role::Auditor) || caller.org_code == row.filer_org;
    ObjectionView {
        id: row.id.clone(),
        record_id: row.record_id.clone(),
        status: row.status.clone(),
        outcome: row.outcome.clone(),
        grounds: row.grounds.clone(),
        filed_by: FiledByView {
            kind: row.filed_by_kind.clone(),
            name: row.filed_by_name.clone(),
            contact: row.filed_by_contact.clone().filter(|_| sees_contact),
        },
        filer_org: row.filer_org.clone(),
        provider_code: row.provider_code.clone(),
        received_on: row.received_on,
        review_due: row.review_due,
        forwarded_on: row.forwarded_on,
        provider_due: row.provider_due,
        closed_on: row.closed_on,
        overdue: overdue(row, today),
        answer: row
            .closed_on
            .and_then(|_| history.last().cloned())
            .filter(|s| s.step != "filed"),
        history,
    }
}

pub(super) fn step_view(
    caller: &Caller,
    step: &str,
    outcome: Option<&str>,
    reason: Option<String>,
    on: NaiveDate,
    a: &Actor,
) -> StepView {
    StepView {
        step: step.into(),
        outcome: outcome.map(str::to_string),
        reason,
        on,
        org_code: caller.org_code.clone(),
        role: caller.role.as_str().into(),
        at: crate::service::rfc3339(a.at),
    }
}
