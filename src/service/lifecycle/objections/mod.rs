//! Objections (异议, the governing measures Art. 21): a using department that finds a record
//! wrong reports it in writing, or the centre records a subject's own objection; the record is
//! marked `under_objection` at once; the centre reviews within 5 working days and confirms,
//! corrects, or forwards a non-technical discrepancy to the providing department, which answers
//! within 3 working days; the written answer goes back to the filer. Deadlines count working
//! days after the day of the step (that day not counted) in Asia/Shanghai, from the rule set's
//! calendar.
//!
//! Every step is one transaction: the objection moves by compare-and-set on its status and
//! history (of two deciders at once exactly one moves it, the other gets 409 with the objection
//! as it stands), the record's mark changes, every instance hears of it, and the access log
//! takes the step.

mod input;
mod model;

pub use model::{
    FiledByInput, FiledByView, ListQuery, ObjectionInput, ObjectionList, ObjectionView, ReadQuery,
    StepInput, StepView,
};

use chrono::NaiveDate;
use diesel::Connection;
use serde_json::json;

use self::model::{history_of, may_see, step_view, view};
use crate::domain::lifecycle::{objection_step, PROVIDER_WORKING_DAYS, REVIEW_WORKING_DAYS};
use crate::domain::{Caller, FieldError, ObjectionOutcome, ObjectionStatus, RecordStatus, Role};
use crate::service::audit::{self, Actor};
use crate::service::{access, query, signals, Ctx, ServiceError, ServiceResult};
use crate::store::objections::{self as store, Filter, ObjectionRow, Step};
use crate::store::records::RecordRow;
use crate::store::{records, StoreError};

/// The record objected to as the caller may see it, with its subject's key.
async fn record_for(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
) -> ServiceResult<Option<(RecordRow, String)>> {
    let Some((row, subject, repaired_on)) = query::stored_record(ctx, id).await? else {
        return Ok(None);
    };
    let grants = crate::service::grants::in_force(ctx, caller).await?;
    Ok(query::shown_to(ctx, caller, &row, repaired_on, &grants)
        .then_some((row, subject.subject_key)))
}

