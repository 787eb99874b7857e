//! Building the application: context, migrations, listener (zero2prod's `Application::build`,
//! so tests can bind port 0).

use std::net::TcpListener;
use std::sync::{Arc, RwLock};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::api::{self, AppState, Metrics};
use crate::cache::{Cache, MemoryCache, RedisCache};
use crate::config::Config;
use crate::service::{keys, Clock, Ctx, Db};
use crate::store;

/// Connects, migrates, loads the catalog and the cache: everything but the listener.
pub fn build_ctx(config: &Config, clock: Clock) -> anyhow::Result<Ctx> {
    let rules = crate::rules::load::load_dir(&config.rules_dir).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!(
            "the rule files in {} are not valid ({} problems; `creditgate rules check` lists them):\n{}",
            config.rules_dir.display(),
            errors.len(),
            lines.join("\n")
        )
    })?;

    let backend = store::backend_of(&config.database_url).map_err(anyhow::Error::msg)?;
    let pool =
        store::connect(&config.database_url, config.db_pool_size).map_err(anyhow::Error::msg)?;
    {
        let mut conn = pool.get().context("no database connection")?;
        let applied = store::migrate(&mut conn).map_err(anyhow::Error::msg)?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied migrations");
        }
        crate::service::checks::keep_rule_set(&mut conn, &rules).map_err(anyhow::Error::msg)?;
        if let Some(key) = &config.admin_key {
            keys::ensure_admin_key(&mut conn, key.expose()).map_err(anyhow::Error::msg)?;
        }
    }
    let cache: Arc<dyn Cache> = match &config.redis_url {
        Some(url) => Arc::new(RedisCache::new(url).map_err(anyhow::Error::msg)?),
        None => Arc::new(MemoryCache::new(100_000)),
    };
    tracing::info!(
        database = %store::redact_url(&config.database_url),
        cache = cache.kind(),
        rules = %rules.version,
        rules_digest = %rules.digest,
        "context ready"
    );
    Ok(Ctx {
        db: Db::new(pool, backend),
        cache,
        cache_prefix: config.cache_prefix.clone(),
        rules: Arc::new(RwLock::new(Arc::new(rules))),
        rules_dir: config.rules_dir.clone(),
        report_numbers: Default::default(),
        clock,
    })
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Builds the server on `config.bind` (port 0 picks a free port).
    pub async fn build(config: &Config, clock: Clock) -> anyhow::Result<Application> {
        let cfg = config.clone();
        let ctx = tokio::task::spawn_blocking(move || build_ctx(&cfg, clock)).await??;
        Self::with_ctx(config, ctx)
    }

    pub fn with_ctx(config: &Config, ctx: Ctx) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&config.bind)
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            ctx,
            metrics: Metrics::new().context("metrics registry")?,
            max_body_bytes: config.max_body_bytes,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(from_fn(api::observe))
                .wrap(tracing_actix_web::TracingLogger::default())
                .configure(api::configure)
        })
        .listen(listener)?
        .run();
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
