//! Access applications (conditional sharing) and special grants.

use actix_web::{get, post, web, HttpResponse};

use super::error::{ApiError, Problem};
use super::extract::{Auth, JsonBody};
use super::AppState;
use crate::service::grants::{self, Decision, DecisionInput, GrantInput, GrantView};

/// Apply for conditional data: scope, purpose, period (officer, system, provider). Pending
/// until an administrator decides.
#[utoipa::path(
    tag = "access",
    request_body = GrantInput,
    responses(
        (status = 201, description = "The application, pending", body = GrantView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not apply", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No purpose, bad scope or period", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/access-applications")]
pub async fn apply(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<GrantInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(grants::apply(&state.ctx, &caller, body).await?))
}

/// The caller's organisation's applications and grants (an admin's: all).
#[utoipa::path(
    tag = "access",
    responses(
        (status = 200, description = "Applications and grants", body = Vec<GrantView>),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a government role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/access-applications")]
pub async fn list(
    state: web::Data<AppState>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(grants::list(&state.ctx, &caller).await?))
}

/// Approve a pending application (admin), with the reason.
#[utoipa::path(
    tag = "access",
    params(("id" = String, Path, description = "Application id, `grt_…`")),
    request_body = DecisionInput,
    responses(
        (status = 200, description = "Approved", body = GrantView),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The application is not pending (already decided)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason, or already decided", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/access-applications/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    JsonBody(body): JsonBody<DecisionInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(grants::decide(&state.ctx, &caller, &id, Decision::Approve, body).await?))
}

/// Reject a pending application (admin), with the reason.
#[utoipa::path(
    tag = "access",
    params(("id" = String, Path, description = "Application id, `grt_…`")),
    request_body = DecisionInput,
    responses(
        (status = 200, description = "Rejected", body = GrantView),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The application is not pending (already decided)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason, or already decided", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/access-applications/{id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    JsonBody(body): JsonBody<DecisionInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(grants::decide(&state.ctx, &caller, &id, Decision::Reject, body).await?))
}

/// Revoke an approved application or a special grant before its period ends (admin), with the
/// reason; it opens nothing from then on.
#[utoipa::path(
    tag = "access",
    params(("id" = String, Path, description = "Grant id, `grt_…`")),
    request_body = DecisionInput,
    responses(
        (status = 200, description = "Revoked", body = GrantView),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such grant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The grant is not in force (not approved, or revoked already)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason, or not in force (pending, rejected, revoked)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/access-grants/{id}/revoke")]
pub async fn revoke(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    JsonBody(body): JsonBody<DecisionInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(grants::decide(&state.ctx, &caller, &id, Decision::Revoke, body).await?))
}

/// Name an organisation for a special record or list (admin).
#[utoipa::path(
    tag = "access",
    request_body = GrantInput,
    responses(
        (status = 201, description = "The grant, in force", body = GrantView),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No record or list named, bad period", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/special-grants")]
pub async fn special(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<GrantInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(grants::special(&state.ctx, &caller, body).await?))
}

/// This module's routes, each registered once: with actix and in the OpenAPI document.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(apply)
        .service(list)
        .service(approve)
        .service(reject)
        .service(revoke)
        .service(special);
}
