//! `POST /api/v1/records/batch`, `GET /api/v1/records/{id}`.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, Problem};
use super::extract::{Auth, JsonBody, QueryArgs};
use super::AppState;
use crate::service::ingest::{self, BatchResult, RecordInput, Submitter};
use crate::service::query::{self, RecordView};

/// At most this many records per call (API.md).
pub const MAX_BATCH: usize = 1000;

/// A batch of records. Each item is validated on its own: a bad item is rejected with its
/// errors and never blocks the others.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 1000 records.
    #[schema(value_type = Vec<RecordInput>, min_items = 1, max_items = 1000)]
    pub records: Vec<Value>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PurposeQuery {
    /// Why the data is read (2 to 200 characters, not counting spaces around it); it goes into
    /// the access log.
    /// Required (`api::contract` marks it: utoipa drops `required` beside `schema_with`).
    #[param(schema_with = crate::service::schema::purpose)]
    pub purpose: Option<String>,
    /// Partners: the reference of the subject's written authorisation for this query.
    pub authorization_ref: Option<String>,
}

/// Submit credit records (roles provider, admin).
///
/// Idempotent by (source code, `source_record_id`): the same content again is `unchanged`, a
/// higher `version` replaces the record (earlier versions are kept), a lower or equal version
/// with other content is rejected as `stale_version`.
#[utoipa::path(
    tag = "records",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "Per-item results in input order", body = BatchResult),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not submit", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit or more than 1000 records", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No records or wrong shape", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/records/batch")]
pub async fn submit_batch(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<BatchRequest>,
) -> Result<HttpResponse, ApiError> {
    if body.records.is_empty() {
        return Err(ApiError::invalid(
            "records",
            "required",
            "send 1 to 1000 records",
        ));
    }
    if body.records.len() > MAX_BATCH {
        return Err(ApiError::TooLarge(format!(
            "{} records in one call; send at most {MAX_BATCH}",
            body.records.len()
        )));
    }
    let result = ingest::ingest_batch(&state.ctx, &Submitter { caller }, body.records).await?;
    Ok(HttpResponse::Ok().json(result))
}

/// One record, as far as the caller may see it.
#[utoipa::path(
    tag = "records",
    params(("id" = String, Path, description = "Record id, `rec_…`"), PurposeQuery),
    responses(
        (status = 200, description = "The record", body = RecordView),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not read records", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such record, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing purpose", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/records/{id}")]
pub async fn get_record(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    q: QueryArgs<PurposeQuery>,
) -> Result<HttpResponse, ApiError> {
    let view =
        query::get_record(&state.ctx, &caller, id.into_inner(), q.purpose.as_deref()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// This module's routes, each registered once: with actix and in the OpenAPI document.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(submit_batch).service(get_record);
}
