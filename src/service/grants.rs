//! Access to conditional and special records (the governing measures Art. 8, 17–19).
//!
//! Conditional sharing (有条件共享): an organisation applies for a data scope (sources, record
//! kinds, lists), a purpose and a period; an administrator approves or rejects it with a reason;
//! an approved grant ends by itself on its last day. Special sharing (特殊共享): the administrator
//! names an organisation for one record or for a list. `policy` applies the grants.

use std::sync::Arc;

use chrono::NaiveDate;
use diesel::Connection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{self, Actor};
use super::signals::Topic;
use super::{access, Ctx, ServiceError, ServiceResult};
use crate::domain::id_number::masked;
use crate::domain::{Caller, FieldError, RecordKind, Role};
use crate::store::grants::{self as store_grants, GrantRow};
use crate::store::StoreError;

/// A grant in force, as the policy applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub special: bool,
    pub source_codes: Vec<String>,
    pub record_kinds: Vec<String>,
    pub list_codes: Vec<String>,
    pub record_id: Option<String>,
}

impl Grant {
    /// Whether the grant reaches a record of this id, kind, list and source.
    pub fn covers(
        &self,
        id: &str,
        kind: RecordKind,
        list_code: Option<&str>,
        source: &str,
    ) -> bool {
        if self.special {
            return self.record_id.as_deref() == Some(id)
                || list_code.is_some_and(|l| self.list_codes.iter().any(|c| c == l));
        }
        (self.source_codes.is_empty() || self.source_codes.iter().any(|s| s == source))
            && (self.record_kinds.is_empty()
                || self.record_kinds.iter().any(|k| k == kind.as_str()))
            && (self.list_codes.is_empty()
                || list_code.is_some_and(|l| self.list_codes.iter().any(|c| c == l)))
    }
}

fn list_of(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

/// Grants as the policy reads them, from their stored rows.
pub fn from_rows(rows: Vec<crate::store::grants::GrantRow>) -> Vec<Grant> {
    rows.into_iter()
        .map(|r| Grant {
            special: r.grant_kind == "special",
            source_codes: list_of(&r.source_codes),
            record_kinds: list_of(&r.record_kinds),
            list_codes: list_of(&r.list_codes),
            record_id: r.record_id,
        })
        .collect()
}

/// The caller's grants in force today (none for admins, partners and auditors, who do not
/// need or cannot hold them). Held in process per organisation and day (`signals`).
pub async fn in_force(ctx: &Ctx, caller: &Caller) -> ServiceResult<Arc<Vec<Grant>>> {
    if !caller.role.is_government() || caller.role == Role::Admin {
        return Ok(Arc::default());
    }
    let today = ctx.clock.today();
    let m = &ctx.memos;
    let key = format!("{}@{today}", caller.org_code);
    let loaded = m
        .get_or_load(
            &m.grants,
            &key,
            |_| caller.org_code.clone(),
            || async {
                let org = caller.org_code.clone();
                let rows = ctx
                    .db
                    .run(move |conn| store_grants::in_force(conn, &org, today))
                    .await?;
                ServiceResult::Ok(Some(Arc::new(from_rows(rows))))
            },
        )
        .await?;
    Ok(loaded.unwrap_or_default())
}

/// An application (or, from an admin, a special grant).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantInput {
    /// Special grants (admin): the organisation named.
    #[schema(schema_with = super::schema::org_code_or_null)]
    pub org_code: Option<String>,
    /// Data scope: source codes of the providing departments (empty: any).
    #[serde(default)]
    pub source_codes: Vec<String>,
    /// Data scope: record kinds (empty: any).
    #[serde(default)]
    #[schema(schema_with = super::schema::record_kinds_any)]
    pub record_kinds: Vec<String>,
    /// Data scope: list codes (empty: any). A special grant names a list here, or a record.
    #[serde(default)]
    pub list_codes: Vec<String>,
    /// Special grants: one record.
    pub record_id: Option<String>,
    #[schema(schema_with = super::schema::purpose, required = true)]
    pub purpose: Option<String>,
    /// First day (default today).
    #[schema(schema_with = super::schema::date_or_null)]
    pub valid_from: Option<String>,
    /// Last day: on or after the first and at most a year later.
    #[schema(schema_with = super::schema::date, required = true)]
    pub valid_to: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    #[schema(schema_with = super::schema::reason, required = true)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantView {
    pub id: String,
    pub org_code: String,
    /// `application` or `special`.
    pub grant_kind: String,
    pub source_codes: Vec<String>,
    pub record_kinds: Vec<String>,
    pub list_codes: Vec<String>,
    pub record_id: Option<String>,
    pub purpose: String,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    /// `pending`, `approved` or `rejected` (an approved grant past `valid_to` no longer applies).
    pub status: String,
    pub decision_reason: Option<String>,
    pub decided_at: Option<String>,
    pub created_at: String,
}

