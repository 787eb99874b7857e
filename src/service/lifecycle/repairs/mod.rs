//! Credit repair (信用修复, NDRC Order 36 of 2025): the department that made the finding, or the
//! centre, records the application (谁认定、谁修复); it is refused before the record's minimum
//! publicity period has passed (`repair_too_early`, naming the first day) or for a record that
//! the periods do not let be repaired (`not_repairable`); the owning department decides within
//! 5 working days of acceptance. Approval ends publication, sharing and sanctions at once
//! (Order 36 Art. 3): from then on no check uses the record, only admins and auditors see it,
//! and every instance drops the subject's cached profile. The repair is kept apart from the
//! record, so a newer version from its provider does not undo it.

mod model;

pub use model::{
    ApplicantInput, ApplicantView, RepairDecisionInput, RepairInput, RepairList, RepairListQuery,
    RepairReadQuery, RepairView,
};

use crate::service::watchlists::events;
use chrono::NaiveDate;
use diesel::Connection;
use serde_json::json;

use self::model::{may_see, view};
use super::input::{long_text, step_day};
use crate::domain::lifecycle::REPAIR_WORKING_DAYS;
use crate::domain::{Caller, FieldError, RecordStatus, RepairStatus, Role};
use crate::service::audit::{self, Actor};
use crate::service::{access, query, signals, Ctx, ServiceError, ServiceResult};
use crate::store::records::{self, RecordRow};
use crate::store::repairs::{self as store, RepairRow};
use crate::store::StoreError;

/// Short text of 1 to `max` characters (`required`), or none; ID numbers kept masked.
fn short_text(
    field: &str,
    v: Option<&str>,
    max: usize,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let t = v.map(crate::domain::trim_blank).filter(|t| !t.is_empty());
    match t {
        None if required => errors.push(FieldError::new(
            field,
            "required",
            format!("give {field}: 1 to {max} characters"),
        )),
        Some(t) if t.chars().count() > max => errors.push(FieldError::new(
            field,
            "length",
            format!("{field} is at most {max} characters"),
        )),
        _ => {}
    }
    t.map(|t| crate::domain::id_number::mask_id_numbers(t).into_owned())
}

/// Why the record cannot be repaired on `day`, as the error to answer; `None`: it can.
fn eligibility(
    ctx: &Ctx,
    r: &RecordRow,
    repaired: Option<NaiveDate>,
    day: NaiveDate,
) -> Option<FieldError> {
    let not = |why: String| Some(FieldError::new("record_id", "not_repairable", why));
    if r.status == RecordStatus::Revoked {
        return not(format!(
            "record {} is revoked: it has no effect to end",
            r.id
        ));
    }
    if let Some(on) = repaired {
        return not(format!("record {} was repaired on {on}", r.id));
    }
    let dates = super::dates_of_row(&ctx.rules(), r);
    let Some(first) = dates.repair_eligible_from else {
        return not(format!(
            "record {} is not repaired by the centre under rules/periods.yaml ({}): it ends with its own period or is removed by its issuer",
            r.id,
            if dates.rule_ids.is_empty() { "no period applies to its kind".to_string() } else { dates.rule_ids.join(", ") }
        ));
    };
    if dates.publicity_until.is_some_and(|u| u < day) {
        return not(format!(
            "record {}'s publicity ended on {}: it has no effect already",
            r.id,
            dates
                .publicity_until
                .map(|u| u.to_string())
                .unwrap_or_default()
        ));
    }
    if day < first {
        return Some(FieldError::new(
            "record_id",
            "repair_too_early",
            format!("a repair of record {} may be applied for from {first}, once its minimum publicity period has passed (NDRC Order 36); the application is dated {day}", r.id),
        ));
    }
    None
}

