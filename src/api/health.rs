//! `/healthz`, `/readyz`, `/metrics`: no key needed.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::cache::CacheHealth;
use crate::service::sync::SyncView;
use crate::store;

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

#[derive(Debug, Serialize, ToSchema)]
pub struct Component {
    /// `ok`, `degraded`, `down`, `off`, `loaded`.
    pub status: String,
    /// Which implementation: `sqlite`, `postgres`, `redis`, `memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (answering, some part impaired) or `unavailable`.
    pub status: String,
    pub database: Component,
    pub cache: Component,
    pub rules: Component,
    pub sync: Component,
}

/// 200 when the database answers (a cache that is down, or provincial data older than
/// `CREDITGATE_SYNC_STALE_AFTER`, is reported as degraded, still 200: the service answers from
/// what it has); 503 when the database does not.
#[utoipa::path(tag = "service", responses(
    (status = 200, description = "Ready or degraded", body = Readiness),
    (status = 503, description = "The database does not answer", body = Readiness),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ctx = &state.ctx;
    let db = ctx.db.run(store::ping).await;
    let cache = ctx.cache.health().await;
    let rules = ctx.rules();
    let database = Component {
        status: if db.is_ok() { "ok" } else { "down" }.into(),
        kind: Some(ctx.db.backend().as_str().into()),
        detail: db.err().map(|e| e.to_string()),
    };
    let cache = Component {
        status: match cache {
            CacheHealth::Ok => "ok",
            CacheHealth::Degraded => "degraded",
        }
        .into(),
        kind: Some(ctx.cache.kind().into()),
        detail: (cache == CacheHealth::Degraded)
            .then(|| "cache unreachable: answering from the database".to_string()),
    };
    let db_ok = database.status == "ok";
    let sync = match crate::service::sync::status(ctx, &state.sync).await {
        Ok(v) => sync_component(&v),
        Err(e) => Component {
            status: if state.sync.url.is_some() {
                "unknown"
            } else {
                "off"
            }
            .into(),
            kind: None,
            detail: Some(e.to_string()),
        },
    };
    let status = if !db_ok {
        "unavailable"
    } else if cache.status != "ok" || matches!(sync.status.as_str(), "stale" | "never") {
        "degraded"
    } else {
        "ready"
    };
    let body = Readiness {
        status: status.into(),
        database,
        cache,
        rules: Component {
            status: "loaded".into(),
            kind: Some(rules.version.clone()),
            detail: Some(format!(
                "{} scenarios, {} measures, {} lists; {}",
                rules.scenarios.len(),
                rules.measures().len(),
                rules.catalog.len(),
                rules.digest
            )),
        },
        sync,
    };
    if db_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The sync's part of the readiness: `off`, `never` (no successful pull yet), `ok`, `failing`
/// (the last request failed, the data is still fresh) or `stale`.
fn sync_component(v: &SyncView) -> Component {
    let detail = match v.status.as_str() {
        "off" => "CREDITGATE_PROVINCIAL_URL is not set".to_string(),
        "never" => format!(
            "no successful pull from the provincial platform yet{}",
            v.last_error
                .as_ref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        ),
        _ => {
            let mut d = format!(
                "last successful pull {} s ago (stale after {} s), cursor {}",
                v.lag_seconds.unwrap_or(0),
                v.stale_after_seconds,
                v.cursor.as_deref().unwrap_or("at the start")
            );
            if v.status == "stale" || v.status == "failing" {
                if let Some(e) = &v.last_error {
                    d.push_str(&format!("; last error: {e}"));
                }
            }
            d
        }
    };
    Component {
        status: v.status.clone(),
        kind: v.platform_url.as_ref().map(|_| "provincial".to_string()),
        detail: Some(detail),
    }
}

/// Prometheus text format.
#[utoipa::path(tag = "service", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    use prometheus::Encoder;
    let pool = state.ctx.db.pool().state();
    state.metrics.pool_connections.set(pool.connections as i64);
    state.metrics.pool_idle.set(pool.idle_connections as i64);
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
        }
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
