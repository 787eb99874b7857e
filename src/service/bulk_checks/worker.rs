//! The bulk-check runner: one across instances (a PostgreSQL session advisory lock), checking
//! the oldest job's lines a chunk at a time, each line through the check use case itself
//! (`checks::check_unstored`: as `POST /api/v1/checks`, the same validation, admission, report
//! and access-log entry), in groups whose facts are read together. A chunk's reports with their
//! entries, its results and the job's cursor are written in one transaction, so a job whose
//! runner was killed resumes after the last chunk written, and a report is stored exactly when
//! its line is recorded (the lines of a chunk cut short are checked again under new numbers).

use std::time::Duration;

use diesel::Connection;

use crate::domain::{id_number, Caller, Role};
use crate::service::checks::{self, CheckRequest, CheckSubjectInput, Unstored};
use crate::service::commit::{self, Durable};
use crate::service::worker_lock::WorkerLock;
use crate::service::{Ctx, ServiceError, ServiceResult};
use crate::store::bulk_checks::{
    self as store, JobRow, LineRow, Outcome, DONE, FAILED, QUEUED, RUNNING,
};
use crate::store::{self as db, StoreError};

/// Lines read, checked and recorded (one commit) at a time.
const CHUNK: i64 = 200;
/// Lines checked together (their facts read in one session); a chunk's groups run at once.
const GROUP: usize = 50;

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

/// The check request of one line, as `POST /api/v1/checks` with the job's scenario, purpose and
/// reference (and the line's own scenario and authorisation where the file gives them); or the
/// line rejected, when its ID number cannot be read.
fn request_of(ctx: &Ctx, job: &JobRow, line: &LineRow) -> Result<CheckRequest, Checked> {
    let mut subject = CheckSubjectInput::default();
    if job.id_kind == "id_number" {
        match line.input_enc.as_deref().map(|e| ctx.keys.decrypt(e)) {
            Some(Ok(id)) => subject.id_number = Some(id),
            _ => {
                return Err(rejected(
                    "the line's ID number cannot be read with this data key".into(),
                ))
            }
        }
    } else {
        subject.uscc = Some(line.shown.clone());
    }
    Ok(CheckRequest {
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
        as_known_at: None,
    })
}

/// What a line's check came to: its result and the report to store with it; `Err`: a dependency
/// failed, and the line is checked again later.
type LineOutcome = Result<(Checked, Option<Durable>), String>;

