//! Storage: the diesel schema, row types, one module of queries per aggregate, the pool and the
//! migrations. SQL lives here and nowhere else.

pub mod agreements;
pub mod audit;
pub mod backup;
pub mod bulk;
pub mod bulk_checks;
pub mod checks;
pub mod grants;
pub mod impact_jobs;
pub mod keys;
pub mod known_at;
pub mod objections;
pub mod orgs;
pub mod people;
pub mod records;
pub mod repairs;
pub mod rule_history;
pub mod schema;
pub mod signals;
pub mod subjects;
pub mod sync;
mod types;
pub mod upgrade;
pub mod watchlists;
pub mod webhook_events;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Runs one diesel statement, written once, on whichever backend `conn` is: for what diesel's
/// `MultiConnection` cannot build on the shared connection (`on_conflict`, `RETURNING`,
/// multi-row `VALUES`), or builds worse (an `= ANY($1)` array on PostgreSQL instead of one
/// parameter per value). The body is compiled once per backend, with `$c` its connection.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConn::Pg($c) => $body,
            $crate::store::DbConn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// One connection type over both backends (vaultwarden's pattern).
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which backend a URL names. Unknown schemes are refused with the accepted ones named.
pub fn backend_of(url: &str) -> Result<Backend, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite://") || url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        Err(format!(
            "unsupported database URL '{}': use sqlite://PATH or postgres://USER@HOST/DB",
            redact_url(url)
        ))
    }
}

/// The URL without a password, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// An r2d2 manager that picks the backend by URL scheme, so that a failed connection shows the
/// real libpq or SQLite message (diesel's `AnyConnection::establish` hides it, STACK.md).
#[derive(Debug, Clone)]
pub struct ConnManager {
    url: String,
    backend: Backend,
}

impl ConnManager {
    pub fn new(url: &str) -> Result<Self, String> {
        Ok(ConnManager {
            url: url.to_string(),
            backend: backend_of(url)?,
        })
    }

    pub fn establish(&self) -> Result<DbConn, diesel::ConnectionError> {
        match self.backend {
            Backend::Postgres => {
                let mut c = PgConnection::establish(&self.url)?;
                c.set_instrumentation(LostConnection::default());
                Ok(DbConn::Pg(c))
            }
            Backend::Sqlite => {
                let path = sqlite_path(&self.url);
                if let Some(dir) = std::path::Path::new(path).parent() {
                    if !dir.as_os_str().is_empty() && path != ":memory:" {
                        let _ = std::fs::create_dir_all(dir);
                    }
                }
                let mut c = SqliteConnection::establish(path)?;
                // On every new connection: a busy timeout first, so that writers wait instead of
                // failing, referential integrity, and WAL for concurrent readers (STACK.md). WAL
                // is a property of the file; setting it again is a no-op once it holds.
                c.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                )
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(c))
            }
        }
    }
}

impl r2d2::ManageConnection for ConnManager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        self.establish()
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    /// As diesel's own manager: a connection given back while its thread panics (perhaps inside
    /// a transaction), or whose transaction state is broken, is thrown away, never pooled. So is
    /// one whose server went away ([`LostConnection`]): the pool does not test connections on
    /// checkout (no `SELECT 1` before every request), so this is where a dead one is dropped.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking()
            || diesel::r2d2::R2D2Connection::is_broken(conn)
            || LostConnection::seen_on(conn)
    }
}

/// Instrumentation of a PostgreSQL connection that remembers a query failing because the
/// connection is gone (the server restarted, the backend was terminated).
#[derive(Default)]
struct LostConnection(bool);

impl diesel::connection::Instrumentation for LostConnection {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        use diesel::result::{DatabaseErrorKind as K, Error};
        if let diesel::connection::InstrumentationEvent::FinishQuery {
            error: Some(Error::DatabaseError(K::ClosedConnection | K::UnableToSendCommand, _)),
            ..
        } = event
        {
            self.0 = true;
        }
    }
}

