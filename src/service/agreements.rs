//! Agreements for partners (banks and insurers): which scenarios and record kinds, between
//! which dates, how many queries a day (DESIGN.md "Security and privacy"; the governing
//! measures Art. 25: commercial parties only under approval). Outside its agreement a partner
//! is refused (403, with the reason); over the quota, 429 until midnight (China Standard Time).

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use diesel::Connection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{self, Actor};
use super::signals::Topic;
use super::{access, Ctx, ServiceError, ServiceResult};
use crate::cache::Cache;
use crate::domain::{Caller, FieldError, RecordKind, Role};
use crate::store::agreements::{self as store_agreements, AgreementRow};
use crate::store::{orgs, StoreError};

/// The pseudo-scenario of credit-profile queries (`GET /api/v1/subjects/{uscc}`).
pub const PROFILE: &str = "profile";

/// What an agreement in force lets a partner do.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerScope {
    pub agreement_id: String,
    pub record_kinds: Vec<RecordKind>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementInput {
    /// The partner organisation (made if needed).
    #[schema(schema_with = super::schema::org_code, required = true)]
    pub org_code: Option<String>,
    /// Check scenarios the partner may run, and `profile` for credit-profile queries.
    #[schema(schema_with = super::schema::agreement_scenarios, required = true)]
    pub scenarios: Option<Vec<String>>,
    /// Record kinds the partner may see.
    #[schema(schema_with = super::schema::record_kinds_required, required = true)]
    pub record_kinds: Option<Vec<String>>,
    /// First day in force.
    #[schema(schema_with = super::schema::date, required = true)]
    pub valid_from: Option<String>,
    /// Last day in force, on or after the first.
    #[schema(schema_with = super::schema::date, required = true)]
    pub valid_to: Option<String>,
    #[schema(schema_with = super::schema::daily_quota, required = true)]
    pub daily_quota: Option<i64>,
    /// The agreement's document number.
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgreementView {
    pub id: String,
    pub org_code: String,
    pub scenarios: Vec<String>,
    pub record_kinds: Vec<String>,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub daily_quota: i64,
    pub reference: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

fn view(r: AgreementRow) -> AgreementView {
    let ts = super::rfc3339;
    AgreementView {
        scenarios: serde_json::from_str(&r.scenarios).unwrap_or_default(),
        record_kinds: serde_json::from_str(&r.record_kinds).unwrap_or_default(),
        id: r.id,
        org_code: r.org_code,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
        daily_quota: r.daily_quota,
        reference: r.reference,
        created_at: ts(r.created_at),
        revoked_at: r.revoked_at.map(ts),
    }
}

pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    input: AgreementInput,
) -> ServiceResult<AgreementView> {
    access::CREATE_AGREEMENT.require(caller)?;
    let mut errors = Vec::new();
    let org = input
        .org_code
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    if let Err(m) = super::keys::validate_org_code(&org) {
        errors.push(FieldError::new("org_code", "invalid_value", m));
    }
    let known = ctx
        .rules()
        .scenario_names()
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    let scenarios = input.scenarios.clone().unwrap_or_default();
    if scenarios.is_empty() {
        errors.push(FieldError::new(
            "scenarios",
            "required",
            format!("name at least one of profile, {}", known.join(", ")),
        ));
    }
    for (i, s) in scenarios.iter().enumerate() {
        if s != PROFILE && !known.contains(s) {
            errors.push(FieldError::new(
                format!("scenarios[{i}]"),
                "unknown_scenario",
                format!(
                    "'{s}' is not profile or a scenario of the rule set ({})",
                    known.join(", ")
                ),
            ));
        }
    }
    let kinds = input.record_kinds.clone().unwrap_or_default();
    if kinds.is_empty() {
        errors.push(FieldError::new(
            "record_kinds",
            "required",
            format!("name at least one of {}", RecordKind::allowed()),
        ));
    }
    for (i, k) in kinds.iter().enumerate() {
        if RecordKind::parse(k).is_none() {
            errors.push(FieldError::new(
                format!("record_kinds[{i}]"),
                "invalid_value",
                format!("record kind is one of {}", RecordKind::allowed()),
            ));
        }
    }
    let date = |field: &str, v: &Option<String>, errors: &mut Vec<FieldError>| match v
        .as_deref()
        .map(str::trim)
    {
        Some(s) => match crate::domain::iso_date(s) {
            Some(d) => Some(d),
            None => {
                errors.push(FieldError::new(
                    field,
                    "invalid_date",
                    format!("'{s}' is not a date; write YYYY-MM-DD"),
                ));
                None
            }
        },
        None => {
            errors.push(FieldError::new(
                field,
                "required",
                "give the date, YYYY-MM-DD",
            ));
            None
        }
    };
    let from = date("valid_from", &input.valid_from, &mut errors);
    let to = date("valid_to", &input.valid_to, &mut errors);
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            errors.push(FieldError::new(
                "valid_to",
                "before_start",
                "valid_to is before valid_from",
            ));
        }
    }
    let quota = input.daily_quota.unwrap_or(0);
    if !(1..=1_000_000).contains(&quota) {
        errors.push(FieldError::new(
            "daily_quota",
            "out_of_range",
            "daily_quota is 1 to 1,000,000 queries a day",
        ));
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Err(ServiceError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let actor = Actor::new(ctx, caller);
    let row = AgreementRow {
        id: format!("agr_{}", ulid::Ulid::new()),
        org_code: org.clone(),
        scenarios: serde_json::to_string(&scenarios).unwrap_or_default(),
        record_kinds: serde_json::to_string(&kinds).unwrap_or_default(),
        valid_from: from,
        valid_to: to,
        daily_quota: quota,
        reference: input
            .reference
            .map(|r| crate::domain::id_number::masked(r.trim()))
            .filter(|r| !r.is_empty()),
        created_at: actor.at,
        revoked_at: None,
    };
    let saved = row.clone();
    ctx.db
        .run_write(move |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                orgs::ensure(conn, &saved.org_code, &saved.org_code, actor.at)?;
                store_agreements::insert(conn, &saved)?;
                let detail = json!({"agreement_id": saved.id, "org_code": saved.org_code, "scenarios": saved.scenarios, "record_kinds": saved.record_kinds, "valid_to": saved.valid_to, "daily_quota": saved.daily_quota});
                audit::log_signalled(conn, &actor, "agreement.create", detail, (Topic::Agreements, &saved.org_code))
            })
        })
        .await?;
    ctx.memos.heard(Topic::Agreements, &row.org_code);
    Ok(view(row))
}

