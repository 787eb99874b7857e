//! What repair applications look like to callers: the inputs, the views, and who sees what.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{Caller, Role};
use crate::store::repairs::RepairRow;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicantInput {
    /// The applicant (the subject, or who acts for it), 1 to 100 characters.
    #[schema(schema_with = crate::service::schema::name_100, required = true)]
    pub name: Option<String>,
    /// How to reach the applicant with the decision, at most 100 characters.
    #[schema(schema_with = crate::service::schema::contact)]
    pub contact: Option<String>,
}

/// `POST /api/v1/repairs`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairInput {
    #[schema(example = "rec_01JD4S0M8Q3Z6Y2B5X7C9V1N0K", required = true)]
    pub record_id: Option<String>,
    #[schema(required = true)]
    pub applicant: Option<ApplicantInput>,
    /// The public credit commitment (信用承诺) the applicant made: its reference, 1 to 200
    /// characters (Order 36: a condition of repair).
    #[schema(schema_with = crate::service::schema::commitment, required = true)]
    pub commitment: Option<String>,
    /// What shows the conduct corrected and the duties met, at most 2000 characters.
    #[schema(schema_with = crate::service::schema::evidence)]
    pub evidence: Option<String>,
    /// The day the application was received: not in the future, not before the record's
    /// decision; default today (Asia/Shanghai).
    #[schema(schema_with = crate::service::schema::date_or_null)]
    pub received_on: Option<String>,
}

/// `POST /api/v1/repairs/{id}/decision`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairDecisionInput {
    /// `approved` or `rejected`.
    #[schema(schema_with = crate::service::schema::repair_outcome, required = true)]
    pub outcome: Option<String>,
    /// The written reason, 10 to 2000 characters.
    #[schema(schema_with = crate::service::schema::answer, required = true)]
    pub reason: Option<String>,
    /// The day of the decision: not before the application, not in the future; default today.
    #[schema(schema_with = crate::service::schema::date_or_null)]
    pub on: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplicantView {
    pub name: String,
    /// Shown to admins, auditors and the department that decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepairView {
    #[schema(example = "rep_01JD4S0M8Q3Z6Y2B5X7C9V1N0K")]
    pub id: String,
    pub record_id: String,
    /// The department that owns the record and decides.
    pub provider_code: String,
    /// `accepted`, `approved` or `rejected`.
    pub status: String,
    pub applicant: ApplicantView,
    pub commitment: Option<String>,
    pub evidence: Option<String>,
    pub received_on: NaiveDate,
    /// 5 working days after acceptance.
    pub decision_due: NaiveDate,
    pub decided_on: Option<NaiveDate>,
    /// The decision's written reason.
    pub reason: Option<String>,
    /// RFC 3339, UTC: when the provincial platform took the approved repair.
    pub pushed_at: Option<String>,
    /// The provincial platform's reason, when it refused the repair (not sent again).
    pub push_refused: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepairList {
    pub items: Vec<RepairView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/repairs` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RepairListQuery {
    /// `accepted`, `approved` or `rejected`.
    #[param(schema_with = crate::service::schema::repair_status)]
    pub status: Option<String>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Why the list is read, 2 to 200 characters (the access log keeps it).
    #[param(required = true, schema_with = crate::service::schema::purpose)]
    pub purpose: Option<String>,
}

/// `GET /api/v1/repairs/{id}`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RepairReadQuery {
    /// Why it is read, 2 to 200 characters (the access log keeps it).
    #[param(required = true, schema_with = crate::service::schema::purpose)]
    pub purpose: Option<String>,
}

/// Admins and auditors see every application; a provider those about its own records.
pub(super) fn may_see(caller: &Caller, row: &RepairRow) -> bool {
    matches!(caller.role, Role::Admin | Role::Auditor)
        || (caller.role == Role::Provider && caller.org_code == row.provider_code)
}

pub(super) fn view(row: &RepairRow) -> RepairView {
    RepairView {
        id: row.id.clone(),
        record_id: row.record_id.clone(),
        provider_code: row.provider_code.clone(),
        status: row.status.clone(),
        applicant: ApplicantView {
            name: row.applicant_name.clone(),
            contact: row.applicant_contact.clone(),
        },
        commitment: row.commitment.clone(),
        evidence: row.evidence.clone(),
        received_on: row.received_on,
        decision_due: row.decision_due,
        decided_on: row.decided_on,
        reason: row.reason.clone(),
        pushed_at: row.pushed_at.map(crate::service::rfc3339),
        push_refused: row.push_refused.clone(),
    }
}