/// `POST /api/v1/repairs`.
#[tracing::instrument(skip_all, fields(role = %caller.role))]
pub async fn apply(ctx: &Ctx, caller: &Caller, input: RepairInput) -> ServiceResult<RepairView> {
    access::APPLY_REPAIR.require(caller)?;
    let today = ctx.clock.today();
    let mut errors = Vec::new();
    let record_id = short_text(
        "record_id",
        input.record_id.as_deref(),
        64,
        true,
        &mut errors,
    );
    if input.applicant.is_none() {
        errors.push(FieldError::new(
            "applicant",
            "required",
            "give the applicant: name and contact",
        ));
    }
    let applicant = input.applicant.clone().unwrap_or_default();
    let name = short_text(
        "applicant.name",
        applicant.name.as_deref(),
        100,
        input.applicant.is_some(),
        &mut errors,
    );
    let contact = short_text(
        "applicant.contact",
        applicant.contact.as_deref(),
        100,
        false,
        &mut errors,
    );
    let commitment = short_text(
        "commitment",
        input.commitment.as_deref(),
        200,
        true,
        &mut errors,
    );
    let evidence = short_text(
        "evidence",
        input.evidence.as_deref(),
        2000,
        false,
        &mut errors,
    );
    let received_on = step_day(
        "received_on",
        input.received_on.as_deref(),
        today,
        None,
        &mut errors,
    );
    let (Some(record_id), Some(name), Some(received_on), true) =
        (record_id, name, received_on, errors.is_empty())
    else {
        return Err(ServiceError::Invalid(errors));
    };
    let not_found = || ServiceError::NotFound(format!("record {record_id}"));
    let Some((record, subject, repaired)) = query::stored_record(ctx, &record_id).await? else {
        return Err(not_found());
    };
    let subject_key = subject.subject_key;
    // 谁认定、谁修复: a provider records repairs of its own records only. Another's record that
    // it may see is refused in words; one it may not see is answered as absent.
    if caller.role != Role::Admin && caller.org_code != record.source_code {
        let grants = crate::service::grants::in_force(ctx, caller).await?;
        return if query::shown_to(ctx, caller, &record, repaired, &grants) {
            Err(ServiceError::Forbidden(format!(
                "the repair of record {record_id} is decided by the department that made the finding ({}), or by the centre (谁认定、谁修复)",
                record.source_code
            )))
        } else {
            Err(not_found())
        };
    }
    if let Some(first) = record.decision_date.or(record.valid_from) {
        if received_on < first {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "received_on",
                "too_early",
                format!("received_on {received_on} is before the record's decision ({first})"),
            )]));
        }
    }
    if let Some(e) = eligibility(ctx, &record, repaired, received_on) {
        return Err(ServiceError::Invalid(vec![e]));
    }
    let due = ctx
        .rules()
        .calendar
        .add_working_days(received_on, REPAIR_WORKING_DAYS);
    let actor = Actor::new(ctx, caller);
    let row = RepairRow {
        id: format!("rep_{}", ulid::Ulid::new()),
        record_id: record.id.clone(),
        provider_code: record.source_code.clone(),
        applicant_name: name,
        applicant_contact: contact,
        commitment: Some(commitment.unwrap_or_default()),
        evidence,
        status: RepairStatus::Accepted.as_str().into(),
        received_on,
        decision_due: due.date,
        decided_on: None,
        reason: None,
        record_version: None,
        created_by_org: caller.org_code.clone(),
        created_at: actor.at,
        updated_at: actor.at,
        pushed_at: None,
        push_refused: None,
    };
    let saved = row.clone();
    let written = ctx
        .db
        .run_write(move |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                if let Some(open) = store::with_status(conn, &saved.record_id, "accepted")? {
                    return Ok(Some(open.received_on));
                }
                store::insert(conn, &saved)?;
                let entry = audit::Entry {
                    action: access::APPLY_REPAIR.action,
                    subject_key: Some(subject_key.clone()),
                    records: vec![saved.record_id.clone()],
                    outcome: "ok",
                    detail: Some(json!({"repair_id": saved.id, "status": saved.status, "decision_due": saved.decision_due})),
                    ..Default::default()
                };
                audit::append(conn, &actor, &entry)?;
                Ok(None)
            })
        })
        .await;
    let pending = |since: NaiveDate| {
        ServiceError::Invalid(vec![FieldError::new(
            "record_id",
            "repair_pending",
            format!(
                "an application to repair this record, received on {since}, awaits its decision"
            ),
        )])
    };
    match written {
        Ok(None) => Ok(view(&row)),
        Ok(Some(since)) => Err(pending(since)),
        Err(e) if e.is_unique_violation() => Err(pending(received_on)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/repairs/{id}/decision`: the department that owns the record, or the centre.
#[tracing::instrument(skip_all, fields(role = %caller.role, repair_id = %id))]
pub async fn decide(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    input: RepairDecisionInput,
) -> ServiceResult<RepairView> {
    access::DECIDE_REPAIR.require(caller)?;
    let today = ctx.clock.today();
    let lookup = id.to_string();
    let found = ctx
        .db
        .run(move |conn| {
            let Some(row) = store::find(conn, &lookup)? else {
                return Ok(None);
            };
            let subject = records::with_subject(conn, &row.record_id)?.map(|(_, s)| s.subject_key);
            Ok(Some((row, subject)))
        })
        .await?;
    let Some((row, Some(subject_key))) = found.filter(|(r, _)| may_see(caller, r)) else {
        return Err(ServiceError::NotFound(format!("repair {id}")));
    };
    let mut errors = Vec::new();
    let outcome = match input.outcome.as_deref().map(str::trim) {
        Some("approved") => Some(RepairStatus::Approved),
        Some("rejected") => Some(RepairStatus::Rejected),
        other => {
            let code = if other.is_none() {
                "required"
            } else {
                "invalid_value"
            };
            errors.push(FieldError::new(
                "outcome",
                code,
                "outcome is approved or rejected",
            ));
            None
        }
    };
    let reason = long_text("reason", 10, input.reason.as_deref(), &mut errors);
    let on = step_day(
        "on",
        input.on.as_deref(),
        today,
        Some((row.received_on, "the application")),
        &mut errors,
    );
    let (Some(outcome), Some(on), true) = (outcome, on, errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    // A 409's `current`: the state and dates, not the applicant (no personal data in errors).
    let conflict = |why: String, r: &RepairRow| {
        ServiceError::Conflict(
            why,
            Some(
                json!({"id": r.id, "record_id": r.record_id, "status": r.status,
                        "received_on": r.received_on, "decision_due": r.decision_due,
                        "decided_on": r.decided_on}),
            ),
        )
    };
    if row.status != RepairStatus::Accepted.as_str() {
        return Err(conflict(
            format!(
                "the application is {}, decided on {}",
                row.status,
                row.decided_on.map(|d| d.to_string()).unwrap_or_default()
            ),
            &row,
        ));
    }
    let actor = Actor::new(ctx, caller);
    let approved = outcome == RepairStatus::Approved;
    let (rid, key) = (id.to_string(), subject_key.clone());
    let record_id = row.record_id.clone();
    let (status_text, reason_text) = (outcome.as_str().to_string(), reason.clone());
    let watch = crate::service::watchlists::events::Watch::of(ctx);
    let decided = ctx
        .db
        .run_write(move |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                // What an approval needs of the record, read with the write: not revoked, not
                // repaired meanwhile (by another application).
                let mut version = None;
                if approved {
                    let Some(r) = records::find(conn, &record_id)? else {
                        return Ok(Decided::NotReady(format!("record {record_id} is gone")));
                    };
                    if r.status == RecordStatus::Revoked {
                        return Ok(Decided::NotReady(format!(
                            "record {record_id} was revoked meanwhile: it has no effect to end"
                        )));
                    }
                    let done = store::repaired_on(conn, std::slice::from_ref(&record_id))?;
                    if let Some(d) = done.get(&record_id) {
                        return Ok(Decided::NotReady(format!(
                            "record {record_id} was repaired on {d} by another application"
                        )));
                    }
                    version = Some(r.version);
                }
                let d = store::Decision {
                    status: &status_text,
                    on,
                    reason: &reason_text,
                    record_version: version,
                    at: actor.at,
                };
                // Watchers of the subject are told of an approval, with the verdicts around it.
                let before = if approved {
                    events::before(conn, &watch, std::slice::from_ref(&key))?
                } else {
                    events::Before::default()
                };
                if !store::decide(conn, &rid, &d)? {
                    return Ok(Decided::Lost(store::find(conn, &rid)?.map(Box::new)));
                }
                if approved {
                    signals::emit_profiles(conn, std::iter::once(&key))?;
                    let change = events::Change {
                        subject_key: key.clone(),
                        record_id: record_id.clone(),
                        kind: events::EventType::Repaired,
                    };
                    events::after(conn, &watch, before, &[change], actor.at)?;
                }
                let entry = audit::Entry {
                    action: access::DECIDE_REPAIR.action,
                    subject_key: Some(key.clone()),
                    records: vec![record_id.clone()],
                    outcome: "ok",
                    detail: Some(
                        json!({"repair_id": rid, "status": status_text, "decided_on": on}),
                    ),
                    ..Default::default()
                };
                audit::append(conn, &actor, &entry)?;
                Ok(Decided::Done)
            })
        })
        .await;
    match decided {
        Ok(Decided::Done) => {}
        Ok(Decided::NotReady(why)) => return Err(conflict(why, &row)),
        Ok(Decided::Lost(Some(now))) => {
            return Err(conflict(
                format!(
                    "another decision came first: the application is {}",
                    now.status
                ),
                &now,
            ))
        }
        Ok(Decided::Lost(None)) => return Err(ServiceError::NotFound(format!("repair {id}"))),
        // Two approvals of one record at once: the index lets one through.
        Err(e) if e.is_unique_violation() => {
            return Err(conflict(
                "the record was repaired meanwhile by another application".into(),
                &row,
            ))
        }
        Err(e) => return Err(e.into()),
    }
    if approved {
        query::invalidate_profiles(ctx, std::iter::once(&subject_key)).await;
    }
    let mut decided = row;
    decided.status = outcome.as_str().into();
    decided.decided_on = Some(on);
    decided.reason = Some(reason);
    Ok(view(&decided))
}

/// How a decision's transaction ended.
enum Decided {
    Done,
    /// Another decision came first: the application as it now stands (`None`: it went away).
    Lost(Option<Box<RepairRow>>),
    /// The record no longer allows the approval: why.
    NotReady(String),
}

/// `GET /api/v1/repairs/{id}`.
pub async fn get(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    purpose: Option<&str>,
) -> ServiceResult<RepairView> {
    access::READ_REPAIRS.require(caller)?;
    let purpose = query::check_purpose(purpose)?;
    let lookup = id.to_string();
    let shown = ctx
        .db
        .run(move |conn| store::find(conn, &lookup))
        .await?
        .filter(|r| may_see(caller, r));
    let entry = audit::Entry {
        action: access::READ_REPAIRS.action,
        records: shown.iter().map(|r| r.record_id.clone()).collect(),
        purpose: Some(purpose),
        outcome: if shown.is_some() { "ok" } else { "not_found" },
        detail: Some(json!({"repair_id": id})),
        ..Default::default()
    };
    audit::log(ctx, caller, entry).await?;
    shown
        .map(|r| view(&r))
        .ok_or_else(|| ServiceError::NotFound(format!("repair {id}")))
}

/// `GET /api/v1/repairs`: those the caller may see, in the order received.
pub async fn list(ctx: &Ctx, caller: &Caller, q: RepairListQuery) -> ServiceResult<RepairList> {
    access::READ_REPAIRS.require(caller)?;
    let purpose = query::check_purpose(q.purpose.as_deref())?;
    let (status, limit) = super::input::list_args(
        q.status.as_deref(),
        |s| RepairStatus::parse(s).map(|s| s.as_str()),
        &RepairStatus::allowed(),
        q.limit,
    )
    .map_err(ServiceError::Invalid)?;
    let provider =
        (!matches!(caller.role, Role::Admin | Role::Auditor)).then(|| caller.org_code.clone());
    let cursor = q.cursor.clone();
    let rows = ctx
        .db
        .run(move |conn| {
            store::list(
                conn,
                provider.as_deref(),
                status,
                cursor.as_deref(),
                limit + 1,
            )
        })
        .await?;
    let (rows, next_cursor) = super::input::page(rows, limit, |r| r.id.clone());
    let entry = audit::Entry {
        action: access::READ_REPAIRS.action,
        records: rows.iter().map(|r| r.record_id.clone()).collect(),
        purpose: Some(purpose),
        outcome: "ok",
        detail: Some(json!({"listed": rows.len()})),
        ..Default::default()
    };
    audit::log(ctx, caller, entry).await?;
    Ok(RepairList {
        next_cursor,
        items: rows.iter().map(view).collect(),
    })
}
