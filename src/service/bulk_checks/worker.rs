//! The bulk-check runner: one across instances (a PostgreSQL session advisory lock), checking
//! the oldest job's lines a chunk at a time, each line through the check use case itself
//! (`checks::check`, as `POST /api/v1/checks`: the same validation, admission, report and
//! access-log entry), a few at once. A chunk's results and the job's cursor are written in one
//! transaction, so a job whose runner was killed resumes after the last chunk written (the lines
//! of a chunk cut short are checked again: their first reports stay stored, unreferenced).

use std::time::Duration;

use diesel::Connection;

use crate::domain::{id_number, Caller, Role};
use crate::service::checks::{self, CheckRequest, CheckSubjectInput};
use crate::service::worker_lock::WorkerLock;
use crate::service::{Ctx, ServiceError};
use crate::store::bulk_checks::{
    self as store, JobRow, LineRow, Outcome, DONE, FAILED, QUEUED, RUNNING,
};
use crate::store::{self as db, StoreError};

/// Lines read and recorded at a time.
const CHUNK: i64 = 100;
/// Lines checked at once.
const AT_ONCE: usize = 4;

/// Runs the runner beside the server until `stop` turns true.
pub fn spawn(
    ctx: Ctx,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lock: Option<WorkerLock> = None;
        let mut rounds: u64 = 0;
        loop {
            if lock.is_none() {
                match WorkerLock::try_acquire(&ctx, db::BULK_LOCK).await {
                    Ok(l) => lock = l,
                    Err(e) => tracing::warn!(error = %e, "bulk-check lock unavailable"),
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
                    match ctx
                        .db
                        .run_write(move |c| c.transaction(|c| store::delete_expired(c, now)))
                        .await
                    {
                        Ok(n) if n > 0 => {
                            tracing::info!(jobs = n, "expired bulk-check jobs deleted")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "bulk-check expiry failed"),
                    }
                }
                rounds += 1;
                match run_chunk(&ctx).await {
                    Ok(b) => busy = b,
                    Err(e) => tracing::warn!(error = %e, "bulk-check chunk failed; retrying"),
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
        tracing::info!("bulk-check runner stopped");
    })
}

/// What one line came to: its verdict (or `rejected`), reason, measures and report number.
struct Checked {
    verdict: String,
    reason: Option<String>,
    measures: Option<String>,
    report_no: Option<String>,
}

fn rejected(reason: String) -> Checked {
    Checked {
        verdict: "rejected".into(),
        reason: Some(id_number::masked(&reason)),
        measures: None,
        report_no: None,
    }
}

/// The check of one line, as `POST /api/v1/checks` with the job's scenario, purpose and
/// reference (and the line's own scenario and authorisation where the file gives them). `Err`:
/// a dependency failed; the line is checked again later.
async fn check_line(
    ctx: &Ctx,
    caller: &Caller,
    job: &JobRow,
    line: &LineRow,
) -> Result<Checked, ServiceError> {
    let mut subject = CheckSubjectInput::default();
    if job.id_kind == "id_number" {
        match line.input_enc.as_deref().map(|e| ctx.keys.decrypt(e)) {
            Some(Ok(id)) => subject.id_number = Some(id),
            _ => {
                return Ok(rejected(
                    "the line's ID number cannot be read with this data key".into(),
                ))
            }
        }
    } else {
        subject.uscc = Some(line.shown.clone());
    }
    let req = CheckRequest {
        scenario: Some(
            line.scenario
                .clone()
                .unwrap_or_else(|| job.scenario.clone()),
        ),
        subject: Some(subject),
        related_persons: vec![],
        purpose: Some(job.purpose.clone()),
        reference: job.reference.clone(),
        as_of: None,
        authorization_ref: line
            .authorization_ref
            .clone()
            .or_else(|| job.authorization_ref.clone()),
    };
    match checks::check(ctx, caller, req).await {
        Ok(report) => Ok(Checked {
            measures: Some(
                report
                    .findings
                    .iter()
                    .map(|f| f.measure_id.as_str())
                    .collect::<Vec<_>>()
                    .join(";"),
            ),
            report_no: Some(report.report_no),
            verdict: report.verdict,
            reason: None,
        }),
        Err(ServiceError::Invalid(errors)) => Ok(rejected(
            errors
                .iter()
                .map(|e| {
                    let field = e.field.strip_prefix("subject.").unwrap_or(&e.field);
                    format!("{field}: {}", e.message)
                })
                .collect::<Vec<_>>()
                .join("; "),
        )),
        Err(ServiceError::Forbidden(why))
        | Err(ServiceError::RateLimited(why, _))
        | Err(ServiceError::NotFound(why))
        | Err(ServiceError::Conflict(why, _)) => Ok(rejected(why)),
        Err(e) => Err(e),
    }
}

/// Checks the next chunk of the oldest job to run; true when there was one.
pub async fn run_chunk(ctx: &Ctx) -> Result<bool, StoreError> {
    let Some(job) = ctx.db.run(store::next_to_run).await? else {
        return Ok(false);
    };
    let at = ctx.clock.stamp();
    if job.status == QUEUED {
        let id = job.id.clone();
        ctx.db
            .run_write(move |c| store::set_status(c, &id, RUNNING, at, None))
            .await?;
    }
    let (id, from) = (job.id.clone(), job.cursor);
    let lines = ctx
        .db
        .run(move |c| store::lines(c, &id, from, CHUNK))
        .await?;
    let Some(role) = Role::parse(&job.owner_role) else {
        let id = job.id.clone();
        let why = format!("unknown role '{}'", job.owner_role);
        ctx.db
            .run_write(move |c| {
                store::set_status(c, &id, crate::store::bulk_checks::FAILED, at, Some(&why))
            })
            .await?;
        return Ok(true);
    };
    let caller = Caller {
        key_id: job.created_by.clone(),
        org_code: job.org_code.clone(),
        role,
    };
    // A job goes on only while the key that submitted it is in force.
    let key_id = job.created_by.clone();
    let key = ctx
        .db
        .run(move |c| crate::store::keys::find(c, &key_id))
        .await?;
    if key.is_some_and(|k| k.revoked_at.is_some()) {
        let id = job.id.clone();
        let why = "the key that submitted the job was revoked; the lines not yet checked were not";
        ctx.db
            .run_write(move |c| store::set_status(c, &id, FAILED, at, Some(why)))
            .await?;
        return Ok(true);
    }
    // The lines to check, a few at once; the results in input order.
    let todo: Vec<LineRow> = lines
        .iter()
        .filter(|l| l.verdict.is_none())
        .cloned()
        .collect();
    let mut results: Vec<(i32, Checked)> = Vec::with_capacity(todo.len());
    // The first line (by seq) that could not be checked, and why.
    let mut failed: Option<(i32, String)> = None;
    let mut fail = |seq: i32, why: String| {
        if failed.as_ref().is_none_or(|(s, _)| seq < *s) {
            failed = Some((seq, why));
        }
    };
    for group in todo.chunks(AT_ONCE) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut seqs = std::collections::HashMap::new();
        for line in group.iter().cloned() {
            let (ctx, caller, job) = (ctx.clone(), caller.clone(), job.clone());
            let seq = line.seq;
            let handle = tasks.spawn(async move { check_line(&ctx, &caller, &job, &line).await });
            seqs.insert(handle.id(), seq);
        }
        let mut stop = false;
        while let Some(done) = tasks.join_next_with_id().await {
            match done {
                Ok((id, Ok(c))) => results.push((seqs[&id], c)),
                Ok((id, Err(e))) => {
                    fail(seqs[&id], e.to_string());
                    stop = true;
                }
                Err(e) => {
                    fail(seqs[&e.id()], format!("the check stopped: {e}"));
                    stop = true;
                }
            }
        }
        if stop {
            break;
        }
    }
    results.sort_by_key(|(seq, _)| *seq);
    // Recorded up to the first line that could not be checked: every line before it was checked
    // (or rejected when the file was read); it and the lines after it are tried again.
    let last = lines.last().map_or(from, |l| l.seq + 1);
    let cursor = match &failed {
        Some((stop_at, _)) => *stop_at,
        None => last,
    };
    results.retain(|(seq, _)| *seq < cursor);
    let total = job.total;
    let mut counts = [0i32; 5];
    for (_, c) in &results {
        let i = match c.verdict.as_str() {
            "clear" => 0,
            "review" => 1,
            "restricted" => 2,
            "prohibited" => 3,
            _ => 4,
        };
        counts[i] += 1;
    }
    let outcomes: Vec<(i32, Checked)> = results;
    let id = job.id.clone();
    let finished = cursor >= total && failed.is_none();
    let end = ctx.clock.stamp();
    ctx.db
        .run_write(move |c| {
            c.transaction(|c| {
                let o: Vec<Outcome> = outcomes
                    .iter()
                    .map(|(seq, k)| Outcome {
                        seq: *seq,
                        verdict: &k.verdict,
                        reason: k.reason.as_deref(),
                        measures: k.measures.as_deref(),
                        report_no: k.report_no.as_deref(),
                    })
                    .collect();
                if store::record(c, &id, from, cursor, &o, counts)? && finished {
                    store::set_status(c, &id, DONE, end, None)?;
                }
                Ok(())
            })
        })
        .await?;
    if let Some((seq, why)) = failed {
        let tries = note_failure(&job.id, seq);
        if tries >= GIVE_UP_AFTER {
            // A line that fails every time must not hold up this job and every job after it.
            let reason = format!("could not be checked after {tries} tries: {why}");
            let (id, at) = (job.id.clone(), ctx.clock.stamp());
            ctx.db
                .run_write(move |c| {
                    c.transaction(|c| {
                        let o = Outcome {
                            seq,
                            verdict: "rejected",
                            reason: Some(&reason),
                            measures: None,
                            report_no: None,
                        };
                        let moved = store::record(c, &id, seq, seq + 1, &[o], [0, 0, 0, 0, 1])?;
                        if moved && seq + 1 >= total {
                            store::set_status(c, &id, DONE, at, None)?;
                        }
                        Ok(())
                    })
                })
                .await?;
            return Ok(true);
        }
        return Err(StoreError::Unavailable(format!(
            "line {seq} could not be checked: {why}"
        )));
    }
    Ok(true)
}

/// Tries of a line that failed, before it is rejected.
const GIVE_UP_AFTER: u32 = 5;

/// Counts a failure of line `seq` of `job` in this process; returns how many in a row.
fn note_failure(job: &str, seq: i32) -> u32 {
    static LAST: std::sync::Mutex<Option<(String, i32, u32)>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let n = match last.as_ref() {
        Some((j, s, n)) if j == job && *s == seq => n + 1,
        _ => 1,
    };
    *last = Some((job.to_string(), seq, n));
    n
}
