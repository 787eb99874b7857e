//! The HTTP API: handlers, extractors, problem+json errors, the OpenAPI document.

pub mod admin;
pub mod audit;
pub mod bulk_checks;
pub mod checks;
pub mod client;
mod contract;
pub mod error;
pub mod extract;
pub mod gate;
pub mod grants;
pub mod health;
pub mod impact;
pub mod objections;
pub mod records;
pub mod repairs;
pub mod subjects;
pub mod watchlists;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};
use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::service::Ctx;
use error::ApiError;

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub pool_connections: IntGauge,
    pub pool_idle: IntGauge,
    /// 1 while the instance listens for other instances' changes (`service::signals`).
    pub signals_listening: IntGauge,
    /// The provincial sync, read from the database at each scrape (so every instance tells the
    /// same, whichever runs the sync).
    pub sync: IntGaugeVec,
    /// Objections past their running deadline, by stage (`review`: with the centre;
    /// `provider`: forwarded), read from the database at each scrape.
    pub objections_overdue: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("creditgate".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request duration").buckets(
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            &["method", "route"],
        )?;
        let pool_connections = IntGauge::new("db_pool_connections", "Open database connections")?;
        let pool_idle = IntGauge::new("db_pool_idle_connections", "Idle database connections")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        let sync = IntGaugeVec::new(
            Opts::new(
                "sync",
                "Provincial sync: lag_seconds since the last successful pull, remaining changes, changes applied and records pushed (by what), stale (1 or 0)",
            ),
            &["what"],
        )?;
        registry.register(Box::new(pool_idle.clone()))?;
        let signals_listening = IntGauge::new(
            "signals_listening",
            "1 while this instance hears other instances' changes; 0: it caches nothing",
        )?;
        registry.register(Box::new(signals_listening.clone()))?;
        registry.register(Box::new(sync.clone()))?;
        let objections_overdue = IntGaugeVec::new(
            Opts::new(
                "objections_overdue",
                "Objections past their running deadline: review (the centre, 5 working days) or provider (forwarded, 3 working days)",
            ),
            &["stage"],
        )?;
        registry.register(Box::new(objections_overdue.clone()))?;
        Ok(Metrics {
            sync,
            objections_overdue,
            registry,
            requests,
            duration,
            pool_connections,
            pool_idle,
            signals_listening,
        })
    }
}

pub struct AppState {
    pub ctx: Ctx,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
    /// `CREDITGATE_TRUSTED_PROXIES`: whose forwarding headers are believed.
    pub proxies: client::TrustedProxies,
    /// `CREDITGATE_PUBLIC_URL`, for verify links.
    pub public_url: Option<String>,
    /// The font of printed reports (`console::pdf`), loaded once at start.
    pub pdf_font: crate::console::pdf::ReportFont,
    /// How the provincial sync is configured (for `/readyz` and `GET /api/v1/admin/sync`).
    pub sync: crate::service::sync::SyncSetup,
    /// The last readiness answer and when it was worked out (`health::READINESS_FRESH`).
    pub readiness:
        tokio::sync::Mutex<Option<(std::time::Instant, crate::service::health::Readiness)>>,
}

/// Counts and times every request by its route pattern (never by the raw path, which may carry
/// a credit code).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        let status = res.status().as_u16().to_string();
        state
            .metrics
            .requests
            .with_label_values(&[method.as_str(), route.as_str(), status.as_str()])
            .inc();
        state
            .metrics
            .duration
            .with_label_values(&[method.as_str(), route.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `Authorization: Bearer <key>`"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "creditgate",
        description = "A city's credit-information query and joint-sanction service. Errors are application/problem+json with `code` and per-field `errors`.",
        license(name = "Apache-2.0")
    ),
    components(schemas(error::Problem, crate::service::FieldErrorDoc)),
    modifiers(&BearerAuth),
    tags(
        (name = "service", description = "Health, readiness, metrics"),
        (name = "records", description = "Credit records from data providers"),
        (name = "subjects", description = "Credit profiles by unified social credit code"),
        (name = "checks", description = "Joint-sanction checks: verdicts, findings with their legal basis, stored verifiable reports"),
        (name = "rules", description = "The active rule set, its history, and the impact analysis of a candidate set"),
        (name = "admin", description = "Organisations and API keys (admin)"),
        (name = "audit", description = "The hash-chained access log (auditors)"),
        (name = "access", description = "Applications for conditional data and special grants"),
        (name = "objections", description = "Objections to records (异议): filed, reviewed by the centre, answered by the provider"),
        (name = "watchlists", description = "Watch lists (自动比对): subjects watched for changes, told by signed webhooks"),
        (name = "bulk-checks", description = "Bulk comparison (批量比对): a roster checked line by line in the background, with a report per line"),
        (name = "repairs", description = "Credit repair (信用修复): applied for after the minimum publicity period, decided by the department that made the finding"),
    )
)]
pub struct ApiDoc;

/// The API's routes, module by module; each module registers each of its handlers once, and
/// that one registration gives both the actix route and the OpenAPI path.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    health::routes(cfg);
    records::routes(cfg);
    subjects::routes(cfg);
    checks::routes(cfg);
    admin::routes(cfg);
    audit::routes(cfg);
    grants::routes(cfg);
    objections::routes(cfg);
    repairs::routes(cfg);
    watchlists::routes(cfg);
    bulk_checks::routes(cfg);
    impact::routes(cfg);
}

/// The OpenAPI document: [`ApiDoc`] (info, schemas, tags) with the paths of [`routes`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let mut doc = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts()
        .1;
    doc.merge(<crate::console::PublicDoc as OpenApi>::openapi());
    contract::add_shared_answers(&mut doc);
    doc
}

/// The OpenAPI document as served at `/openapi.json` (pretty, with a trailing newline), made
/// once.
pub fn openapi_json() -> String {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut s = openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    })
    .clone()
}

async fn openapi_handler() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_json())
}

/// No route took the request: 405 with `Allow` when the path is one of the service's and only
/// the method is wrong, otherwise 404.
async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let allow = gate::allowed_methods(req.path());
    if !allow.is_empty() {
        return Err(ApiError::MethodNotAllowed(
            format!(
                "{} takes {}, not {}",
                req.path(),
                allow.join(", "),
                req.method()
            ),
            allow,
        ));
    }
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// The routes of the service: the API's ([`routes`]), the OpenAPI document and its browser, the
/// answer for an unknown path; and the extractors' error handlers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::invalid("path", "invalid_path", e.to_string()).into()),
    )
    .configure(|cfg| {
        routes(&mut utoipa_actix_web::service_config::ServiceConfig::new(
            cfg,
        ))
    })
    .route("/openapi.json", web::get().to(openapi_handler))
    .service(
        utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").config(
            utoipa_swagger_ui::Config::from("/openapi.json")
                // No badge that would ask validator.swagger.io about the document: offline.
                .validator_url("none")
                .try_it_out_enabled(true),
        ),
    )
    .service(web::redirect("/docs", "/docs/"))
    .default_service(web::to(not_found));
}
