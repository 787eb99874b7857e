//! One worker of a kind across instances (the webhook deliverer, the bulk-check runner): the
//! instance that holds a PostgreSQL session advisory lock runs it. The lock lives as long as its
//! connection: a killed instance frees it, and another takes over at its next try.

use crate::service::Ctx;
use crate::store::{self as db, DbConn, StoreError};

/// The lock that makes this instance the one worker of a kind: a connection of its own holding a
/// session lock on PostgreSQL; nothing on SQLite, whose file serves one instance.
pub struct WorkerLock {
    conn: Option<DbConn>,
}

impl WorkerLock {
    pub async fn try_acquire(ctx: &Ctx, key: i64) -> Result<Option<WorkerLock>, StoreError> {
        if ctx.db.backend() == db::Backend::Sqlite {
            return Ok(Some(WorkerLock { conn: None }));
        }
        let pool = ctx.db.clone();
        tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let mut conn = pool.dedicated()?;
            Ok(db::try_session_lock(&mut conn, key)?.then_some(WorkerLock { conn: Some(conn) }))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("lock task failed: {e}")))?
    }

    /// Whether the lock's connection still answers (the lock lives as long as it does).
    pub async fn alive(&mut self) -> bool {
        let Some(mut conn) = self.conn.take() else {
            return true;
        };
        let pinged = tokio::task::spawn_blocking(move || {
            let ok = db::ping(&mut conn).is_ok();
            (conn, ok)
        })
        .await;
        match pinged {
            Ok((conn, true)) => {
                self.conn = Some(conn);
                true
            }
            _ => false,
        }
    }
}