fn view(r: GrantRow) -> GrantView {
    let ts = super::rfc3339;
    GrantView {
        source_codes: list_of(&r.source_codes),
        record_kinds: list_of(&r.record_kinds),
        list_codes: list_of(&r.list_codes),
        id: r.id,
        org_code: r.org_code,
        grant_kind: r.grant_kind,
        record_id: r.record_id,
        purpose: r.purpose,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
        status: r.status,
        decision_reason: r.decision_reason,
        decided_at: r.decided_at.map(ts),
        created_at: ts(r.created_at),
    }
}

fn parse_input(
    ctx: &Ctx,
    input: &GrantInput,
    special: bool,
) -> Result<(String, NaiveDate, NaiveDate), Vec<FieldError>> {
    let mut errors = Vec::new();
    // Free text, stored and shown: an ID number in it is kept masked.
    let purpose = crate::domain::parse_purpose(input.purpose.as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    for (i, k) in input.record_kinds.iter().enumerate() {
        if RecordKind::parse(k).is_none() {
            errors.push(FieldError::new(
                format!("record_kinds[{i}]"),
                "invalid_value",
                format!("record kind is one of {}", RecordKind::allowed()),
            ));
        }
    }
    for (i, l) in input.list_codes.iter().enumerate() {
        if !ctx.known_list(l) {
            errors.push(FieldError::new(
                format!("list_codes[{i}]"),
                "unknown_list",
                format!("'{l}' is not a list of the catalog; see GET /api/v1/rules"),
            ));
        }
    }
    if special && input.record_id.is_none() && input.list_codes.is_empty() {
        errors.push(FieldError::new(
            "record_id",
            "required",
            "a special grant names a record (record_id) or lists (list_codes)",
        ));
    }
    let today = ctx.clock.today();
    let date = |field: &str,
                v: &Option<String>,
                default: Option<NaiveDate>,
                errors: &mut Vec<FieldError>| {
        match v.as_deref().map(str::trim) {
            Some(s) => crate::domain::iso_date(s).or_else(|| {
                errors.push(FieldError::new(
                    field,
                    "invalid_date",
                    format!("'{s}' is not a date; write YYYY-MM-DD"),
                ));
                None
            }),
            None => default.or_else(|| {
                errors.push(FieldError::new(
                    field,
                    "required",
                    "give the last day, YYYY-MM-DD",
                ));
                None
            }),
        }
    };
    let from = date("valid_from", &input.valid_from, Some(today), &mut errors);
    let to = date("valid_to", &input.valid_to, None, &mut errors);
    if let (Some(f), Some(t)) = (from, to) {
        if t < f || t > f + chrono::TimeDelta::days(366) {
            errors.push(FieldError::new(
                "valid_to",
                "out_of_range",
                "valid_to is on or after valid_from and at most a year later",
            ));
        }
    }
    match (from, to) {
        (Some(f), Some(t)) if errors.is_empty() => Ok((purpose, f, t)),
        _ => Err(errors),
    }
}

/// A new grant row; `period` is the purpose and the first and last days.
fn row(
    org: &str,
    kind: &str,
    input: &GrantInput,
    period: (String, NaiveDate, NaiveDate),
    status: &str,
    by: &Actor,
) -> GrantRow {
    let (purpose, from, to) = period;
    GrantRow {
        id: format!("grt_{}", ulid::Ulid::new()),
        org_code: org.to_string(),
        grant_kind: kind.to_string(),
        source_codes: serde_json::to_string(&input.source_codes).unwrap_or_else(|_| "[]".into()),
        record_kinds: serde_json::to_string(&input.record_kinds).unwrap_or_else(|_| "[]".into()),
        list_codes: serde_json::to_string(&input.list_codes).unwrap_or_else(|_| "[]".into()),
        record_id: input.record_id.clone(),
        purpose,
        valid_from: from,
        valid_to: to,
        status: status.to_string(),
        applied_by: by.who.key_id.clone(),
        decided_by: None,
        decision_reason: None,
        decided_at: None,
        created_at: by.at,
    }
}

async fn save(
    ctx: &Ctx,
    actor: Actor,
    r: GrantRow,
    action: &'static str,
) -> ServiceResult<GrantView> {
    let saved = r.clone();
    ctx.db
        .run_write(move |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                crate::store::orgs::ensure(conn, &saved.org_code, &saved.org_code, actor.at)?;
                store_grants::insert(conn, &saved)?;
                let detail = json!({"grant_id": saved.id, "org_code": saved.org_code, "status": saved.status});
                audit::log_signalled(conn, &actor, action, detail, (Topic::Grants, &saved.org_code))
            })
        })
        .await?;
    ctx.memos.heard(Topic::Grants, &r.org_code);
    Ok(view(r))
}

