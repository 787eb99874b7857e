//! Objections (异议, the governing measures Art. 21): filed by a using department or recorded by
//! the centre, reviewed by the centre, answered by the providing department.

use actix_web::{get, post, web, HttpResponse};

use super::error::{ApiError, Problem};
use super::extract::{Auth, JsonBody, QueryArgs};
use super::AppState;
use crate::service::lifecycle::objections::{
    self, ListQuery, ObjectionInput, ObjectionList, ObjectionView, ReadQuery, StepInput,
};

/// File an objection to a record (officer, system; admin for a subject who objected in person
/// or through 信用中国). The record is marked `under_objection` at once; the centre's review is
/// due 5 working days after the filing day (Asia/Shanghai, the rule set's calendar).
#[utoipa::path(
    tag = "objections",
    request_body = ObjectionInput,
    responses(
        (status = 201, description = "Filed: status open, with review_due", body = ObjectionView),
        (status = 404, description = "No such record, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Grounds shorter than 10 characters, a date in the future, received_on from a role other than admin, or an objection to the record already open (field record_id)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/objections")]
pub async fn file(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<ObjectionInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(objections::file(&state.ctx, &caller, body).await?))
}

/// The centre's decision (admin): `confirmed` or `corrected` close the objection (`corrected`
/// needs a newer version of the record received since filing); `forwarded` passes it to the
/// providing department, whose answer is due 3 working days after `on`.
#[utoipa::path(
    tag = "objections",
    params(("id" = String, Path, description = "Objection id, `obj_…`")),
    request_body = StepInput,
    responses(
        (status = 200, description = "The objection after the step", body = ObjectionView),
        (status = 404, description = "No such objection", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in the objection's state (or no corrected version yet): `current` holds the objection as it stands", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown outcome, a reason shorter than 10 characters, `on` in the future or before filing", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/objections/{id}/decision")]
pub async fn decide(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    JsonBody(body): JsonBody<StepInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(objections::step(&state.ctx, &caller, &id, false, body).await?))
}

/// The providing department's answer to a forwarded objection (the provider that owns the
/// record, or admin): `confirmed`, `corrected` (a newer version received since filing) or
/// `revoked` (the record's revocation received); it closes the objection.
#[utoipa::path(
    tag = "objections",
    params(("id" = String, Path, description = "Objection id, `obj_…`")),
    request_body = StepInput,
    responses(
        (status = 200, description = "The objection, closed, with the answer", body = ObjectionView),
        (status = 404, description = "No such objection, or one about another department's record", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not forwarded (or closed), or the correction or revocation has not arrived: `current` holds the objection", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown outcome, a reason shorter than 10 characters, `on` in the future or before forwarding", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/objections/{id}/answer")]
pub async fn answer(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    JsonBody(body): JsonBody<StepInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(objections::step(&state.ctx, &caller, &id, true, body).await?))
}

/// One objection with its history and written answer (the filer's organisation, the provider
/// concerned, admins and auditors).
#[utoipa::path(
    tag = "objections",
    params(("id" = String, Path, description = "Objection id, `obj_…`"), ReadQuery),
    responses(
        (status = 200, description = "The objection", body = ObjectionView),
        (status = 404, description = "No such objection, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/objections/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    q: QueryArgs<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(objections::get(&state.ctx, &caller, &id, q.purpose.as_deref()).await?))
}

/// Objections the caller may see, in filing order; `overdue=true` lists those whose running
/// deadline has passed.
#[utoipa::path(
    tag = "objections",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of objections", body = ObjectionList),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/objections")]
pub async fn list(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    q: QueryArgs<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(objections::list(&state.ctx, &caller, q.0).await?))
}

/// This module's routes, each registered once: with actix and in the OpenAPI document.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(file)
        .service(list)
        .service(get)
        .service(decide)
        .service(answer);
}
