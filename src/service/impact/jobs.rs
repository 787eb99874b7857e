//! Impact analysis as a background job (`POST /api/v1/admin/rules/impact`): the candidate is
//! uploaded as a zip or tar of the rules folder, built by the strict loader and stored with the
//! job (never made active); a runner (one across instances) evaluates a page of subjects at a
//! time and records the page's changes, the cursor and the counts in one transaction, so a job
//! survives a restart and resumes after the last page it finished. Jobs are deleted with bulk
//! checks' retention (`CREDITGATE_BULK_RETENTION_DAYS`).

use std::sync::Arc;
use std::time::Duration;

use diesel::Connection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{Change, Engine, ImpactSummary, Tally, PAGE};
use crate::domain::{Caller, FieldError};
use crate::rules::RuleSet;
use crate::service::audit::{self, Actor};
use crate::service::worker_lock::WorkerLock;
use crate::service::{access, rfc3339, Ctx, ServiceError, ServiceResult};
use crate::store::bulk_checks::{DONE, FAILED, QUEUED, RUNNING};
use crate::store::impact_jobs::{self as store, ChangeRow, ImpactJobRow};
use crate::store::{self as db, StoreError};

/// A job as an admin reads it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImpactJobView {
    #[schema(example = "imp_01JD4S0M8Q3Z6Y2B5X7C9V1N0K")]
    pub id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// The scenario asked for; null: every scenario both sets have.
    pub scenario: Option<String>,
    /// Subjects held when the job was submitted.
    pub total: i64,
    /// Subjects evaluated so far.
    pub done: i64,
    /// `done / total`, 0 to 1.
    pub progress: f64,
    /// The report: the sets, the counts (so far, while running), the rule-set diff.
    pub summary: Option<ImpactSummary>,
    pub error: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// When the job and its result are deleted.
    pub expires_at: String,
}

/// The candidate's files, read from an uploaded archive and built by the strict loader; or
/// every problem, as field errors of `file` naming the rule file and line.
pub fn candidate(bytes: &[u8]) -> Result<(crate::rules::Sources, RuleSet), Vec<FieldError>> {
    let refused = |errors: Vec<crate::rules::RuleError>| {
        errors
            .into_iter()
            .map(|e| FieldError::new("file", "invalid_rules", e.to_string()))
            .collect::<Vec<_>>()
    };
    let sources = crate::rules::archive::read_archive(bytes).map_err(refused)?;
    let set = crate::rules::load::build(sources.clone()).map_err(refused)?;
    Ok((sources, set))
}

/// `POST /api/v1/admin/rules/impact`: the candidate uploaded (the archive's bytes), for one
/// scenario or all; 202 with the job.
pub async fn submit(
    ctx: &Ctx,
    caller: &Caller,
    archive: Vec<u8>,
    scenario: Option<String>,
) -> ServiceResult<ImpactJobView> {
    access::ANALYSE_RULES.require(caller)?;
    let (sources, set) = tokio::task::spawn_blocking(move || candidate(&archive))
        .await
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?
        .map_err(ServiceError::Invalid)?;
    let active = crate::service::rules::in_use(ctx).await?;
    let scenario = scenario
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let today = ctx.clock.today();
    let engine =
        Engine::new(active.clone(), Arc::new(set), scenario.as_deref(), today).map_err(|why| {
            ServiceError::Invalid(vec![FieldError::new("scenario", "unknown_scenario", why)])
        })?;
    let total = ctx.db.run(crate::store::subjects::count).await?;
    let actor = Actor::new(ctx, caller);
    let sources = serde_json::to_string(&sources)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
    let row = ImpactJobRow {
        id: format!("imp_{}", ulid::Ulid::new()),
        org_code: caller.org_code.clone(),
        created_by: caller.key_id.clone(),
        scenario,
        active_digest: active.digest.clone(),
        candidate_digest: engine.candidate.digest.clone(),
        candidate_version: engine.candidate.version.clone(),
        candidate_sources: sources,
        as_of: today,
        status: QUEUED.to_string(),
        total,
        done: 0,
        cursor: None,
        tally: serde_json::to_string(&Tally::default()).unwrap_or_default(),
        error: None,
        created_at: actor.at,
        started_at: None,
        finished_at: None,
        expires_at: actor.at + chrono::TimeDelta::days(ctx.bulk_retention_days as i64),
    };
    let stored = row.clone();
    ctx.db
        .run_write(move |conn| {
            conn.transaction(|conn| {
                // The active set is kept by digest already (startup and reloads keep it); the
                // candidate stays in the job only.
                store::insert(conn, &stored)?;
                let detail = json!({"id": stored.id, "candidate": stored.candidate_digest,
                                    "active": stored.active_digest, "scenario": stored.scenario});
                audit::log_change(conn, &actor, access::ANALYSE_RULES.action, detail)
            })
        })
        .await?;
    Ok(view(&row, Some(&engine)))
}