pub async fn list(
    ctx: &Ctx,
    caller: &Caller,
    org: Option<String>,
) -> ServiceResult<Vec<AgreementView>> {
    access::LIST_AGREEMENTS.require(caller)?;
    let rows = ctx
        .db
        .run(move |conn| store_agreements::of_org(conn, org.as_deref(), false))
        .await?;
    Ok(rows.into_iter().map(view).collect())
}

pub async fn revoke(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<AgreementView> {
    access::REVOKE_AGREEMENT.require(caller)?;
    let id2 = id.to_string();
    let actor = Actor::new(ctx, caller);
    let row = ctx
        .db
        .run_write(move |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                let revoked = store_agreements::revoke(conn, &id2, actor.at)? == 1;
                let row = store_agreements::find(conn, &id2)?;
                if let (true, Some(r)) = (revoked, &row) {
                    audit::log_signalled(
                        conn,
                        &actor,
                        "agreement.revoke",
                        json!({"agreement_id": id2}),
                        (Topic::Agreements, &r.org_code),
                    )?;
                }
                Ok(row)
            })
        })
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("agreement {id}")))?;
    ctx.memos.heard(Topic::Agreements, &row.org_code);
    Ok(view(row))
}

/// Admits a request for `op`: a partner under an agreement in force for `scenario`, with the
/// subject's authorisation and within the day's quota (its scope is returned), anyone else by
/// role. A refusal is logged as `asked`, with its outcome and reason. The one admission of the
/// use cases that partners may call (profiles and checks).
pub async fn admit_request(
    ctx: &Ctx,
    caller: &Caller,
    op: &access::Operation,
    scenario: &str,
    authorization_ref: Option<&str>,
    asked: audit::Entry,
) -> ServiceResult<Option<PartnerScope>> {
    if caller.role == Role::Partner && op.roles.contains(&Role::Partner) {
        let scope = admit_logged(ctx, caller, scenario, authorization_ref, asked).await?;
        return Ok(Some(scope));
    }
    audit::require_logged(ctx, caller, op.roles, op.what, asked).await?;
    Ok(None)
}

