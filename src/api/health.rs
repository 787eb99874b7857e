//! `/healthz`, `/readyz`, `/metrics`: no key needed.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::service::health::{self, Readiness};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` while the process runs.
    pub status: String,
}

/// 200 while the process runs.
#[utoipa::path(tag = "service", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// 200 when the database answers (a cache that is down, or provincial data older than
/// `CREDITGATE_SYNC_STALE_AFTER`, is reported as degraded, still 200: the service answers from
/// what it has); 503 when the database does not. Anyone may ask, so the answer is worked out at
/// most once a second and shared, and holds no internal error text.
#[utoipa::path(tag = "service", responses(
    (status = 200, description = "Ready or degraded", body = Readiness),
    (status = 503, description = "The database does not answer", body = Readiness),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let body = {
        let mut last = state.readiness.lock().await;
        match &*last {
            Some((at, r)) if at.elapsed() < READINESS_FRESH => r.clone(),
            _ => {
                let r = health::readiness(&state.ctx, &state.sync).await;
                *last = Some((std::time::Instant::now(), r.clone()));
                r
            }
        }
    };
    if body.answering() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// How long one readiness answer is shared.
pub const READINESS_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Prometheus text format.
#[utoipa::path(tag = "service", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    use prometheus::Encoder;
    let pool = state.ctx.db.pool().state();
    state.metrics.pool_connections.set(pool.connections as i64);
    state.metrics.pool_idle.set(pool.idle_connections as i64);
    state
        .metrics
        .signals_listening
        .set(i64::from(state.ctx.memos.live()));
    if state.sync.url.is_some() {
        if let Ok(v) = crate::service::sync::status(&state.ctx, &state.sync).await {
            let g = |what: &str, n: i64| state.metrics.sync.with_label_values(&[what]).set(n);
            g("lag_seconds", v.lag_seconds.unwrap_or(-1));
            g("remaining", v.remaining.unwrap_or(-1));
            g(
                "stale",
                i64::from(v.status == "stale" || v.status == "never"),
            );
            g("upserts", v.counts.upserts);
            g("removals", v.counts.removals);
            g("skipped", v.counts.skipped);
            g("rejected", v.counts.rejected);
            g("pushed", v.counts.pushed);
            g("push_duplicates", v.counts.push_duplicates);
            g("push_rejected", v.counts.push_rejected);
            g("push_pending", v.counts.push_pending);
            g("push_refused_now", v.counts.push_refused_now);
        }
    }
    // Always both stages, 0 included, so an alert can watch the series from the start.
    if let Ok((review, provider)) =
        crate::service::lifecycle::objections::overdue_counts(&state.ctx).await
    {
        let g = |stage: &str, n: i64| {
            state
                .metrics
                .objections_overdue
                .with_label_values(&[stage])
                .set(n)
        };
        g("review", review);
        g("provider", provider);
    }
    let mut buf = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(e) = encoder.encode(&state.metrics.registry.gather(), &mut buf) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(buf)
}

/// This module's routes, each registered once: with actix and in the OpenAPI document.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}
