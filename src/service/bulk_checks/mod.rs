//! Bulk comparison (批量比对): a roster of codes (or, for officers, ID numbers) checked in the
//! background, line by line, each line exactly as `POST /api/v1/checks` would check it, and
//! answered as one file with a line per input line.
//!
//! **One report per line**, not one job report: each line's check is stored as an ordinary
//! report (`report_no` in the result), logged in the access log and verifiable and printable on
//! its own, because a line is what a tender's file or a credit review cites (评审时查询结果为准):
//! a bidder excluded must be shown its own report, not a digest of everyone else's.
//!
//! A job survives a restart: its lines are stored when it is submitted, and the runner
//! (`worker`) moves a cursor over them in the same transaction as their results. A partner's
//! lines are checked under its agreement, one by one: its daily quota counts each line, and a
//! line past it is rejected with that reason. Jobs and their results are deleted
//! `CREDITGATE_BULK_RETENTION_DAYS` (default 7) after submission; the reports stay.

pub mod export;
pub mod worker;

use diesel::Connection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{self, Actor};
use super::query::check_purpose;
use super::{access, agreements, rfc3339, Ctx, ServiceError, ServiceResult};
use crate::domain::{id_number, Caller, FieldError, IdNumber, Role};
use crate::import::Sheet;
use crate::store::bulk_checks::{self as store, JobRow, LineRow, DONE, QUEUED};

/// Lines one job may hold.
pub const MAX_LINES: usize = 100_000;

/// What `POST /api/v1/bulk-checks` sends besides the file.
#[derive(Default)]
pub struct BulkInput {
    pub scenario: Option<String>,
    pub purpose: Option<String>,
    pub reference: Option<String>,
    /// Partners: the subjects' written authorisation (a column `authorization_ref` may give one
    /// per line).
    pub authorization_ref: Option<String>,
    /// The file read, or why it could not be.
    pub file: Option<Result<Sheet, String>>,
}

/// Lines per verdict.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BulkCounts {
    pub clear: i32,
    pub review: i32,
    pub restricted: i32,
    pub prohibited: i32,
    /// Lines that could not be checked (the result says why, line by line).
    pub rejected: i32,
}

/// A job as its owner reads it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkJobView {
    #[schema(example = "bulk_01JD4S0M8Q3Z6Y2B5X7C9V1N0K")]
    pub id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    pub scenario: String,
    pub reference: Option<String>,
    /// `uscc` or `id_number`: the column checked.
    pub column: String,
    /// Lines in the file.
    pub total: i32,
    /// Lines checked (or rejected) so far.
    pub done: i32,
    /// `done / total`, 0 to 1.
    pub progress: f64,
    pub counts: BulkCounts,
    pub error: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// When the job and its result are deleted (its reports stay).
    pub expires_at: String,
}

fn invalid(field: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, code, message)
}

fn view(r: &JobRow) -> BulkJobView {
    BulkJobView {
        id: r.id.clone(),
        status: r.status.clone(),
        scenario: r.scenario.clone(),
        reference: r.reference.clone(),
        column: r.id_kind.clone(),
        total: r.total,
        done: r.cursor,
        progress: if r.total > 0 {
            (r.cursor as f64 / r.total as f64 * 1000.0).round() / 1000.0
        } else {
            1.0
        },
        counts: BulkCounts {
            clear: r.clear,
            review: r.review,
            restricted: r.restricted,
            prohibited: r.prohibited,
            rejected: r.rejected,
        },
        error: r.error.clone(),
        created_at: rfc3339(r.created_at),
        started_at: r.started_at.map(rfc3339),
        finished_at: r.finished_at.map(rfc3339),
        expires_at: rfc3339(r.expires_at),
    }
}

/// Which column of the file is checked, and where the optional ones are.
struct Columns {
    id_kind: &'static str,
    subject: usize,
    scenario: Option<usize>,
    authorization: Option<usize>,
}