/// `POST /api/v1/objections`.
#[tracing::instrument(skip_all, fields(role = %caller.role))]
pub async fn file(
    ctx: &Ctx,
    caller: &Caller,
    input: ObjectionInput,
) -> ServiceResult<ObjectionView> {
    access::FILE_OBJECTION.require(caller)?;
    let today = ctx.clock.today();
    let f = input::parse_filing(caller, &input, today).map_err(ServiceError::Invalid)?;
    let Some((record, subject_key)) = record_for(ctx, caller, &f.record_id).await? else {
        let entry = audit::Entry {
            action: access::FILE_OBJECTION.action,
            records: vec![f.record_id.clone()],
            outcome: "not_found",
            ..Default::default()
        };
        audit::log(ctx, caller, entry).await?;
        return Err(ServiceError::NotFound(format!("record {}", f.record_id)));
    };
    if let Some(first) = record.decision_date.or(record.valid_from) {
        if f.received_on < first {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "received_on",
                "too_early",
                format!("received_on {} is before the record's decision ({first}); give the day the objection was received", f.received_on),
            )]));
        }
    }
    let due = ctx
        .rules()
        .calendar
        .add_working_days(f.received_on, REVIEW_WORKING_DAYS);
    if !due.exact {
        tracing::warn!(received_on = %f.received_on, "review deadline counted past the calendar's years, by weekends only");
    }
    let actor = Actor::new(ctx, caller);
    let filed = step_view(caller, "filed", None, None, f.received_on, &actor);
    let row = ObjectionRow {
        id: format!("obj_{}", ulid::Ulid::new()),
        record_id: record.id.clone(),
        provider_code: record.source_code.clone(),
        filer_org: caller.org_code.clone(),
        filer_role: caller.role.as_str().into(),
        filed_by_kind: f.kind.as_str().into(),
        filed_by_name: f.name,
        filed_by_contact: f.contact,
        grounds: f.grounds,
        record_version: record.version,
        status: ObjectionStatus::Open.as_str().into(),
        outcome: None,
        received_on: f.received_on,
        review_due: due.date,
        forwarded_on: None,
        provider_due: None,
        closed_on: None,
        history: serde_json::to_string(&[filed]).unwrap_or_else(|_| "[]".into()),
        created_at: actor.at,
        updated_at: actor.at,
    };
    let mut saved = row.clone();
    let key = subject_key.clone();
    let written = ctx
        .db
        .run_write(move |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                if let Some(open) = store::open_on(conn, &saved.record_id)? {
                    return Ok(Filed::Already(open.received_on));
                }
                // The version objected to, read with the write: a correction that arrives after
                // this commit is newer, one that arrived before it is what was objected to.
                match records::find(conn, &saved.record_id)? {
                    Some(r) => saved.record_version = r.version,
                    None => return Ok(Filed::Gone),
                }
                store::insert(conn, &saved)?;
                records::set_under_objection(conn, &saved.record_id, true)?;
                signals::emit_profiles(conn, std::iter::once(&key))?;
                let entry = audit::Entry {
                    action: access::FILE_OBJECTION.action,
                    subject_key: Some(key.clone()),
                    records: vec![saved.record_id.clone()],
                    outcome: "ok",
                    detail: Some(json!({"objection_id": saved.id, "status": saved.status, "review_due": saved.review_due})),
                    ..Default::default()
                };
                audit::append(conn, &actor, &entry)?;
                Ok(Filed::Done(saved.record_version))
            })
        })
        .await;
    let already = |since: NaiveDate| {
        ServiceError::Invalid(vec![FieldError::new(
            "record_id",
            "objection_open",
            format!("an objection to this record, filed on {since}, is being handled; one is handled at a time, and its answer comes to its filer"),
        )])
    };
    let mut row = row;
    match written {
        Ok(Filed::Done(version)) => row.record_version = version,
        Ok(Filed::Already(since)) => return Err(already(since)),
        Ok(Filed::Gone) => return Err(ServiceError::NotFound(format!("record {}", row.record_id))),
        // Two filings at once: the unique index lets one through; name the one that passed.
        Err(e) if e.is_unique_violation() => {
            let rid = row.record_id.clone();
            let open = ctx.db.run(move |conn| store::open_on(conn, &rid)).await?;
            return Err(already(open.map_or(f.received_on, |o| o.received_on)));
        }
        Err(e) => return Err(e.into()),
    }
    query::invalidate_profiles(ctx, std::iter::once(&subject_key)).await;
    Ok(view(caller, &row, today))
}

/// How a filing's transaction ended.
enum Filed {
    /// Written, objecting to this version of the record.
    Done(i64),
    /// An objection to the record, filed on this day, is open.
    Already(NaiveDate),
    /// The record went away meanwhile.
    Gone,
}

/// How a step's transaction ended.
enum Stepped {
    Done,
    /// Another step came first: the objection as it now stands (`None`: it went away).
    Lost(Option<Box<ObjectionRow>>),
    /// The record is not yet what the outcome needs (no correction, no revocation): why.
    NotReady(String),
}