impl LostConnection {
    fn seen_on(conn: &mut DbConn) -> bool {
        match conn {
            DbConn::Pg(c) => c
                .instrumentation()
                .downcast_ref::<LostConnection>()
                .is_some_and(|l| l.0),
            DbConn::Sqlite(_) => false,
        }
    }
}

pub type Pool = r2d2::Pool<ConnManager>;
/// A connection taken from a pool.
pub type PooledConn = r2d2::PooledConnection<ConnManager>;

/// Builds the pool and checks one connection at once, so that a wrong URL or password fails at
/// start with the backend's own message.
pub fn connect(url: &str, max_size: u32) -> Result<Pool, String> {
    let manager = ConnManager::new(url)?;
    // A first direct connection gives the real error text instead of r2d2's time-out.
    manager
        .establish()
        .map_err(|e| format!("cannot connect to {}: {e}", redact_url(url)))?;
    let size = if manager.backend == Backend::Sqlite {
        max_size.min(4)
    } else {
        max_size
    };
    r2d2::Pool::builder()
        .max_size(size)
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(5))
        .build(manager)
        .map_err(|e| format!("cannot build the connection pool: {e}"))
}

pub fn backend(conn: &DbConn) -> Backend {
    match conn {
        DbConn::Pg(_) => Backend::Postgres,
        DbConn::Sqlite(_) => Backend::Sqlite,
    }
}

/// The schema versions this build carries for `backend`, oldest first (as diesel writes them in
/// `__diesel_schema_migrations`: the folder's date and number without dashes).
pub fn known_schema_versions(backend: Backend) -> Vec<String> {
    use diesel::migration::MigrationSource;
    let mut v: Vec<String> = match backend {
        Backend::Postgres => MigrationSource::<diesel::pg::Pg>::migrations(&PG_MIGRATIONS)
            .map(|l| l.iter().map(|m| m.name().version().to_string()).collect()),
        Backend::Sqlite => {
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
                .map(|l| l.iter().map(|m| m.name().version().to_string()).collect())
        }
    }
    .unwrap_or_default();
    v.sort();
    v
}

/// The applied schema versions this build does not carry (a newer creditgate upgraded the
/// database), and whether this build has migrations of its own still to apply.
fn schema_gap(conn: &mut DbConn) -> Result<(Vec<String>, bool), String> {
    let applied: Vec<String> = match conn {
        DbConn::Pg(c) => c.applied_migrations(),
        DbConn::Sqlite(c) => c.applied_migrations(),
    }
    .map_err(|e| format!("cannot read the applied migrations: {e}"))?
    .iter()
    .map(|v| v.to_string())
    .collect();
    let known = known_schema_versions(backend(conn));
    let mut unknown: Vec<String> = applied
        .iter()
        .filter(|v| !known.contains(v))
        .cloned()
        .collect();
    unknown.sort();
    let pending = known.iter().any(|v| !applied.contains(v));
    Ok((unknown, pending))
}

/// Applies pending migrations from the backend's own folder; returns the names applied.
///
/// A database a newer creditgate has upgraded: while this build has nothing left to apply, an
/// instance of it goes on (warned: during a rolling upgrade the old instances keep serving until
/// they are replaced); with migrations of its own still pending it is refused, untouched, as
/// they would run under a schema they were not written for.
pub fn migrate(conn: &mut DbConn) -> Result<Vec<String>, String> {
    let (unknown, pending) = schema_gap(conn)?;
    if !unknown.is_empty() {
        if pending {
            return Err(format!(
                "the database's schema is newer than this creditgate {} knows: migration(s) {} were applied by a newer version, and this one's own are not all applied. Run the newer version; nothing was changed",
                env!("CARGO_PKG_VERSION"),
                unknown.join(", ")
            ));
        }
        tracing::warn!(
            newer = %unknown.join(", "),
            "the database's schema was upgraded by a newer creditgate; this older instance goes on (replace it with the newer version)"
        );
        return Ok(Vec::new());
    }
    let applied = match conn {
        DbConn::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS),
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| format!("migration failed: {e}"))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