fn columns(caller: &Caller, sheet: &Sheet) -> ServiceResult<Columns> {
    let at = |name: &str| sheet.header.iter().position(|h| h == name);
    let (id_kind, subject) = match (at("USCC"), at("ID_NUMBER")) {
        (Some(i), None) => ("uscc", i),
        (None, Some(i)) => {
            if !matches!(caller.role, Role::Officer | Role::Admin) {
                return Err(ServiceError::Forbidden(format!(
                    "natural persons are checked in bulk by officers only; a {} key checks codes (a column `uscc`)",
                    caller.role
                )));
            }
            ("id_number", i)
        }
        (Some(_), Some(_)) => {
            return Err(ServiceError::Invalid(vec![invalid(
                "file",
                "two_subject_columns",
                "the file has both `uscc` and `id_number`: one job checks one of them",
            )]))
        }
        (None, None) => {
            return Err(ServiceError::Invalid(vec![invalid(
                "file",
                "no_subject_column",
                format!(
                    "the first row names the columns, one of them `uscc` (or, for officers, `id_number`); found: {}",
                    id_number::masked(&sheet.header.join(", "))
                ),
            )]))
        }
    };
    Ok(Columns {
        id_kind,
        subject,
        scenario: at("SCENARIO"),
        authorization: at("AUTHORIZATION_REF"),
    })
}

/// The job's lines in input order: each data row, and each row refused while reading (rejected
/// with the reason), by the line or row number the file shows.
fn lines_of(ctx: &Ctx, job: &str, cols: &Columns, sheet: &Sheet) -> Vec<LineRow> {
    let cell = |row: &[String], i: Option<usize>| {
        i.and_then(|i| row.get(i))
            .map(|c| crate::domain::trim_blank(c).to_string())
            .filter(|c| !c.is_empty())
    };
    let mut lines: Vec<LineRow> = sheet
        .rows
        .iter()
        .zip(&sheet.numbers)
        .map(|(row, n)| {
            let value = cell(row, Some(cols.subject)).unwrap_or_default();
            let (shown, input_enc) = if cols.id_kind == "id_number" {
                // Whatever the cell holds (a mistyped number, a name), it is shown masked.
                let shown = match IdNumber::parse(&value) {
                    Ok(id) => id.masked(),
                    Err(_) => id_number::mask(&value),
                };
                (shown, Some(ctx.keys.encrypt(&value)))
            } else {
                // An ID number typed into the code column is neither kept nor shown as it is.
                (id_number::masked(&value.to_uppercase()), None)
            };
            LineRow {
                job_id: job.to_string(),
                seq: 0,
                line: *n as i32,
                shown,
                input_enc,
                scenario: cell(row, cols.scenario),
                authorization_ref: cell(row, cols.authorization),
                verdict: None,
                reason: None,
                measures: None,
                report_no: None,
            }
        })
        .collect();
    lines.extend(sheet.refused.iter().map(|(n, why)| LineRow {
        job_id: job.to_string(),
        seq: 0,
        line: *n as i32,
        shown: String::new(),
        input_enc: None,
        scenario: None,
        authorization_ref: None,
        verdict: Some("rejected".into()),
        reason: Some(id_number::masked(why)),
        measures: None,
        report_no: None,
    }));
    lines.sort_by_key(|l| l.line);
    for (i, l) in lines.iter_mut().enumerate() {
        l.seq = i as i32;
    }
    lines
}

