//! Use cases: ingest, query, keys. Transactions live here; SQL stays in `store`.

pub mod access;
pub mod admin;
pub mod agreements;
pub mod audit;
pub mod backup;
pub mod bulk_checks;
pub mod checks;
pub mod commit;
pub mod demo;
pub mod files;
pub mod generate;
pub mod grants;
pub mod health;
pub mod impact;
pub mod ingest;
pub mod keys;
pub mod lifecycle;
pub mod limits;
pub mod people;
pub mod policy;
pub mod query;
pub mod rules;
pub mod schema;
pub mod signals;
pub mod sync;
pub mod upgrade;
pub mod watchlists;
pub mod worker_lock;

use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDate, Utc};

use crate::cache::Cache;
use crate::domain::FieldError;
use crate::rules::RuleSet;
use crate::store::{Backend, DbConn, Pool, StoreError};

/// Errors a use case returns; the API maps each to one status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The resource is not in the state the operation needs (an application already decided):
    /// why, and the resource as it now stands.
    #[error("conflict: {0}")]
    Conflict(String, Option<serde_json::Value>),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Over a rate limit or quota: the reason, and seconds until it resets.
    #[error("too many requests: {0}")]
    RateLimited(String, u64),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        use diesel::result::{DatabaseErrorKind as K, Error};
        match e {
            StoreError::Unavailable(m) => ServiceError::Unavailable(m),
            // The server went away under a pooled connection (restart, terminated backend): the
            // pool drops that connection (`store::ConnManager::has_broken`); the caller may retry.
            StoreError::Query(Error::DatabaseError(
                K::ClosedConnection | K::UnableToSendCommand,
                info,
            )) => ServiceError::Unavailable(format!(
                "lost the database connection: {}",
                info.message()
            )),
            other => ServiceError::Internal(anyhow::Error::new(other)),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// The database pool, with a helper that runs blocking diesel work off the async threads.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    /// For a connection of its own outside the pool (the sync runner's session lock).
    url: String,
    /// SQLite has one writer: write transactions of this process take turns here instead of
    /// failing with SQLITE_BUSY when a read snapshot would have to be upgraded.
    sqlite_writer: Arc<std::sync::Mutex<()>>,
}

impl Db {
    pub fn new(pool: Pool, backend: Backend, url: &str) -> Self {
        Db {
            pool,
            backend,
            url: url.to_string(),
            sqlite_writer: Arc::new(std::sync::Mutex::new(())),
        }
    }

    /// Like [`Db::run`], for work that writes: on SQLite, one writer at a time.
    pub async fn run_write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = (self.backend == Backend::Sqlite).then(|| self.sqlite_writer.clone());
        self.run_with(writer, f).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A new connection outside the pool, closed when dropped.
    pub fn dedicated(&self) -> Result<DbConn, StoreError> {
        crate::store::ConnManager::new(&self.url)
            .map_err(StoreError::Unavailable)?
            .establish()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs `f` with a pooled connection on the blocking thread pool, in the caller's span.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
    {
        self.run_with(None, f).await
    }

    async fn run_with<T, F>(
        &self,
        writer: Option<Arc<std::sync::Mutex<()>>>,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            // Take the writer's turn before a connection, so waiting writers hold none.
            let _turn = writer
                .as_ref()
                .map(|w| w.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }
}

/// The one time source: every time the service writes or decides by comes from here, so a
/// test can set the world's date (`starting_at`) and everything agrees with it.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    /// A clock that stands still (for a computation that must see one instant).
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock(Arc::new(move || at))
    }

    /// A clock that reads `at` now and runs on with real time from there: times stay in the
    /// order things happened, on the chosen day.
    pub fn starting_at(at: DateTime<Utc>) -> Self {
        let start = std::time::Instant::now();
        Clock(Arc::new(move || {
            at + chrono::TimeDelta::from_std(start.elapsed()).unwrap_or_default()
        }))
    }

