//! One runner at a time across instances, and the background worker.

use super::*;

/// The one-runner guard: a PostgreSQL session advisory lock, on a connection of its own for
/// the round (dropping the guard closes it, and a killed runner's session ends with its
/// process, so the lock never outlives its holder); on SQLite, whose file serves one instance,
/// the in-process lock alone (two processes on one file still never both apply a page: each
/// page's transaction first claims the cursor it started from).
pub struct RunnerLock {
    pub(super) conn: Option<DbConn>,
    pub(super) _local: tokio::sync::OwnedMutexGuard<()>,
}

impl RunnerLock {
    /// Takes the lock if no other runner holds it.
    pub async fn try_acquire(ctx: &Ctx) -> Result<Option<RunnerLock>, StoreError> {
        let Ok(local) = ctx.sync_runner.clone().try_lock_owned() else {
            return Ok(None);
        };
        if ctx.db.backend() == store::Backend::Sqlite {
            return Ok(Some(RunnerLock {
                conn: None,
                _local: local,
            }));
        }
        let db = ctx.db.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let mut conn = db.dedicated()?;
            Ok(store::try_session_lock(&mut conn, store::SYNC_RUNNER_LOCK)?.then_some(conn))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("lock task failed: {e}")))??;
        Ok(conn.map(|c| RunnerLock {
            conn: Some(c),
            _local: local,
        }))
    }

    /// Gives the lock up, then closes its connection (which alone would end the session lock,
    /// a moment later).
    pub async fn release(mut self) {
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(c) = self.conn.as_mut() {
                if let Err(e) = store::session_unlock(c, store::SYNC_RUNNER_LOCK) {
                    tracing::warn!(error = %e, "sync lock: unlock failed; closing its connection ends it");
                }
            }
            drop(self)
        })
        .await;
    }
}

/// The sync beside the server: a round every `interval` while this instance holds the lock,
/// until `stop` turns true.
pub fn spawn_worker(
    ctx: Ctx,
    platform: Arc<dyn Platform>,
    settings: Settings,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match RunnerLock::try_acquire(&ctx).await {
                Ok(Some(lock)) => {
                    // With "sync round done" (or "failed"), the span this instance held the
                    // runner's lock (the cluster test finds overlaps by these two lines).
                    tracing::info!("sync round started");
                    let r = run_round(&ctx, platform.as_ref(), &settings, &mut stop, &mut ()).await;
                    // Told while the lock is still held: the two lines bound the round.
                    match &r {
                        Ok(report) => tracing::info!(?report, "sync round done"),
                        Err(RoundError::Stopped) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "sync round failed; the next round tries again")
                        }
                    }
                    lock.release().await;
                    if matches!(r, Err(RoundError::Stopped)) {
                        break;
                    }
                }
                Ok(None) => tracing::debug!("another instance runs the sync"),
                Err(e) => tracing::warn!(error = %e, "sync lock unavailable"),
            }
            if pause(interval, &mut stop).await {
                break;
            }
        }
        tracing::info!("sync worker stopped");
    })
}