/// `POST /api/v1/bulk-checks`: validates the request and the file, stores the job and its
/// lines, and answers at once; the runner checks them.
pub async fn submit(ctx: &Ctx, caller: &Caller, input: BulkInput) -> ServiceResult<BulkJobView> {
    access::RUN_BULK_CHECKS.require(caller)?;
    let set = ctx.rules();
    let mut errors = Vec::new();
    let scenario = match input.scenario.as_deref().map(str::trim) {
        Some(s) if set.scenario(s).is_some() => s.to_string(),
        Some(s) => {
            let known: Vec<&str> = set.scenarios.keys().map(String::as_str).collect();
            errors.push(invalid(
                "scenario",
                "unknown_scenario",
                format!(
                    "'{s}' is not a scenario of the rule set; one of {}",
                    known.join(", ")
                ),
            ));
            String::new()
        }
        None => {
            errors.push(invalid(
                "scenario",
                "required",
                "give the scenario every line is checked in",
            ));
            String::new()
        }
    };
    let purpose = match check_purpose(input.purpose.as_deref()) {
        Ok(p) => p,
        Err(ServiceError::Invalid(e)) => {
            errors.extend(e);
            String::new()
        }
        Err(e) => return Err(e),
    };
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(crate::domain::trim_blank)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let reference = text(&input.reference);
    if reference.as_ref().is_some_and(|r| r.chars().count() > 100) {
        errors.push(invalid(
            "reference",
            "too_long",
            "reference is at most 100 characters",
        ));
    }
    let authorization_ref = text(&input.authorization_ref);
    let sheet = match input.file {
        Some(Ok(sheet)) => Some(sheet),
        Some(Err(why)) => {
            errors.push(invalid("file", "unreadable_file", why));
            None
        }
        None => {
            errors.push(invalid(
                "file",
                "required",
                "send the roster as the multipart part `file`: a CSV (UTF-8) or XLSX whose first row names the column `uscc`",
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let sheet = sheet.unwrap_or_else(|| unreachable!("checked above"));
    let cols = columns(caller, &sheet)?;
    let total = sheet.rows.len() + sheet.refused.len();
    if total == 0 || total > MAX_LINES {
        return Err(ServiceError::Invalid(vec![invalid(
            "file",
            if total == 0 {
                "no_lines"
            } else {
                "too_many_lines"
            },
            format!("a job checks 1 to {MAX_LINES} lines; the file has {total}"),
        )]));
    }
    if caller.role == Role::Partner {
        let covered = agreements::covered_scenarios(ctx, &caller.org_code).await?;
        if !covered.contains(&scenario) {
            return Err(ServiceError::Forbidden(format!(
                "no agreement of {} in force covers '{scenario}'",
                caller.org_code
            )));
        }
    }
    let actor = Actor::new(ctx, caller);
    let id = format!("bulk_{}", ulid::Ulid::new());
    let lines = lines_of(ctx, &id, &cols, &sheet);
    let rejected = lines.iter().filter(|l| l.verdict.is_some()).count() as i32;
    let row = JobRow {
        id,
        org_code: caller.org_code.clone(),
        created_by: caller.key_id.clone(),
        owner_role: caller.role.as_str().to_string(),
        scenario,
        purpose,
        reference,
        authorization_ref,
        id_kind: cols.id_kind.to_string(),
        status: QUEUED.to_string(),
        total: lines.len() as i32,
        cursor: 0,
        clear: 0,
        review: 0,
        restricted: 0,
        prohibited: 0,
        rejected,
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
                store::insert(conn, &stored, &lines)?;
                let detail = json!({"id": stored.id, "scenario": stored.scenario, "lines": stored.total, "column": stored.id_kind});
                audit::log_change(conn, &actor, access::RUN_BULK_CHECKS.action, detail)
            })
        })
        .await?;
    Ok(view(&row))
}

/// The job, when the caller's organisation made it (admins: any); else 404.
async fn owned(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<JobRow> {
    access::READ_BULK_CHECKS.require(caller)?;
    let wanted = id.to_string();
    let row = ctx.db.run(move |c| store::find(c, &wanted)).await?;
    match row {
        Some(r) if caller.role == Role::Admin || r.org_code == caller.org_code => Ok(r),
        _ => Err(ServiceError::NotFound(format!("bulk check {id}"))),
    }
}

/// `GET /api/v1/bulk-checks/{id}`.
pub async fn get(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<BulkJobView> {
    Ok(view(&owned(ctx, caller, id).await?))
}

/// The job and its lines for a result file, once the job is done (409 before).
pub async fn result(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<(JobRow, Vec<LineRow>)> {
    let job = owned(ctx, caller, id).await?;
    if job.status != DONE {
        return Err(ServiceError::Conflict(
            format!(
                "the job is {}: its result is ready when it is done",
                job.status
            ),
            Some(serde_json::to_value(view(&job)).unwrap_or_default()),
        ));
    }
    let jid = job.id.clone();
    let lines = ctx
        .db
        .run(move |c| store::lines(c, &jid, 0, i64::MAX))
        .await?;
    let entry = audit::Entry {
        action: access::READ_BULK_CHECKS.action,
        purpose: Some(job.purpose.clone()),
        reference: job.reference.clone(),
        outcome: "ok",
        detail: Some(json!({"id": job.id, "lines": lines.len()})),
        ..Default::default()
    };
    audit::log(ctx, caller, entry).await?;
    Ok((job, lines))
}
