//! `GET /api/v1/audit/entries`: the access log for auditors (and admins), as JSON or CSV.

use actix_web::{get, web, HttpResponse};

use super::error::{ApiError, Problem};
use super::extract::{Auth, QueryArgs};
use super::AppState;
use crate::service::audit::{self, EntryPage, EntryQuery};

/// Access-log entries by time, with filters; `format=csv` exports them (reading the log is
/// itself logged).
#[utoipa::path(
    tag = "audit",
    params(EntryQuery),
    responses(
        (status = 200, description = "Entries and the next page's cursor; with format=csv, the entries as CSV", content(
            (EntryPage = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, description = "Missing or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor or admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/audit/entries")]
pub async fn list_entries(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    q: QueryArgs<EntryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, csv) = audit::list(&state.ctx, &caller, q.0).await?;
    if csv {
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                "attachment; filename=\"access-log.csv\"",
            ))
            .body(audit::to_csv(&page)))
    } else {
        Ok(HttpResponse::Ok().json(page))
    }
}

/// This module's routes, each registered once: with actix and in the OpenAPI document.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_entries);
}
