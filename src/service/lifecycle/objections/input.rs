//! Reading an objection's filing and steps: every problem named by field, nothing stored.

use chrono::NaiveDate;

use super::super::input::{long_text, step_day};
use super::model::{ObjectionInput, StepInput};
use crate::domain::{Caller, FieldError, FilerKind, ObjectionOutcome, Role};
use crate::store::objections::ObjectionRow;

/// A filing as read.
pub(super) struct Filing {
    pub(super) record_id: String,
    pub(super) grounds: String,
    pub(super) kind: FilerKind,
    pub(super) name: String,
    pub(super) contact: Option<String>,
    pub(super) received_on: NaiveDate,
}

pub(super) fn parse_filing(
    caller: &Caller,
    input: &ObjectionInput,
    today: NaiveDate,
) -> Result<Filing, Vec<FieldError>> {
    let mut errors = Vec::new();
    let record_id =
        crate::domain::trim_blank(input.record_id.as_deref().unwrap_or_default()).to_string();
    if record_id.is_empty() {
        errors.push(FieldError::new(
            "record_id",
            "required",
            "give the id of the record objected to (rec_…)",
        ));
    }
    let grounds = long_text("grounds", 10, input.grounds.as_deref(), &mut errors);
    let filed_by = input.filed_by.clone().unwrap_or_default();
    if input.filed_by.is_none() {
        errors.push(FieldError::new(
            "filed_by",
            "required",
            "give filed_by: kind, name and contact",
        ));
    }
    let kind = match filed_by.kind.as_deref().map(str::trim) {
        Some(k) => FilerKind::parse(k).or_else(|| {
            errors.push(FieldError::new(
                "filed_by.kind",
                "invalid_value",
                format!("filed_by.kind is one of {}", FilerKind::allowed()),
            ));
            None
        }),
        None => {
            if input.filed_by.is_some() {
                errors.push(FieldError::new(
                    "filed_by.kind",
                    "required",
                    format!("filed_by.kind is one of {}", FilerKind::allowed()),
                ));
            }
            None
        }
    };
    if kind == Some(FilerKind::Subject) && caller.role != Role::Admin {
        errors.push(FieldError::new("filed_by.kind", "admin_only", "a subject's own objection is recorded by the centre (admin); a department files as using_department"));
    }
    let name = crate::domain::trim_blank(filed_by.name.as_deref().unwrap_or_default()).to_string();
    if input.filed_by.is_some() && !(1..=100).contains(&name.chars().count()) {
        errors.push(FieldError::new(
            "filed_by.name",
            "length",
            "filed_by.name is 1 to 100 characters",
        ));
    }
    let contact = filed_by
        .contact
        .as_deref()
        .map(crate::domain::trim_blank)
        .filter(|c| !c.is_empty())
        // A contact is for the answer; an ID number written into it is kept masked.
        .map(|c| crate::domain::id_number::mask_id_numbers(c).into_owned());
    if contact.as_ref().is_some_and(|c| c.chars().count() > 100) {
        errors.push(FieldError::new(
            "filed_by.contact",
            "length",
            "filed_by.contact is at most 100 characters",
        ));
    }
    if input.received_on.is_some() && caller.role != Role::Admin {
        errors.push(FieldError::new("received_on", "admin_only", "only the centre (admin) records an objection received on an earlier day; leave received_on out to file today"));
    }
    let received_on = step_day(
        "received_on",
        input.received_on.as_deref(),
        today,
        None,
        &mut errors,
    );
    match (kind, received_on) {
        (Some(kind), Some(received_on)) if errors.is_empty() => Ok(Filing {
            record_id,
            grounds,
            kind,
            name: crate::domain::id_number::mask_id_numbers(&name).into_owned(),
            contact,
            received_on,
        }),
        _ => Err(errors),
    }
}

/// A decision's or answer's outcome (of those the step allows), written reason and day.
pub(super) fn parse_step(
    input: &StepInput,
    by_provider: bool,
    row: &ObjectionRow,
    today: NaiveDate,
) -> Result<(ObjectionOutcome, String, NaiveDate), Vec<FieldError>> {
    let allowed: &[ObjectionOutcome] = if by_provider {
        &[
            ObjectionOutcome::Confirmed,
            ObjectionOutcome::Corrected,
            ObjectionOutcome::Revoked,
        ]
    } else {
        &[
            ObjectionOutcome::Confirmed,
            ObjectionOutcome::Corrected,
            ObjectionOutcome::Forwarded,
        ]
    };
    let mut errors = Vec::new();
    let names: Vec<&str> = allowed.iter().map(|o| o.as_str()).collect();
    let outcome = match input.outcome.as_deref().map(str::trim) {
        Some(o) => ObjectionOutcome::parse(o).filter(|o| allowed.contains(o)),
        None => None,
    };
    if outcome.is_none() {
        let code = if input.outcome.is_none() {
            "required"
        } else {
            "invalid_value"
        };
        errors.push(FieldError::new(
            "outcome",
            code,
            format!("outcome is one of {}", names.join(", ")),
        ));
    }
    let reason = long_text("reason", 10, input.reason.as_deref(), &mut errors);
    let not_before = match row.forwarded_on {
        Some(f) if by_provider => (f, "the forwarding day"),
        _ => (row.received_on, "the filing day"),
    };
    let on = step_day(
        "on",
        input.on.as_deref(),
        today,
        Some(not_before),
        &mut errors,
    );
    match (outcome, on) {
        (Some(outcome), Some(on)) if errors.is_empty() => Ok((outcome, reason, on)),
        _ => Err(errors),
    }
}