    /// A clock that reads whatever `f` says (a test that moves time on).
    pub fn from_fn(f: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Clock(Arc::new(f))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }

    /// Now as a stored timestamp: UTC, truncated to microseconds so that both backends keep
    /// the same value.
    pub fn stamp(&self) -> chrono::NaiveDateTime {
        let t = self.now().naive_utc();
        chrono::DurationRound::duration_trunc(t, chrono::TimeDelta::microseconds(1)).unwrap_or(t)
    }

    /// Today's date in China Standard Time (UTC+8, no daylight saving), the date the law's
    /// periods are counted in.
    pub fn today(&self) -> NaiveDate {
        crate::domain::calendar::shanghai_day(self.now())
    }
}

/// Everything a use case needs.
#[derive(Clone)]
pub struct Ctx {
    pub db: Db,
    pub cache: Arc<dyn Cache>,
    /// Prefix of every cache key, so that several deployments (or tests) can share one Redis.
    pub cache_prefix: String,
    /// The active rule set; a reload swaps the `Arc` whole, so a check sees one set throughout.
    pub rules: Arc<RwLock<Arc<RuleSet>>>,
    /// Where the rule files are read from on reload.
    pub rules_dir: std::path::PathBuf,
    /// The keys for natural persons' ID numbers (from the configuration, never the database).
    pub keys: Arc<crate::crypto::DataKeys>,
    /// Writes access-log entries and check reports in group commits (`commit`).
    pub writer: Arc<commit::GroupWriter>,
    /// Requests per key per minute (0: no limit).
    pub rate_limit_per_minute: u64,
    /// Failed authentications per client address per minute before 429 (0: no limit).
    pub failed_auth_per_minute: u64,
    /// Counters kept in process while Redis cannot count.
    pub local_counters: Arc<crate::cache::MemoryCache>,
    /// Report numbers this instance has reserved and not yet used.
    pub report_numbers: Arc<tokio::sync::Mutex<checks::NumberBlock>>,
    /// Held by this instance's provincial sync runner (the lock across instances is the
    /// database's: `sync::RunnerLock`).
    pub sync_runner: Arc<tokio::sync::Mutex<()>>,
    /// The source codes whose records set subjects' attributes (`Config::registration_sources`).
    pub registration_sources: Arc<Vec<String>>,
    /// Callers, grants and agreements held in process, kept true by signals (`signals`).
    pub memos: Arc<signals::Memos>,
    /// Where webhooks may be sent (`Config::webhook_allow`).
    pub webhook_allow: Arc<crate::domain::webhook::AllowList>,
    /// Days a bulk-check job is kept (`Config::bulk_retention_days`).
    pub bulk_retention_days: u32,
    pub clock: Clock,
}

impl Ctx {
    /// The storage key of a subject (a person's under the keyed hash of the ID number).
    pub fn subject_key(&self, key: &crate::domain::SubjectKey) -> String {
        key.storage_key(&|i| self.keys.lookup_hash(i))
    }

    pub fn known_list(&self, code: &str) -> bool {
        self.rules().catalog.contains(code)
    }

    /// The active rule set.
    pub fn rules(&self) -> Arc<RuleSet> {
        match self.rules.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Makes `set` the active rule set.
    pub fn replace_rules(&self, set: RuleSet) {
        let new = Arc::new(set);
        match self.rules.write() {
            Ok(mut r) => *r = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}

/// A stored time (naive UTC) as answers write it: RFC 3339, UTC, whole seconds.
pub fn rfc3339(t: chrono::NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The shape of one field error in answers (documentation of `domain::FieldError`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FieldErrorDoc {
    /// Path of the field in the request, such as `subject.uscc`.
    #[schema(example = "subject.uscc")]
    pub field: String,
    /// Stable snake_case code, such as `uscc_check_digit`.
    #[schema(example = "uscc_check_digit")]
    pub code: String,
    /// What is wrong and how to fix it.
    #[schema(example = "check character should be 'E', found '3'")]
    pub message: String,
}