/// `POST /api/v1/access-applications`: a government organisation applies for conditional data.
pub async fn apply(ctx: &Ctx, caller: &Caller, input: GrantInput) -> ServiceResult<GrantView> {
    access::APPLY_FOR_ACCESS.require(caller)?;
    if input.org_code.is_some() || input.record_id.is_some() {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "org_code",
            "not_allowed",
            "an application is for the caller's own organisation and a data scope, not a single record",
        )]));
    }
    let (purpose, from, to) = parse_input(ctx, &input, false).map_err(ServiceError::Invalid)?;
    let actor = Actor::new(ctx, caller);
    let r = row(
        &caller.org_code,
        "application",
        &input,
        (purpose, from, to),
        "pending",
        &actor,
    );
    save(ctx, actor, r, "access.apply").await
}

/// `POST /api/v1/admin/special-grants`: the administrator names an organisation.
pub async fn special(ctx: &Ctx, caller: &Caller, input: GrantInput) -> ServiceResult<GrantView> {
    access::GRANT_SPECIAL.require(caller)?;
    let org = input
        .org_code
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    let mut errors = Vec::new();
    if let Err(m) = super::keys::validate_org_code(&org) {
        errors.push(FieldError::new("org_code", "invalid_value", m));
    }
    let parsed = parse_input(ctx, &input, true);
    if let Err(e) = &parsed {
        errors.extend(e.clone());
    }
    let Ok((purpose, from, to)) = parsed.map_err(|_| ()) else {
        return Err(ServiceError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let actor = Actor::new(ctx, caller);
    let mut r = row(
        &org,
        "special",
        &input,
        (purpose, from, to),
        "approved",
        &actor,
    );
    r.decided_by = Some(caller.key_id.clone());
    r.decided_at = Some(actor.at);
    save(ctx, actor, r, "access.special_grant").await
}

/// Applications and grants: an organisation's own; an admin's, all.
pub async fn list(ctx: &Ctx, caller: &Caller) -> ServiceResult<Vec<GrantView>> {
    if !caller.role.is_government() {
        return Err(ServiceError::Forbidden(format!(
            "role {} holds no access grants",
            caller.role
        )));
    }
    let org = (caller.role != Role::Admin).then(|| caller.org_code.clone());
    let rows = ctx
        .db
        .run(move |conn| store_grants::list(conn, org.as_deref()))
        .await?;
    Ok(rows.into_iter().map(view).collect())
}

/// What an administrator decides about an application or a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    /// Ends an approved application or a special grant before its period does.
    Revoke,
}

impl Decision {
    fn op(self) -> &'static access::Operation {
        match self {
            Decision::Approve => &access::APPROVE_ACCESS,
            Decision::Reject => &access::REJECT_ACCESS,
            Decision::Revoke => &access::REVOKE_ACCESS,
        }
    }

    /// (the status it applies to, the status it leaves)
    fn transition(self) -> (&'static str, &'static str) {
        match self {
            Decision::Approve => ("pending", "approved"),
            Decision::Reject => ("pending", "rejected"),
            Decision::Revoke => ("approved", "revoked"),
        }
    }
}

/// Approves or rejects a pending application, or revokes a grant in force, with the reason.
pub async fn decide(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    decision: Decision,
    input: DecisionInput,
) -> ServiceResult<GrantView> {
    let op = decision.op();
    op.require(caller)?;
    let reason = masked(
        input
            .reason
            .as_deref()
            .map(crate::domain::trim_blank)
            .unwrap_or(""),
    );
    let sent = input.reason.as_deref().map_or(0, |r| r.chars().count());
    if reason.is_empty() || sent > 500 {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "reason",
            "required",
            "give the reason for the decision (up to 500 characters)",
        )]));
    }
    let id2 = id.to_string();
    let (from, status) = decision.transition();
    let actor = Actor::new(ctx, caller);
    let out = ctx
        .db
        .run_write(move |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                let Some(r) = store_grants::find(conn, &id2)? else {
                    return Ok(None);
                };
                let (who, now) = (&actor.who, actor.at);
                if !store_grants::decide(conn, &id2, from, status, &who.key_id, &reason, now)? {
                    return Ok(Some(Err(r.status)));
                }
                audit::log_signalled(
                    conn,
                    &actor,
                    op.action,
                    json!({"grant_id": id2, "reason": reason}),
                    (Topic::Grants, &r.org_code),
                )?;
                Ok(store_grants::find(conn, &id2)?.map(Ok))
            })
        })
        .await?;
    match out {
        None => Err(ServiceError::NotFound(format!("application {id}"))),
        Some(Err(status)) => Err(ServiceError::Conflict(
            format!("the application is {status}, not {from}"),
            None,
        )),
        Some(Ok(r)) => {
            ctx.memos.heard(Topic::Grants, &r.org_code);
            Ok(view(r))
        }
    }
}
