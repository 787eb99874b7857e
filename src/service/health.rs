//! Readiness: what `/readyz` tells anyone who asks, without a key. It names each part's state
//! and never an internal error's text (that goes to the log, and to admins through
//! `GET /api/v1/admin/sync`).

use serde::Serialize;
use utoipa::ToSchema;

use super::sync::{SyncSetup, SyncView};
use super::{Ctx, ServiceError};
use crate::cache::CacheHealth;
use crate::store;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Component {
    /// `ok`, `degraded`, `down`, `off`, `loaded`.
    pub status: String,
    /// Which implementation: `sqlite`, `postgres`, `redis`, `memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (answering, some part impaired) or `unavailable`.
    pub status: String,
    pub database: Component,
    pub cache: Component,
    pub rules: Component,
    pub sync: Component,
    /// The listener for other instances' changes (`ok` or `down`); while it is down, keys,
    /// grants, agreements and profiles are read from the database on every request.
    pub signals: Component,
}

impl Readiness {
    /// Whether the service can answer (the database answers).
    pub fn answering(&self) -> bool {
        self.database.status == "ok"
    }
}

/// The state of each part, now.
pub async fn readiness(ctx: &Ctx, setup: &SyncSetup) -> Readiness {
    let db = ctx.db.run(store::ping).await;
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: the database does not answer");
    }
    let cache = ctx.cache.health().await;
    let rules = ctx.rules();
    let database = Component {
        status: if db.is_ok() { "ok" } else { "down" }.into(),
        kind: Some(ctx.db.backend().as_str().into()),
        detail: db.err().map(|_| "the database does not answer".to_string()),
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
    // The sync state is in the database: with the database down it is not asked for (that
    // would wait for a connection a second time: 10 s instead of 5 s before the 503).
    let sync_state = if db_ok {
        super::sync::status(ctx, setup).await
    } else {
        Err(ServiceError::Unavailable(
            "the database does not answer".into(),
        ))
    };
    let sync = match sync_state {
        Ok(v) => sync_component(&v),
        Err(_) if setup.url.is_none() => Component {
            status: "off".into(),
            kind: None,
            detail: Some("CREDITGATE_PROVINCIAL_URL is not set".into()),
        },
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the sync state cannot be read");
            Component {
                status: if setup.url.is_some() {
                    "unknown"
                } else {
                    "off"
                }
                .into(),
                kind: None,
                detail: Some("the sync state cannot be read".into()),
            }
        }
    };
    let listening = ctx.memos.live();
    let signals = Component {
        status: if listening { "ok" } else { "down" }.into(),
        kind: Some(
            match ctx.db.backend() {
                store::Backend::Postgres => "notify",
                store::Backend::Sqlite => "table",
            }
            .into(),
        ),
        detail: (!listening).then(|| {
            "not listening for other instances' changes: keys, grants and profiles are read from the database on every request".to_string()
        }),
    };
    let status = if !db_ok {
        "unavailable"
    } else if cache.status != "ok"
        || signals.status != "ok"
        || matches!(sync.status.as_str(), "stale" | "never")
    {
        "degraded"
    } else {
        "ready"
    };
    Readiness {
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
        signals,
    }
}

/// The sync's part of the readiness: `off`, `never` (no successful pull yet), `ok`, `failing`
/// (the last request failed, the data is still fresh) or `stale`. The last error's text is for
/// admins (`GET /api/v1/admin/sync`), not here.
fn sync_component(v: &SyncView) -> Component {
    let detail = match v.status.as_str() {
        "off" => "CREDITGATE_PROVINCIAL_URL is not set".to_string(),
        "never" => "no successful pull from the provincial platform yet".to_string(),
        _ => {
            let mut d = format!(
                "last successful pull {} s ago (stale after {} s), cursor {}",
                v.lag_seconds.unwrap_or(0),
                v.stale_after_seconds,
                v.cursor.as_deref().unwrap_or("at the start")
            );
            if v.status == "failing" || (v.status == "stale" && v.last_error.is_some()) {
                d.push_str("; the last request to the platform failed");
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