/// Reverts every migration (used by the migrations test: up, down, up).
pub fn revert_all(conn: &mut DbConn) -> Result<usize, String> {
    let reverted = match conn {
        DbConn::Pg(c) => c.revert_all_migrations(PG_MIGRATIONS),
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| format!("revert failed: {e}"))?;
    Ok(reverted.len())
}

/// `SELECT 1`, for readiness.
pub fn ping(conn: &mut DbConn) -> StoreResult<()> {
    conn.batch_execute("SELECT 1")?;
    Ok(())
}

/// Refreshes the planner's statistics (after bulk loads).
pub fn analyze(conn: &mut DbConn) -> StoreResult<()> {
    conn.batch_execute("ANALYZE")?;
    Ok(())
}

/// Refreshes PostgreSQL's statistics of the keys that the write path looks records and subjects
/// up by. Without them a table that grew from empty keeps the plan made when it was small: a scan
/// of the table per batch, which made an import slower with every batch (measured: 457 ms a batch
/// at 30,000 records, 3 ms after this). SQLite uses the unique indexes without statistics.
pub fn analyze_write_keys(conn: &mut DbConn) -> StoreResult<()> {
    if let DbConn::Pg(c) = conn {
        c.batch_execute(
            "ANALYZE subjects (subject_key); ANALYZE credit_records (source_code, source_record_id)",
        )?;
    }
    Ok(())
}

/// Keys of the PostgreSQL session advisory locks that keep one worker of a kind across
/// instances.
/// The access-log sealer's (a transaction lock, also taken by a prune of archived entries).
pub const SEALER_LOCK: i64 = 7_354_110_042;
pub const SYNC_RUNNER_LOCK: i64 = 7_354_110_043;
pub const DELIVERY_LOCK: i64 = 7_354_110_044;
pub const BULK_LOCK: i64 = 7_354_110_045;
/// Held while a rule set is activated, so that instances starting at once write one row.
pub const ACTIVATION_LOCK: i64 = 7_354_110_046;
pub const IMPACT_LOCK: i64 = 7_354_110_047;
/// Held while migrations and data steps run, so that instances starting together upgrade once.
pub const MIGRATION_LOCK: i64 = 7_354_110_048;

/// Waits for the session lock `key` on PostgreSQL (nothing on SQLite), runs `f`, and gives the
/// lock back whatever `f` answered.
pub fn with_session_lock<T>(
    conn: &mut DbConn,
    key: i64,
    f: impl FnOnce(&mut DbConn) -> Result<T, String>,
) -> Result<T, String> {
    if let DbConn::Pg(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_lock({key})"))
            .execute(c)
            .map_err(|e| format!("cannot take lock {key}: {e}"))?;
    }
    let out = f(conn);
    if let Err(e) = session_unlock(conn, key) {
        tracing::warn!(error = %e, key, "session unlock failed; the connection's end frees it");
    }
    out
}

/// Takes the session lock `key` on PostgreSQL if free (it ends with the session, so a killed
/// worker frees it); on SQLite always true (the caller's in-process lock guards).
pub fn try_session_lock(conn: &mut DbConn, key: i64) -> StoreResult<bool> {
    match conn {
        DbConn::Pg(c) => Ok(
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "pg_try_advisory_lock({key})"
            )))
            .get_result(c)?,
        ),
        DbConn::Sqlite(_) => Ok(true),
    }
}

/// Gives the session lock `key` back at once (closing the connection does too, but the server
/// notices that a moment later).
pub fn session_unlock(conn: &mut DbConn, key: i64) -> StoreResult<()> {
    if let DbConn::Pg(c) = conn {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "pg_advisory_unlock({key})"
        )))
        .get_result::<bool>(c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_backend_by_scheme() {
        assert_eq!(backend_of("sqlite://data/x.db"), Ok(Backend::Sqlite));
        assert_eq!(backend_of("postgres://u@h/db"), Ok(Backend::Postgres));
        let e = backend_of("mysql://root:secret@h/db").unwrap_err();
        assert!(e.contains("sqlite://") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