/// `POST /api/v1/objections/{id}/decision` (the centre) and `…/answer` (the provider).
#[tracing::instrument(skip_all, fields(role = %caller.role, objection_id = %id))]
pub async fn step(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    by_provider: bool,
    input: StepInput,
) -> ServiceResult<ObjectionView> {
    let op = if by_provider {
        &access::ANSWER_OBJECTION
    } else {
        &access::DECIDE_OBJECTION
    };
    op.require(caller)?;
    let today = ctx.clock.today();
    let lookup = id.to_string();
    let current = ctx.db.run(move |conn| store::find(conn, &lookup)).await?;
    let Some(row) = current.filter(|r| {
        may_see(caller, r)
            && (!by_provider || caller.role == Role::Admin || caller.org_code == r.provider_code)
    }) else {
        return Err(ServiceError::NotFound(format!("objection {id}")));
    };
    let (outcome, reason, on) =
        input::parse_step(&input, by_provider, &row, today).map_err(ServiceError::Invalid)?;
    let conflict = |why: String, row: &ObjectionRow| {
        ServiceError::Conflict(why, Some(model::state_of(row, today)))
    };
    let status = ObjectionStatus::parse(&row.status).unwrap_or(ObjectionStatus::Closed);
    let next = objection_step(status, by_provider, outcome)
        .map_err(|why| conflict(format!("the objection is {}: {why}", row.status), &row))?;
    let rid = row.record_id.clone();
    let record = ctx
        .db
        .run(move |conn| records::with_subject(conn, &rid))
        .await?;
    let Some((_, subject)) = record else {
        return Err(ServiceError::NotFound(format!("record {}", row.record_id)));
    };
    let actor = Actor::new(ctx, caller);
    let mut history = history_of(&row);
    let what = if by_provider { "answered" } else { "decided" };
    history.push(step_view(
        caller,
        what,
        Some(outcome.as_str()),
        Some(reason),
        on,
        &actor,
    ));
    let history_text = serde_json::to_string(&history).unwrap_or_else(|_| "[]".into());
    let closed = next == ObjectionStatus::Closed;
    let (forwarded_on, provider_due) = if next == ObjectionStatus::Forwarded {
        (
            Some(on),
            Some(
                ctx.rules()
                    .calendar
                    .add_working_days(on, PROVIDER_WORKING_DAYS)
                    .date,
            ),
        )
    } else {
        (row.forwarded_on, row.provider_due)
    };
    let mut updated = row.clone();
    updated.status = next.as_str().into();
    updated.outcome = closed.then(|| outcome.as_str().to_string());
    updated.forwarded_on = forwarded_on;
    updated.provider_due = provider_due;
    updated.closed_on = closed.then_some(on);
    updated.history = history_text;
    updated.updated_at = actor.at;
    let (saved, read, key) = (updated.clone(), row.clone(), subject.subject_key.clone());
    let action = op.action;
    let moved = ctx
        .db
        .run_write(move |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                let s = Step {
                    status: &saved.status,
                    outcome: saved.outcome.as_deref(),
                    forwarded_on: saved.forwarded_on,
                    provider_due: saved.provider_due,
                    closed_on: saved.closed_on,
                    history: &saved.history,
                    at: saved.updated_at,
                };
                // What the outcome needs of the record, read with the write.
                let Some(record) = records::find(conn, &saved.record_id)? else {
                    return Ok(Stepped::NotReady(format!("record {} is gone", saved.record_id)));
                };
                if let Some(why) = not_ready(outcome, &record, read.record_version) {
                    return Ok(Stepped::NotReady(why));
                }
                if !store::step(conn, &saved.id, &read.status, &read.history, &s)? {
                    return Ok(Stepped::Lost(store::find(conn, &saved.id)?.map(Box::new)));
                }
                if closed {
                    records::set_under_objection(conn, &saved.record_id, false)?;
                    signals::emit_profiles(conn, std::iter::once(&key))?;
                }
                let entry = audit::Entry {
                    action,
                    subject_key: Some(key.clone()),
                    records: vec![saved.record_id.clone()],
                    outcome: "ok",
                    detail: Some(json!({"objection_id": saved.id, "status": saved.status, "outcome": outcome.as_str()})),
                    ..Default::default()
                };
                audit::append(conn, &actor, &entry)?;
                Ok(Stepped::Done)
            })
        })
        .await?;
    match moved {
        Stepped::Done => {}
        Stepped::NotReady(why) => return Err(conflict(why, &row)),
        Stepped::Lost(Some(now)) => {
            return Err(conflict(
                format!("another step came first: the objection is {}", now.status),
                &now,
            ))
        }
        Stepped::Lost(None) => return Err(ServiceError::NotFound(format!("objection {id}"))),
    }
    if closed {
        query::invalidate_profiles(ctx, std::iter::once(&subject.subject_key)).await;
    }
    Ok(view(caller, &updated, today))
}