/// [`admit`], with a refusal (or the quota, or bad input) in the access log: `entry` says what
/// was asked, and gets the outcome and the reason here.
async fn admit_logged(
    ctx: &Ctx,
    caller: &Caller,
    scenario: &str,
    authorization_ref: Option<&str>,
    mut entry: audit::Entry,
) -> ServiceResult<PartnerScope> {
    let e = match admit(ctx, caller, scenario, authorization_ref).await {
        Ok(scope) => return Ok(scope),
        Err(e) => e,
    };
    let (outcome, reason) = match &e {
        ServiceError::Forbidden(why) => ("denied", why.clone()),
        ServiceError::RateLimited(why, _) => ("over_quota", why.clone()),
        ServiceError::Invalid(errors) => (
            "invalid",
            errors
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => ("invalid", other.to_string()),
    };
    entry.outcome = outcome;
    let mut detail = entry.detail.take().unwrap_or_else(|| json!({}));
    detail["reason"] = json!(reason);
    entry.detail = Some(detail);
    audit::log(ctx, caller, entry).await?;
    Err(e)
}

/// An organisation's agreements not revoked, held in process (`signals`).
/// The scenarios the organisation's agreements in force today cover.
pub async fn covered_scenarios(ctx: &Ctx, org: &str) -> ServiceResult<Vec<String>> {
    let today = ctx.clock.today();
    Ok(agreements_of(ctx, org)
        .await?
        .iter()
        .filter(|a| a.valid_from <= today && today <= a.valid_to)
        .flat_map(|a| serde_json::from_str::<Vec<String>>(&a.scenarios).unwrap_or_default())
        .collect())
}

async fn agreements_of(ctx: &Ctx, org: &str) -> ServiceResult<Arc<Vec<AgreementRow>>> {
    let m = &ctx.memos;
    let loaded = m
        .get_or_load(
            &m.agreements,
            org,
            |_| org.to_string(),
            || async {
                let lookup = org.to_string();
                let rows = ctx
                    .db
                    .run(move |conn| store_agreements::of_org(conn, Some(&lookup), true))
                    .await?;
                ServiceResult::Ok(Some(Arc::new(rows)))
            },
        )
        .await?;
    Ok(loaded.unwrap_or_default())
}

/// Admits a partner's query in `scenario` under an agreement in force, with the subject's
/// authorisation reference, within the day's quota; the scope of what it may see.
pub async fn admit(
    ctx: &Ctx,
    caller: &Caller,
    scenario: &str,
    authorization_ref: Option<&str>,
) -> ServiceResult<PartnerScope> {
    let rows = agreements_of(ctx, &caller.org_code).await?;
    let today = ctx.clock.today();
    let in_force: Vec<&AgreementRow> = rows
        .iter()
        .filter(|a| a.valid_from <= today && today <= a.valid_to)
        .collect();
    if in_force.is_empty() {
        return Err(ServiceError::Forbidden(match rows.first() {
            None => format!(
                "organisation {} has no agreement; partners query only under an agreement",
                caller.org_code
            ),
            Some(a) => format!(
                "no agreement of {} is in force on {today} (the latest runs {} to {})",
                caller.org_code, a.valid_from, a.valid_to
            ),
        }));
    }
    let Some(a) = in_force.iter().find(|a| covers(a, scenario)) else {
        let allowed: Vec<String> = in_force
            .iter()
            .flat_map(|a| serde_json::from_str::<Vec<String>>(&a.scenarios).unwrap_or_default())
            .collect();
        return Err(ServiceError::Forbidden(format!(
            "the agreement of {} does not cover '{scenario}'; it covers {}",
            caller.org_code,
            allowed.join(", ")
        )));
    };
    let auth = authorization_ref.map(str::trim).unwrap_or("");
    if !(2..=100).contains(&auth.chars().count()) {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "authorization_ref",
            if auth.is_empty() { "required" } else { "invalid_length" },
            "a partner gives the reference of the subject's written authorisation for this query (2 to 100 characters)",
        )]));
    }
    // The day's quota, counted per agreement (in Redis across instances when configured).
    let day = today.format("%Y%m%d");
    let key = format!("{}:quota:{}:{day}", ctx.cache_prefix, a.id);
    let ttl = Duration::from_secs(26 * 3600);
    let used = match ctx.cache.incr(&key, ttl).await {
        Some(n) => n,
        None => ctx.local_counters.incr(&key, ttl).await.unwrap_or(0),
    };
    if used > a.daily_quota as u64 {
        let now = ctx.clock.now();
        let cst = now + chrono::TimeDelta::hours(8);
        let secs_today = cst.timestamp().rem_euclid(86_400);
        let retry = (86_400 - secs_today).max(1) as u64;
        return Err(ServiceError::RateLimited(
            format!(
                "the daily quota of {} queries under agreement {} is used up; it resets at midnight (China Standard Time)",
                a.daily_quota, a.id
            ),
            retry,
        ));
    }
    Ok(scope_of(a))
}

fn covers(a: &AgreementRow, scenario: &str) -> bool {
    serde_json::from_str::<Vec<String>>(&a.scenarios)
        .unwrap_or_default()
        .iter()
        .any(|s| s == scenario)
}

fn scope_of(a: &AgreementRow) -> PartnerScope {
    PartnerScope {
        agreement_id: a.id.clone(),
        record_kinds: serde_json::from_str::<Vec<String>>(&a.record_kinds)
            .unwrap_or_default()
            .iter()
            .filter_map(|k| RecordKind::parse(k))
            .collect(),
    }
}

/// The scope of the first of `rows` in force on `day` that covers `scenario` (what [`admit`]
/// admits under, without the authorisation and the quota): for a partner's watch-list events.
pub fn scope_in_force(
    rows: &[AgreementRow],
    scenario: &str,
    day: NaiveDate,
) -> Option<PartnerScope> {
    rows.iter()
        .find(|a| a.valid_from <= day && day <= a.valid_to && covers(a, scenario))
        .map(scope_of)
}
