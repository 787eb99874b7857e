//! Credit repair (信用修复, NDRC Order 36): applications recorded by the department that made the
//! finding or by the centre, decided by the department (谁认定、谁修复).

use actix_web::{get, post, web, HttpResponse};

use super::error::{ApiError, Problem};
use super::extract::{Auth, JsonBody, QueryArgs};
use super::AppState;
use crate::service::lifecycle::repairs::{
    self, RepairDecisionInput, RepairInput, RepairList, RepairListQuery, RepairReadQuery,
    RepairView,
};

/// Record an application to repair a record (the provider that owns it, or admin). Accepted
/// once the record's minimum publicity period has passed; the decision is due 5 working days
/// after the application is received.
#[utoipa::path(
    tag = "repairs",
    request_body = RepairInput,
    responses(
        (status = 201, description = "Accepted, with decision_due", body = RepairView),
        (status = 403, description = "Another department's record: it decides its repair (谁认定、谁修复)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such record, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`repair_too_early` (naming the first day a repair may be applied for), `not_repairable` (the periods do not let it be repaired; revoked; repaired; past its publicity), `repair_pending`, or a field's problem", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/repairs")]
pub async fn apply(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<RepairInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(repairs::apply(&state.ctx, &caller, body).await?))
}

/// Decide an application (the provider that owns the record, or admin). Approved: from that
/// moment no check uses the record, and only admins and auditors see it (`effect: repaired`).
#[utoipa::path(
    tag = "repairs",
    params(("id" = String, Path, description = "Repair id, `rep_…`")),
    request_body = RepairDecisionInput,
    responses(
        (status = 200, description = "The application, decided", body = RepairView),
        (status = 404, description = "No such application, or one about another department's record", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided: `current` holds the application", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown outcome, a reason shorter than 10 characters, `on` in the future or before the application", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/repairs/{id}/decision")]
pub async fn decide(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    JsonBody(body): JsonBody<RepairDecisionInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(repairs::decide(&state.ctx, &caller, &id, body).await?))
}

/// One application (admin, auditor, the provider that owns the record).
#[utoipa::path(
    tag = "repairs",
    params(("id" = String, Path, description = "Repair id, `rep_…`"), RepairReadQuery),
    responses(
        (status = 200, description = "The application", body = RepairView),
        (status = 404, description = "No such application, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/repairs/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    q: QueryArgs<RepairReadQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(
        HttpResponse::Ok()
            .json(repairs::get(&state.ctx, &caller, &id, q.purpose.as_deref()).await?),
    )
}

/// Applications the caller may see, in the order received.
#[utoipa::path(
    tag = "repairs",
    params(RepairListQuery),
    responses((status = 200, description = "A page of applications", body = RepairList)),
    security(("bearer" = []))
)]
#[get("/api/v1/repairs")]
pub async fn list(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    q: QueryArgs<RepairListQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(repairs::list(&state.ctx, &caller, q.0).await?))
}

/// This module's routes, each registered once: with actix and in the OpenAPI document.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(apply)
        .service(list)
        .service(get)
        .service(decide);
}
