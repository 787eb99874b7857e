//! `GET /api/v1/subjects/{uscc}`.

use actix_web::{get, web, HttpResponse};

use super::error::{ApiError, Problem};
use super::extract::{Auth, QueryArgs};
use super::records::PurposeQuery;
use super::AppState;
use crate::service::query::{self, Profile};

/// A subject's credit profile: the subject and the records the caller may see.
#[utoipa::path(
    tag = "subjects",
    params(("uscc" = String, Path, description = "Unified social credit code"), PurposeQuery),
    responses(
        (status = 200, description = "The profile", body = Profile),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not read profiles, or outside the partner's agreement (the reason is given)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's rate or the agreement's daily quota (Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Valid code, no subject known", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid code or missing purpose", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/subjects/{uscc}")]
pub async fn get_subject(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    uscc: web::Path<String>,
    q: QueryArgs<PurposeQuery>,
) -> Result<HttpResponse, ApiError> {
    let profile = query::subject_profile(
        &state.ctx,
        &caller,
        &uscc,
        q.purpose.as_deref(),
        q.authorization_ref.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(profile))
}

/// This module's routes, each registered once: with actix and in the OpenAPI document.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_subject);
}