fn view(r: &ImpactJobRow, engine: Option<&Engine>) -> ImpactJobView {
    let tally: Tally = serde_json::from_str(&r.tally).unwrap_or_default();
    ImpactJobView {
        id: r.id.clone(),
        status: r.status.clone(),
        scenario: r.scenario.clone(),
        total: r.total,
        done: r.done,
        progress: if r.total > 0 {
            (r.done as f64 / r.total as f64).min(1.0)
        } else if r.status == DONE {
            1.0
        } else {
            0.0
        },
        summary: engine.map(|e| e.summary(tally)),
        error: r.error.clone(),
        created_at: rfc3339(r.created_at),
        started_at: r.started_at.map(rfc3339),
        finished_at: r.finished_at.map(rfc3339),
        expires_at: rfc3339(r.expires_at),
    }
}

/// The engine of a stored job: the active set by digest, the candidate from its files.
async fn engine_of(ctx: &Ctx, r: &ImpactJobRow) -> ServiceResult<Engine> {
    let active = crate::service::rules::kept(ctx, &r.active_digest).await?;
    let sources: crate::rules::Sources = serde_json::from_str(&r.candidate_sources)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("candidate of {}: {e}", r.id)))?;
    let candidate = tokio::task::spawn_blocking(move || crate::rules::load::build(sources))
        .await
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?
        .map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!("the candidate no longer builds: {e:?}"))
        })?;
    Engine::new(active, Arc::new(candidate), r.scenario.as_deref(), r.as_of)
        .map_err(|why| ServiceError::Internal(anyhow::anyhow!(why)))
}

async fn owned(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<ImpactJobRow> {
    access::ANALYSE_RULES.require(caller)?;
    let wanted = id.to_string();
    ctx.db
        .run(move |c| store::find(c, &wanted))
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("impact analysis {id}")))
}

/// `GET /api/v1/admin/rules/impact/{id}`.
pub async fn get(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<ImpactJobView> {
    let row = owned(ctx, caller, id).await?;
    let engine = engine_of(ctx, &row).await.ok();
    Ok(view(&row, engine.as_ref()))
}

/// The job and every change it found, once it is done (409 before).
pub async fn result(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
) -> ServiceResult<(ImpactJobView, Vec<Change>)> {
    let row = owned(ctx, caller, id).await?;
    if row.status != DONE {
        let v = view(&row, engine_of(ctx, &row).await.ok().as_ref());
        return Err(ServiceError::Conflict(
            format!(
                "the analysis is {}: its result is ready when it is done",
                row.status
            ),
            Some(serde_json::to_value(&v).unwrap_or_default()),
        ));
    }
    let v = view(&row, engine_of(ctx, &row).await.ok().as_ref());
    let jid = row.id.clone();
    let rows = ctx
        .db
        .run(move |c| store::changes(c, &jid, 0, i64::MAX))
        .await?;
    Ok((v, rows.into_iter().map(change_of).collect()))
}

fn split(s: &str) -> Vec<String> {
    s.split(';')
        .filter(|m| !m.is_empty())
        .map(String::from)
        .collect()
}

fn change_of(r: ChangeRow) -> Change {
    Change {
        scenario: r.scenario,
        subject: super::ChangedSubject {
            uscc: r.uscc,
            reg_no: r.reg_no,
            id_number: r.id_number_masked,
            name: Some(r.name).filter(|n| !n.is_empty()),
        },
        before: r.verdict_before,
        after: r.verdict_after,
        added: split(&r.added),
        removed: split(&r.removed),
        measures_after: split(&r.measures_after),
    }
}

fn row_of(job: &str, seq: i64, c: &Change) -> ChangeRow {
    ChangeRow {
        job_id: job.to_string(),
        seq,
        scenario: c.scenario.clone(),
        uscc: c.subject.uscc.clone(),
        reg_no: c.subject.reg_no.clone(),
        id_number_masked: c.subject.id_number.clone(),
        name: c.subject.name.clone().unwrap_or_default(),
        verdict_before: c.before.clone(),
        verdict_after: c.after.clone(),
        added: c.added.join(";"),
        removed: c.removed.join(";"),
        measures_after: c.measures_after.join(";"),
    }
}

/// Runs the runner beside the server until `stop` turns true.
pub fn spawn(
    ctx: Ctx,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lock: Option<WorkerLock> = None;
        let mut rounds: u64 = 0;
        // The engine of the job in hand, built once per job.
        let mut engines: Option<(String, Arc<Engine>)> = None;
        loop {
            if lock.is_none() {
                match WorkerLock::try_acquire(&ctx, db::IMPACT_LOCK).await {
                    Ok(l) => lock = l,
                    Err(e) => tracing::warn!(error = %e, "impact-analysis lock unavailable"),
                }
            }
            let holding = match lock.as_mut() {
                Some(l) => l.alive().await,
                None => false,
            };
            let mut busy = false;
            if holding {
                if rounds.is_multiple_of(120) {
                    let now = ctx.clock.stamp();
                    if let Err(e) = ctx
                        .db
                        .run_write(move |c| c.transaction(|c| store::delete_expired(c, now)))
                        .await
                    {
                        tracing::warn!(error = %e, "impact-analysis expiry failed");
                    }
                }
                rounds += 1;
                match run_page(&ctx, &mut engines).await {
                    Ok(b) => busy = b,
                    Err(e) => tracing::warn!(error = %e, "impact-analysis page failed; retrying"),
                }
            } else {
                lock = None;
            }
            if *stop.borrow() {
                break;
            }
            if !busy && crate::service::sync::pause(Duration::from_millis(500), &mut stop).await {
                break;
            }
        }
        tracing::info!("impact-analysis runner stopped");
    })
}