/// Why the record does not (yet) bear the outcome out: `corrected` needs a version newer than
/// the one objected to, `revoked` the record's revocation.
fn not_ready(outcome: ObjectionOutcome, record: &RecordRow, objected: i64) -> Option<String> {
    match outcome {
        ObjectionOutcome::Corrected if record.version <= objected => Some(format!(
            "no newer version of record {} has arrived since the objection was filed (it is at version {}); the providing department sends the corrected record first",
            record.id, record.version
        )),
        ObjectionOutcome::Revoked if record.status != RecordStatus::Revoked => Some(format!(
            "record {} is not revoked; the providing department sends its revocation first",
            record.id
        )),
        _ => None,
    }
}

/// `GET /api/v1/objections/{id}`.
pub async fn get(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    purpose: Option<&str>,
) -> ServiceResult<ObjectionView> {
    access::READ_OBJECTIONS.require(caller)?;
    let purpose = query::check_purpose(purpose)?;
    let lookup = id.to_string();
    let found = ctx.db.run(move |conn| store::find(conn, &lookup)).await?;
    let shown = found.filter(|r| may_see(caller, r));
    let entry = audit::Entry {
        action: access::READ_OBJECTIONS.action,
        records: shown.iter().map(|r| r.record_id.clone()).collect(),
        purpose: Some(purpose),
        outcome: if shown.is_some() { "ok" } else { "not_found" },
        detail: Some(json!({"objection_id": id})),
        ..Default::default()
    };
    audit::log(ctx, caller, entry).await?;
    match shown {
        Some(r) => Ok(view(caller, &r, ctx.clock.today())),
        None => Err(ServiceError::NotFound(format!("objection {id}"))),
    }
}

/// `GET /api/v1/objections`: those the caller may see, in filing order.
pub async fn list(ctx: &Ctx, caller: &Caller, q: ListQuery) -> ServiceResult<ObjectionList> {
    access::READ_OBJECTIONS.require(caller)?;
    let purpose = query::check_purpose(q.purpose.as_deref())?;
    let (status, limit) = super::input::list_args(
        q.status.as_deref(),
        |s| ObjectionStatus::parse(s).map(|s| s.as_str()),
        &ObjectionStatus::allowed(),
        q.limit,
    )
    .map_err(ServiceError::Invalid)?;
    let today = ctx.clock.today();
    let filter = Filter {
        status: status.map(str::to_string),
        overdue_on: q.overdue.unwrap_or(false).then_some(today),
        org: (!matches!(caller.role, Role::Admin | Role::Auditor)).then(|| caller.org_code.clone()),
        after: q.cursor.clone(),
        limit: limit + 1,
    };
    let rows = ctx.db.run(move |conn| store::list(conn, &filter)).await?;
    let (rows, next_cursor) = super::input::page(rows, limit, |r| r.id.clone());
    let entry = audit::Entry {
        action: access::READ_OBJECTIONS.action,
        records: rows.iter().map(|r| r.record_id.clone()).collect(),
        purpose: Some(purpose),
        outcome: "ok",
        detail: Some(json!({"listed": rows.len()})),
        ..Default::default()
    };
    audit::log(ctx, caller, entry).await?;
    Ok(ObjectionList {
        next_cursor,
        items: rows.iter().map(|r| view(caller, r, today)).collect(),
    })
}

/// Objections past their running deadline today: (with the centre, with the provider).
pub async fn overdue_counts(ctx: &Ctx) -> ServiceResult<(i64, i64)> {
    let today = ctx.clock.today();
    Ok(ctx
        .db
        .run(move |conn| store::overdue_counts(conn, today))
        .await?)
}
