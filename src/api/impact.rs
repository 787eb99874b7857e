//! Impact analysis of a candidate rule set (admin): the rules folder uploaded as a zip or tar,
//! evaluated in the background against the set in use; the job's progress and counts, and the
//! subjects whose verdict changes as CSV or JSON.

use actix_web::{get, post, web, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, Problem};
use super::extract::{Auth, QueryArgs};
use super::watchlists::FileBytes;
use super::AppState;
use crate::service::impact;
use crate::service::impact::jobs::{self, ImpactJobView};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImpactQuery {
    /// Only this scenario (default: every scenario both sets have).
    pub scenario: Option<String>,
}

/// Analyse a candidate rule set: the body is the rules folder as a zip or an (uncompressed)
/// tar, with `ruleset.yaml` at its top or in one folder. It is checked by the same strict
/// loader as a reload and never made active; every subject held is evaluated under the set in
/// use and the candidate in the background. Follow the job with
/// `GET /api/v1/admin/rules/impact/{id}`.
#[utoipa::path(
    tag = "rules",
    params(ImpactQuery),
    request_body(content = FileBytes, content_type = "application/octet-stream", description = "The rules folder as a zip or an uncompressed tar (sent as application/octet-stream, application/zip or application/x-tar: the bytes decide)"),
    responses(
        (status = 202, description = "Queued", body = ImpactJobView),
        (status = 400, description = "The body cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a zip or tar of a rules folder, or the candidate does not load: every error, naming the rule file and line; a scenario not in both sets", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/rules/impact")]
pub async fn submit(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    query: QueryArgs<ImpactQuery>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limit = state.max_body_bytes;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::Malformed(format!("the body cannot be read: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(format!(
                "the archive is over the limit ({limit} bytes); upload the rules folder only"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let job = jobs::submit(&state.ctx, &caller, body, query.0.scenario).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/admin/rules/impact/{}", job.id)))
        .json(job))
}

/// An analysis: its status, progress, and the report so far (the counts per scenario, the
/// rule-set diff).
#[utoipa::path(
    tag = "rules",
    params(("id" = String, Path, description = "Job id, `imp_…`")),
    responses(
        (status = 200, description = "The job", body = ImpactJobView),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job (or expired)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/admin/rules/impact/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(jobs::get(&state.ctx, &caller, &id).await?))
}

/// A done analysis's subjects whose verdict changes, as CSV (UTF-8 with a byte order mark):
/// `scenario`, `uscc`, `reg_no`, `id_number` (masked), `name`, `before`, `after`, `added`,
/// `removed`, `measures_after` (measure ids, `;`-separated).
#[utoipa::path(
    tag = "rules",
    params(("id" = String, Path, description = "Job id, `imp_…`")),
    responses(
        (status = 200, description = "The subjects", body = String, content_type = "text/csv"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job (or expired)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not done yet: the job as it stands in `current`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/admin/rules/impact/{id}/result.csv")]
pub async fn result_csv(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (job, changes) = jobs::result(&state.ctx, &caller, &id).await?;
    let mut out = String::from("\u{feff}");
    out.push_str(impact::CSV_HEADER);
    for c in &changes {
        out.push_str(&impact::csv_line(c));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}.csv\"", job.id),
        ))
        .body(out))
}

/// The same as JSON: the job with its report, and the subjects.
#[utoipa::path(
    tag = "rules",
    params(("id" = String, Path, description = "Job id, `imp_…`")),
    responses(
        (status = 200, description = "The job and the subjects", body = ImpactResult),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job (or expired)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not done yet: the job as it stands in `current`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/admin/rules/impact/{id}/result.json")]
pub async fn result_json(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (job, changed) = jobs::result(&state.ctx, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(ImpactResult { job, changed }))
}

/// A done analysis with its subjects.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ImpactResult {
    pub job: ImpactJobView,
    pub changed: Vec<impact::Change>,
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(submit)
        .service(get)
        .service(result_csv)
        .service(result_json);
}
