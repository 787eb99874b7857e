//! The joint-sanction checks (API.md "Checks") and the rule set (API.md "Rules").

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, Problem};
use super::extract::{Auth, JsonBody, QueryArgs};
use super::AppState;
use crate::domain::FieldError;
use crate::service::checks::{
    self, BatchCheckRequest, BatchReports, CheckRequest, FeedbackInput, FeedbackView, Report,
    RulesView, Verification, MAX_BATCH,
};
use crate::service::rules::{self as rules_service, ReloadError, ReloadOutcome, RulesHistory};

/// Check a subject in a scenario (roles officer, system, admin).
///
/// Every record is evaluated against the active rule set as of `as_of`; the report is stored
/// under its report number with the records it used and a digest for printed copies.
#[utoipa::path(
    tag = "checks",
    request_body = CheckRequest,
    responses(
        (status = 201, description = "The stored report", body = Report),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not run checks (partners need an agreement)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown scenario (the known ones are named), invalid code, missing purpose", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/checks")]
pub async fn create_check(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<CheckRequest>,
) -> Result<HttpResponse, ApiError> {
    let report = checks::check(&state.ctx, &caller, body).await?;
    Ok(HttpResponse::Created().json(report))
}

/// Check up to 500 subjects in one scenario, such as the members of a consortium (财库〔2016〕125号:
/// one member's bar bars the consortium) or every bidder of a project.
#[utoipa::path(
    tag = "checks",
    request_body = BatchCheckRequest,
    responses(
        (status = 200, description = "One report per valid subject; errors by index for the others", body = BatchReports),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not run checks", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More than 500 subjects", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown scenario, missing purpose, no subjects", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/checks/batch")]
pub async fn create_batch(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<BatchCheckRequest>,
) -> Result<HttpResponse, ApiError> {
    if body.subjects.len() > MAX_BATCH {
        return Err(ApiError::TooLarge(format!(
            "{} subjects in one call; send at most {MAX_BATCH}",
            body.subjects.len()
        )));
    }
    let out = checks::check_batch(&state.ctx, &caller, body).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// A stored report (the requesting organisation, admins, auditors).
#[utoipa::path(
    tag = "checks",
    params(("report_no" = String, Path, description = "Report number, `CR-YYYYMMDD-NNNNNN`")),
    responses(
        (status = 200, description = "The report as it was answered", body = Report),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such report, or another organisation's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/checks/{report_no}")]
pub async fn get_check(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    report_no: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let report = checks::get_report(&state.ctx, &caller, &report_no).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DigestQuery {
    /// The digest printed on the report (`sha256:` and 64 hex digits).
    #[param(required = true, value_type = String, pattern = r"^\s*sha256:[0-9a-fA-F]{64}\s*$")]
    pub digest: Option<String>,
}

/// Verify a printed report: is this digest the stored report's, and is the stored report intact?
#[utoipa::path(
    tag = "checks",
    params(("report_no" = String, Path, description = "Report number"), DigestQuery),
    responses(
        (status = 200, description = "Whether the digest is the report's: with the verdict and time when it is; only `valid: false` and the number when it is not, or when no report has the number", body = Verification),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No digest given", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/checks/{report_no}/verify")]
pub async fn verify_check(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    report_no: web::Path<String>,
    q: QueryArgs<DigestQuery>,
) -> Result<HttpResponse, ApiError> {
    let v = checks::verify(&state.ctx, &caller, &report_no, q.digest.as_deref()).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// The implementing department reports what it did with a report (响应—反馈).
#[utoipa::path(
    tag = "checks",
    params(("report_no" = String, Path, description = "Report number")),
    request_body = FeedbackInput,
    responses(
        (status = 201, description = "Feedback recorded", body = FeedbackView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not give feedback", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such report, or another organisation's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown action", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/checks/{report_no}/feedback")]
pub async fn post_feedback(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    report_no: web::Path<String>,
    JsonBody(body): JsonBody<FeedbackInput>,
) -> Result<HttpResponse, ApiError> {
    let f = checks::feedback(&state.ctx, &caller, &report_no, body).await?;
    Ok(HttpResponse::Created().json(f))
}

/// The active rule set: version, digest, scenarios and each measure with its basis.
#[utoipa::path(
    tag = "rules",
    responses(
        (status = 200, description = "The active rule set", body = RulesView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/rules")]
pub async fn get_rules(
    state: web::Data<AppState>,
    Auth(_caller): Auth,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(checks::rules_view(&state.ctx.rules())))
}

/// Every rule set that was in use, oldest first: from when to when, how it was activated and
/// by whom, its digest, and what changed from the set before it (measures, bases, lists,
/// periods, calendars).
#[utoipa::path(
    tag = "rules",
    responses(
        (status = 200, description = "The rule history", body = RulesHistory),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/rules/history")]
pub async fn get_rules_history(
    state: web::Data<AppState>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let history = rules_service::history(&state.ctx, &caller).await?;
    Ok(HttpResponse::Ok().json(history))
}

/// Load the rule files again (admin). A set with any error is refused with every error, and
/// the active set stays.
#[utoipa::path(
    tag = "rules",
    responses(
        (status = 200, description = "The new set is active", body = ReloadOutcome),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The files are not valid: every error, as `file:line` in `field`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/rules/reload")]
pub async fn reload_rules(
    state: web::Data<AppState>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    crate::service::access::RELOAD_RULES.require(&caller)?;
    match rules_service::reload(&state.ctx, &caller).await {
        Ok(outcome) => Ok(HttpResponse::Ok().json(outcome)),
        Err(ReloadError::Invalid(errors)) => Err(ApiError::Invalid(
            errors
                .into_iter()
                .map(|e| {
                    let at = match e.line {
                        Some(l) => format!("{}:{l}", e.file),
                        None => e.file.clone(),
                    };
                    FieldError::new(at, "rule_file_invalid", e.reason)
                })
                .collect(),
        )),
        Err(ReloadError::Failed(e)) => Err(e.into()),
    }
}

/// This module's routes, each registered once: with actix and in the OpenAPI document.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_batch)
        .service(verify_check)
        .service(post_feedback)
        .service(get_check)
        .service(create_check)
        .service(get_rules)
        .service(get_rules_history)
        .service(reload_rules);
}