/// Evaluates the next page of the oldest job to run; true when there was one.
pub async fn run_page(
    ctx: &Ctx,
    engines: &mut Option<(String, Arc<Engine>)>,
) -> Result<bool, StoreError> {
    let Some(job) = ctx.db.run(store::next_to_run).await? else {
        return Ok(false);
    };
    let at = ctx.clock.stamp();
    let fail = |why: String| {
        let id = job.id.clone();
        async move {
            ctx.db
                .run_write(move |c| store::set_status(c, &id, FAILED, at, Some(&why)))
                .await
        }
    };
    if job.status == QUEUED {
        let id = job.id.clone();
        ctx.db
            .run_write(move |c| store::set_status(c, &id, RUNNING, at, None))
            .await?;
    }
    let engine = match engines.as_ref().filter(|(id, _)| *id == job.id) {
        Some((_, e)) => e.clone(),
        None => match engine_of(ctx, &job).await {
            Ok(e) => {
                let e = Arc::new(e);
                *engines = Some((job.id.clone(), e.clone()));
                e
            }
            Err(e) => {
                fail(format!("the rule sets cannot be built: {e}")).await?;
                return Ok(true);
            }
        },
    };
    let (keys, from) = (ctx.keys.clone(), job.cursor.clone());
    let jid = job.id.clone();
    let mut tally: Tally = serde_json::from_str(&job.tally)
        .map_err(|e| StoreError::Corrupt(format!("tally of {}: {e}", job.id)))?;
    let (rows, page_tally, changes) = ctx
        .db
        .run(move |conn| {
            let rows = crate::store::subjects::keys_after(conn, from.as_deref(), PAGE)?;
            let (t, changes) = engine.page(conn, &keys, &rows)?;
            Ok((rows, t, changes))
        })
        .await?;
    let Some(last) = rows.last().cloned() else {
        let id = job.id.clone();
        ctx.db
            .run_write(move |c| store::set_status(c, &id, DONE, at, None))
            .await?;
        tracing::info!(job = %job.id, subjects = job.done, "impact analysis done");
        return Ok(true);
    };
    tally.add(page_tally);
    let tally = serde_json::to_string(&tally).unwrap_or_default();
    let done = job.done + rows.len() as i64;
    let from = job.cursor.clone();
    ctx.db
        .run_write(move |conn| {
            conn.transaction(|conn| {
                let next = store::next_seq(conn, &jid)?;
                let rows: Vec<ChangeRow> = changes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| row_of(&jid, next + i as i64, c))
                    .collect();
                store::record_page(conn, &jid, from.as_deref(), &last, done, &tally, &rows)
            })
        })
        .await?;
    Ok(true)
}
