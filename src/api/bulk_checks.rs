//! Bulk comparison (批量比对): a roster uploaded as multipart/form-data, checked in the
//! background; its status, and its result as CSV or XLSX.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::error::{ApiError, Problem};
use super::extract::{Auth, XLSX};
use super::AppState;
use crate::import::Format;
use crate::service::bulk_checks::{self, export, BulkInput, BulkJobView};

/// Bytes a text field of the form may have.
const FIELD_LIMIT: usize = 4096;

/// The form of `POST /api/v1/bulk-checks` (documentation).
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BulkForm {
    /// A CSV (UTF-8) or XLSX whose first row names the column `uscc` (officers: `id_number`
    /// instead); optional columns `scenario` and `authorization_ref` override the fields below
    /// line by line. At most 100,000 lines.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The scenario every line is checked in.
    #[schema(example = "procurement")]
    scenario: String,
    /// Why (2 to 200 characters); it goes into each line's report and access-log entry.
    #[schema(example = "政府采购资格审查")]
    purpose: String,
    /// The caller's file or project number, up to 100 characters.
    #[schema(example = "ZFCG-2026-0457")]
    reference: Option<String>,
    /// Partners: the reference of the subjects' written authorisation.
    authorization_ref: Option<String>,
}

/// Reads the multipart form: its text fields and its file (read as a sheet, off the async
/// threads). The whole body is held to the configured limit.
async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<BulkInput, ApiError> {
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut input = BulkInput::default();
    let mut read = 0usize;
    let malformed = |e: actix_multipart::MultipartError| {
        ApiError::Malformed(format!(
            "not a multipart/form-data body with the parts file, scenario, purpose ({e})"
        ))
    };
    while let Some(field) = form.next().await {
        let mut field = field.map_err(malformed)?;
        let name = field.name().unwrap_or_default().to_string();
        let filename = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let xlsx = field
            .content_type()
            .is_some_and(|m| m.essence_str().eq_ignore_ascii_case(XLSX))
            || filename.ends_with(".xlsx");
        let cap = if name == "file" { limit } else { FIELD_LIMIT };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(malformed)?;
            read += chunk.len();
            if read > limit || bytes.len() + chunk.len() > cap {
                return Err(ApiError::TooLarge(format!(
                    "the form is over the limit ({limit} bytes in all, {FIELD_LIMIT} a text field); split the roster into several jobs"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = || {
            String::from_utf8(bytes.clone()).map_err(|_| {
                ApiError::invalid(&name, "not_utf8", format!("{name} is not UTF-8 text"))
            })
        };
        match name.as_str() {
            "file" => {
                let format = if xlsx { Format::Xlsx } else { Format::Csv };
                let sheet = tokio::task::spawn_blocking(move || {
                    crate::import::read_upload(&bytes, format, "the file")
                        .map_err(|e| format!("{e:#}"))
                })
                .await
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("file reader: {e}")))?;
                input.file = Some(sheet);
            }
            "scenario" => input.scenario = Some(text()?),
            "purpose" => input.purpose = Some(text()?),
            "reference" => input.reference = Some(text()?),
            "authorization_ref" => input.authorization_ref = Some(text()?),
            // Other parts are not part of the form; they are left unread.
            _ => {}
        }
    }
    Ok(input)
}

/// Check a roster in the background: answered at once with the job, its lines checked one by
/// one as `POST /api/v1/checks` checks (each line gets its own report, logged and verifiable);
/// follow it with `GET /api/v1/bulk-checks/{id}`.
#[utoipa::path(
    tag = "bulk-checks",
    request_body(content = BulkForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Queued", body = BulkJobView),
        (status = 400, description = "Not a multipart/form-data body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that does not check; ID numbers from another role than officer; a partner's scenario outside its agreements", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The form is over the body limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No file, a file that cannot be read or has no `uscc` column, more than 100,000 lines; an unknown scenario, no purpose", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/bulk-checks")]
pub async fn submit(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let input = read_form(&req, payload, state.max_body_bytes).await?;
    let job = bulk_checks::submit(&state.ctx, &caller, input).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/bulk-checks/{}", job.id)))
        .json(job))
}

/// A job: its status, counts per verdict and progress.
#[utoipa::path(
    tag = "bulk-checks",
    params(("id" = String, Path, description = "Job id, `bulk_…`")),
    responses(
        (status = 200, description = "The job", body = BulkJobView),
        (status = 404, description = "No such job (or expired), or another organisation's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/bulk-checks/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(bulk_checks::get(&state.ctx, &caller, &id).await?))
}

/// A done job's result as CSV (UTF-8 with a byte order mark): one row per input line, in input
/// order: `line`, `uscc` (or `id_number`, masked), `verdict` (or `rejected`), `reason`,
/// `measures`, `report_no`.
#[utoipa::path(
    tag = "bulk-checks",
    params(("id" = String, Path, description = "Job id, `bulk_…`")),
    responses(
        (status = 200, description = "The result", body = String, content_type = "text/csv"),
        (status = 404, description = "No such job (or expired), or another organisation's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not done yet: the job as it stands in `current`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/bulk-checks/{id}/result.csv")]
pub async fn result_csv(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (job, lines) = bulk_checks::result(&state.ctx, &caller, &id).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}.csv\"", job.id),
        ))
        .body(export::csv(&job, &lines)))
}

/// The same result as an XLSX workbook.
#[utoipa::path(
    tag = "bulk-checks",
    params(("id" = String, Path, description = "Job id, `bulk_…`")),
    responses(
        (status = 200, description = "The result", body = super::watchlists::FileBytes, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 404, description = "No such job (or expired), or another organisation's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not done yet: the job as it stands in `current`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/bulk-checks/{id}/result.xlsx")]
pub async fn result_xlsx(
    state: web::Data<AppState>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (job, lines) = bulk_checks::result(&state.ctx, &caller, &id).await?;
    let book = tokio::task::spawn_blocking(move || export::xlsx(&job, &lines).map(|b| (job.id, b)))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("result workbook: {e}")))?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(HttpResponse::Ok()
        .content_type(XLSX)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}.xlsx\"", book.0),
        ))
        .body(book.1))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(submit)
        .service(get)
        .service(result_csv)
        .service(result_xlsx);
}
