//! Watch lists (自动比对): made by systems and partners (and admins), each with a webhook target
//! from `CREDITGATE_WEBHOOK_ALLOW` and a signing secret shown once.

use actix_web::{delete, get, post, put, web, HttpResponse};

use super::error::{ApiError, Problem};
use super::extract::{Auth, CodesBody, JsonBody, QueryArgs};
use super::AppState;
use crate::service::watchlists::deliveries::{DeliveryList, DeliveryQuery, DeliveryView};
use crate::service::watchlists::{
    self, CreatedWatchlist, SubjectsChange, SubjectsInput, SubjectsOp, WatchlistInput,
    WatchlistList, WatchlistView,
};

/// Make a watch list. The answer holds its signing secret, shown this once: every event sent to
/// `webhook_url` is signed with it (`webhook-id`, `webhook-timestamp`, `webhook-signature`, the
/// Standard Webhooks convention). A partner watches only scenarios its agreements cover.
#[utoipa::path(
    tag = "watchlists",
    request_body = WatchlistInput,
    responses(
        (status = 201, description = "Made; `secret` is shown only here", body = CreatedWatchlist),
        (status = 422, description = "No name, a target outside CREDITGATE_WEBHOOK_ALLOW or not https, an unknown scenario", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/watchlists")]
pub async fn create(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<WatchlistInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(watchlists::create(&state.ctx, &caller, body).await?))
}

/// The organisation's watch lists (admins: every list), without their secrets.
#[utoipa::path(
    tag = "watchlists",
    responses((status = 200, description = "The lists", body = WatchlistList)),
    security(("bearer" = []))
)]
#[get("/api/v1/watchlists")]
pub async fn list(
    state: web::Data<AppState>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(watchlists::list(&state.ctx, &caller).await?))
}

/// One watch list, with how many subjects are on it.
#[utoipa::path(
    tag = "watchlists",
    params(("id" = String, Path, description = "Watch list id, `wl_…`")),
    responses(
        (status = 200, description = "The list", body = WatchlistView),
        (status = 404, description = "No such list, or another organisation's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/watchlists/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(watchlists::get(&state.ctx, &caller, &id).await?))
}

/// Delete a watch list: no more events; its subjects are forgotten.
#[utoipa::path(
    tag = "watchlists",
    params(("id" = String, Path, description = "Watch list id, `wl_…`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such list, or another organisation's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/watchlists/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    watchlists::delete(&state.ctx, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn subjects(
    state: web::Data<AppState>,
    caller: crate::domain::Caller,
    id: &str,
    op: SubjectsOp,
    body: CodesBody,
) -> Result<HttpResponse, ApiError> {
    let change = watchlists::change_subjects(&state.ctx, &caller, id, op, body.0).await?;
    Ok(HttpResponse::Ok().json(change))
}

/// Replace the list's subjects by these codes (at most 100,000).
#[utoipa::path(
    tag = "watchlists",
    params(("id" = String, Path, description = "Watch list id, `wl_…`")),
    request_body(
        description = "The codes: JSON, or a CSV (UTF-8) or XLSX file whose first row names the column `uscc` (errors then name the file's line, `line[n]`)",
        content(
            (SubjectsInput = "application/json"),
            (String = "text/csv", example = "uscc\n91110000MA00000152\n"),
            (FileBytes = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )
    ),
    responses(
        (status = 200, description = "The list's subjects now, and the difference", body = SubjectsChange),
        (status = 404, description = "No such list, or another organisation's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A code that fails its check character (field `uscc[i]`), none, or more than 100,000", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/watchlists/{id}/subjects")]
pub async fn replace_subjects(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: CodesBody,
) -> Result<HttpResponse, ApiError> {
    subjects(state, caller, &id, SubjectsOp::Replace, body).await
}

/// Add these codes to the list (the list holds at most 100,000).
#[utoipa::path(
    tag = "watchlists",
    params(("id" = String, Path, description = "Watch list id, `wl_…`")),
    request_body(
        description = "The codes: JSON, or a CSV (UTF-8) or XLSX file whose first row names the column `uscc` (errors then name the file's line, `line[n]`)",
        content(
            (SubjectsInput = "application/json"),
            (String = "text/csv", example = "uscc\n91110000MA00000152\n"),
            (FileBytes = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )
    ),
    responses(
        (status = 200, description = "The list's subjects now, and how many were added", body = SubjectsChange),
        (status = 404, description = "No such list, or another organisation's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A code that fails its check character (field `uscc[i]`), none, or a list over 100,000", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/watchlists/{id}/subjects")]
pub async fn add_subjects(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: CodesBody,
) -> Result<HttpResponse, ApiError> {
    subjects(state, caller, &id, SubjectsOp::Add, body).await
}

/// Remove these codes from the list.
#[utoipa::path(
    tag = "watchlists",
    params(("id" = String, Path, description = "Watch list id, `wl_…`")),
    request_body(
        description = "The codes: JSON, or a CSV (UTF-8) or XLSX file whose first row names the column `uscc` (errors then name the file's line, `line[n]`)",
        content(
            (SubjectsInput = "application/json"),
            (String = "text/csv", example = "uscc\n91110000MA00000152\n"),
            (FileBytes = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )
    ),
    responses(
        (status = 200, description = "The list's subjects now, and how many were removed", body = SubjectsChange),
        (status = 404, description = "No such list, or another organisation's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A code that fails its check character (field `uscc[i]`), or none", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/watchlists/{id}/subjects")]
pub async fn remove_subjects(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: CodesBody,
) -> Result<HttpResponse, ApiError> {
    subjects(state, caller, &id, SubjectsOp::Remove, body).await
}

/// The list's events and how their delivery stands, newest first. An event is sent at least
/// once under its id (`webhook-id`); a failed attempt is retried with exponential backoff and
/// jitter for 24 hours, then the event is `failed` (and can be sent again with the redeliver
/// call). The events tell verdicts: the read states a purpose and is logged.
#[utoipa::path(
    tag = "watchlists",
    params(("id" = String, Path, description = "Watch list id, `wl_…`"), DeliveryQuery),
    responses(
        (status = 200, description = "A page of events, with counts per state", body = DeliveryList),
        (status = 404, description = "No such list, or another organisation's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No purpose, an unknown state, a limit out of 1 to 500", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/watchlists/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
    q: QueryArgs<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(watchlists::deliveries::list(&state.ctx, &caller, &id, q.0).await?))
}

/// Send an event again, under the same id, with a new 24 hours of retries (after a receiver was
/// fixed, or to replay one it lost).
#[utoipa::path(
    tag = "watchlists",
    params(
        ("id" = String, Path, description = "Watch list id, `wl_…`"),
        ("event" = String, Path, description = "Event id, `evt_…`"),
    ),
    responses(
        (status = 202, description = "Queued; it goes out within a second", body = DeliveryView),
        (status = 404, description = "No such list or event, or another organisation's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/watchlists/{id}/deliveries/{event}/redeliver")]
pub async fn redeliver(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, event) = path.into_inner();
    let v = watchlists::deliveries::redeliver(&state.ctx, &caller, &id, &event).await?;
    Ok(HttpResponse::Accepted().json(v))
}

/// A file's bytes, as an upload is documented.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBytes(#[allow(dead_code)] Vec<u8>);

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(remove)
        .service(replace_subjects)
        .service(add_subjects)
        .service(remove_subjects)
        .service(deliveries)
        .service(redeliver);
}
