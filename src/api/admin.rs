//! `/api/v1/admin/`: organisations and API keys (admin only).

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, Problem};
use super::extract::{Auth, JsonBody, QueryArgs};
use super::AppState;
use crate::service::admin::{self, KeyInput, KeyView, NewKeyView, OrgInput, OrgView};
use crate::service::agreements::{self, AgreementInput, AgreementView};
use crate::service::sync::{self, SyncView};

/// The organisations (departments, systems, banks and insurers).
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "All organisations", body = Vec<OrgView>),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/admin/orgs")]
pub async fn list_orgs(
    state: web::Data<AppState>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(admin::list_orgs(&state.ctx, &caller).await?))
}

/// Create an organisation (201); an existing code is answered as it is (200).
#[utoipa::path(
    tag = "admin",
    request_body = OrgInput,
    responses(
        (status = 201, description = "Created", body = OrgView),
        (status = 200, description = "Already there", body = OrgView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid code or name", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/orgs")]
pub async fn create_org(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<OrgInput>,
) -> Result<HttpResponse, ApiError> {
    let (created, org) = admin::create_org(&state.ctx, &caller, body).await?;
    Ok(if created {
        HttpResponse::Created().json(org)
    } else {
        HttpResponse::Ok().json(org)
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeysQuery {
    /// Only this organisation's keys.
    pub org: Option<String>,
}

/// The keys, newest first: never their secrets or hashes.
#[utoipa::path(
    tag = "admin",
    params(KeysQuery),
    responses(
        (status = 200, description = "Keys", body = Vec<KeyView>),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/admin/keys")]
pub async fn list_keys(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    q: QueryArgs<KeysQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(admin::list_keys(&state.ctx, &caller, q.0.org).await?))
}

/// Create a key for an organisation and role (the organisation is made if needed); the secret
/// is in this answer only.
#[utoipa::path(
    tag = "admin",
    request_body = KeyInput,
    responses(
        (status = 201, description = "The new key, shown once", body = NewKeyView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid organisation code or role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/keys")]
pub async fn create_key(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<KeyInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(admin::create_key(&state.ctx, &caller, body).await?))
}

/// Revoke a key: refused from the next request on, on every instance.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Key id, `key_…`")),
    responses(
        (status = 200, description = "The key, revoked", body = KeyView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The caller's own key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/keys/{id}/revoke")]
pub async fn revoke_key(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(admin::revoke_key(&state.ctx, &caller, &id).await?))
}

/// Replace a key by a new one with the same organisation, role and label; the old one is
/// revoked in the same transaction.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Key id, `key_…`")),
    responses(
        (status = 201, description = "The new key, shown once", body = NewKeyView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The key is already revoked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/keys/{id}/rotate")]
pub async fn rotate_key(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(admin::rotate_key(&state.ctx, &caller, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgreementsQuery {
    /// Only this organisation's agreements.
    pub org: Option<String>,
}

/// Partner agreements, newest first.
#[utoipa::path(
    tag = "admin",
    params(AgreementsQuery),
    responses(
        (status = 200, description = "Agreements", body = Vec<AgreementView>),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/admin/agreements")]
pub async fn list_agreements(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    q: QueryArgs<AgreementsQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(agreements::list(&state.ctx, &caller, q.0.org).await?))
}

/// Make an agreement for a partner: scenarios (`profile` for credit profiles), record kinds,
/// validity dates, daily quota.
#[utoipa::path(
    tag = "admin",
    request_body = AgreementInput,
    responses(
        (status = 201, description = "The agreement", body = AgreementView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown scenario or kind, bad dates or quota", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/agreements")]
pub async fn create_agreement(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<AgreementInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(agreements::create(&state.ctx, &caller, body).await?))
}

/// End an agreement now.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Agreement id, `agr_…`")),
    responses(
        (status = 200, description = "The agreement, revoked", body = AgreementView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agreement", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/agreements/{id}/revoke")]
pub async fn revoke_agreement(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(agreements::revoke(&state.ctx, &caller, &id).await?))
}

/// The provincial sync: status (`off`, `never`, `ok`, `failing`, `stale`), cursor, lag, last
/// success and last error, what was applied and pushed.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The sync's state", body = SyncView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/admin/sync")]
pub async fn sync_status(
    state: web::Data<AppState>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sync::status_for(&state.ctx, &caller, &state.sync).await?))
}

/// This module's routes, each registered once: with actix and in the OpenAPI document.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_orgs)
        .service(create_org)
        .service(list_keys)
        .service(create_key)
        .service(revoke_key)
        .service(rotate_key)
        .service(list_agreements)
        .service(create_agreement)
        .service(revoke_agreement)
        .service(sync_status);
}