fn outcome(checked: ServiceResult<Unstored>) -> LineOutcome {
    match checked {
        Ok(made) => {
            let (report, durable) = made.into_parts();
            let checked = Checked {
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
            };
            Ok((checked, Some(durable)))
        }
        Err(ServiceError::Invalid(errors)) => Ok((
            rejected(
                errors
                    .iter()
                    .map(|e| {
                        let field = e.field.strip_prefix("subject.").unwrap_or(&e.field);
                        format!("{field}: {}", e.message)
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            None,
        )),
        Err(ServiceError::Forbidden(why))
        | Err(ServiceError::RateLimited(why, _))
        | Err(ServiceError::NotFound(why))
        | Err(ServiceError::Conflict(why, _)) => Ok((rejected(why), None)),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks a group of lines together (`checks::check_unstored`: each line as a single check, the
/// facts of all read at once): each line's seq and outcome.
async fn check_group(
    ctx: &Ctx,
    caller: &Caller,
    job: &JobRow,
    group: &[LineRow],
) -> Vec<(i32, LineOutcome)> {
    let mut out: Vec<(i32, Option<LineOutcome>)> = Vec::with_capacity(group.len());
    let mut reqs = Vec::new();
    for line in group {
        match request_of(ctx, job, line) {
            Ok(req) => {
                reqs.push(req);
                out.push((line.seq, None));
            }
            Err(r) => out.push((line.seq, Some(Ok((r, None))))),
        }
    }
    let mut made = match checks::check_unstored(ctx, caller, reqs).await {
        Ok(made) => made
            .into_iter()
            .map(outcome)
            .collect::<Vec<_>>()
            .into_iter(),
        Err(e) => {
            let why = e.to_string();
            return out
                .into_iter()
                .map(|(seq, o)| (seq, o.unwrap_or_else(|| Err(why.clone()))))
                .collect();
        }
    };
    out.into_iter()
        .map(|(seq, o)| {
            let o = o.unwrap_or_else(|| {
                made.next()
                    .unwrap_or_else(|| Err("a line was not checked".into()))
            });
            (seq, o)
        })
        .collect()
}

/// Checks the next chunk of the oldest job to run; true when there was one.
pub async fn run_chunk(ctx: &Ctx) -> Result<bool, StoreError> {
    let t_all = std::time::Instant::now(); // for the chunk's debug line
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
            .run_write(move |c| store::set_status(c, &id, FAILED, at, Some(&why)))
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
    // The lines to check, in groups checked at once (the two cores both evaluate); the results
    // in input order.
    let todo: Vec<LineRow> = lines
        .iter()
        .filter(|l| l.verdict.is_none())
        .cloned()
        .collect();
    let t_check = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut firsts = std::collections::HashMap::new();
    for group in todo.chunks(GROUP) {
        let (ctx, caller, job, group) = (ctx.clone(), caller.clone(), job.clone(), group.to_vec());
        let first = group[0].seq;
        let handle = tasks.spawn(async move { check_group(&ctx, &caller, &job, &group).await });
        firsts.insert(handle.id(), first);
    }
    let mut results: Vec<(i32, Checked, Option<Durable>)> = Vec::with_capacity(todo.len());
    // The first line (by seq) that could not be checked, and why.
    let mut failed: Option<(i32, String)> = None;
    let mut fail = |seq: i32, why: String| {
        if failed.as_ref().is_none_or(|(s, _)| seq < *s) {
            failed = Some((seq, why));
        }
    };
    while let Some(done) = tasks.join_next_with_id().await {
        match done {
            Ok((_, outcomes)) => {
                for (seq, o) in outcomes {
                    match o {
                        Ok((c, d)) => results.push((seq, c, d)),
                        Err(why) => fail(seq, why),
                    }
                }
            }
            Err(e) => fail(firsts[&e.id()], format!("the check stopped: {e}")),
        }
    }
    let check_ms = t_check.elapsed().as_millis();
    let t_write = std::time::Instant::now();
    results.sort_by_key(|(seq, _, _)| *seq);
    // Every line checked is recorded with its report, the lines after one that could not be
    // checked too (so a partner's quota is not charged for them twice); the cursor stops at the
    // first line that could not be, which is tried again (lines with a result are skipped).
    let last = lines.last().map_or(from, |l| l.seq + 1);
    let cursor = match &failed {
        Some((stop_at, _)) => *stop_at,
        None => last,
    };
    let total = job.total;
    let mut counts = [0i32; 5];
    for (_, c, _) in &results {
        let i = match c.verdict.as_str() {
            "clear" => 0,
            "review" => 1,
            "restricted" => 2,
            "prohibited" => 3,
            _ => 4,
        };
        counts[i] += 1;
    }
    let (outcomes, reports): (Vec<(i32, Checked)>, Vec<Option<Durable>>) =
        results.into_iter().map(|(seq, c, d)| ((seq, c), d)).unzip();
    let reports: Vec<Durable> = reports.into_iter().flatten().collect();
    let stored = reports.len();
    let id = job.id.clone();
    let finished = cursor >= total && failed.is_none();
    let end = ctx.clock.stamp();
    // The chunk's reports with their access-log entries, its results and the job's cursor: one
    // commit, so a report is stored exactly when its line is recorded.
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
                if store::record(c, &id, from, cursor, &o, counts)? {
                    commit::write_in(c, &reports)?;
                    if finished {
                        store::set_status(c, &id, DONE, end, None)?;
                    }
                }
                Ok(())
            })
        })
        .await?;
    tracing::debug!(
        job = %job.id,
        from,
        to = cursor,
        reports = stored,
        check_ms = check_ms as u64,
        write_ms = t_write.elapsed().as_millis() as u64,
        chunk_ms = t_all.elapsed().as_millis() as u64,
        "bulk-check lines recorded"
    );
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

/// Counts a failure of line `seq` of `job` in this process; returns how many in a row. Kept per
/// job (a process may run the runners of several databases: the tests do).
fn note_failure(job: &str, seq: i32) -> u32 {
    type Failures = std::collections::HashMap<String, (i32, u32)>;
    static LAST: std::sync::Mutex<Option<Failures>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let map = last.get_or_insert_with(Default::default);
    let n = match map.get(job) {
        Some((s, n)) if *s == seq => n + 1,
        _ => 1,
    };
    if n >= GIVE_UP_AFTER {
        map.remove(job);
    } else {
        map.insert(job.to_string(), (seq, n));
    }
    n
}
