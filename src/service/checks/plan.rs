//! A check request validated into a plan: whom, in which scenario, for what, as of when.

use super::*;

/// A validated check of one subject.
pub(super) struct Plan {
    pub(super) scenario: String,
    pub(super) key: SubjectKey,
    pub(super) given_name: Option<String>,
    pub(super) persons: Vec<PersonPlan>,
    pub(super) purpose: String,
    pub(super) reference: Option<String>,
    pub(super) as_of: NaiveDate,
    /// The subject's code fails its check character: checked only if a subject is held under
    /// it with the checksum warning (`Uscc::parse_lookup`); otherwise this is the answer.
    pub(super) unverified: Option<FieldError>,
    /// A replay: the facts as received by this time (UTC), not as known now (`replay`).
    pub(super) known_at: Option<chrono::NaiveDateTime>,
}

pub(super) struct PersonPlan {
    pub(super) role: AppliesTo,
    pub(super) name: String,
    pub(super) id: Option<IdNumber>,
}

pub(super) fn invalid(field: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, code, message)
}

/// Scenario, purpose, reference and as-of date, common to single and batch checks.
pub(super) fn common(
    set: &RuleSet,
    today: NaiveDate,
    scenario: Option<&str>,
    purpose: Option<&str>,
    reference: Option<&str>,
    as_of: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> (String, String, Option<String>, NaiveDate) {
    let scenario = scenario.map(str::trim).unwrap_or("").to_string();
    if scenario.is_empty() {
        errors.push(invalid(
            "scenario",
            "required",
            format!(
                "name the scenario: one of {}",
                set.scenario_names().join(", ")
            ),
        ));
    } else if set.scenario(&scenario).is_none() {
        errors.push(invalid(
            "scenario",
            "unknown_scenario",
            format!(
                "unknown scenario '{scenario}'; the rule set knows {}",
                set.scenario_names().join(", ")
            ),
        ));
    }
    let purpose = match check_purpose(purpose) {
        Ok(p) => p,
        Err(ServiceError::Invalid(e)) => {
            errors.extend(e);
            String::new()
        }
        Err(_) => String::new(),
    };
    let reference = reference
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(crate::domain::id_number::mask_id_numbers);
    let reference = reference.as_deref();
    if reference.is_some_and(|r| r.chars().count() > 100) {
        errors.push(invalid(
            "reference",
            "invalid_length",
            "the reference is at most 100 characters",
        ));
    }
    // Absent is today; an empty string is no date (the document says `format: date`).
    let as_of = match as_of {
        None => today,
        Some(s) => {
            match crate::domain::iso_date(s) {
                // A day ahead (the bid deadline next week) is evaluated on what is known today, its
                // publicity periods counted to that day; at most a year ahead.
                Some(d) if d > today + chrono::TimeDelta::days(366) => {
                    errors.push(invalid(
                        "as_of",
                        "future_date",
                        format!("as_of {d} is more than a year after today ({today}); a check looks ahead at most a year"),
                    ));
                    today
                }
                Some(d) => d,
                None => {
                    errors.push(invalid(
                        "as_of",
                        "invalid_date",
                        format!("'{s}' is not a date; write YYYY-MM-DD"),
                    ));
                    today
                }
            }
        }
    };
    (scenario, purpose, reference.map(String::from), as_of)
}

pub(super) fn subject_key(
    s: &CheckSubjectInput,
    prefix: &str,
    errors: &mut Vec<FieldError>,
    unverified: &mut Option<FieldError>,
) -> Option<SubjectKey> {
    let field = |f: &str| {
        if prefix.is_empty() {
            f.to_string()
        } else {
            format!("{prefix}.{f}")
        }
    };
    match (&s.uscc, &s.id_number) {
        (Some(_), Some(_)) => {
            errors.push(invalid(
                &field("uscc"),
                "ambiguous_subject",
                "give either uscc (an organisation) or id_number (a natural person), not both",
            ));
            None
        }
        (Some(u), None) => {
            let reg_no = s.reg_no.as_deref().map(str::trim).filter(|r| !r.is_empty());
            match Uscc::parse_lookup(u, reg_no) {
                Ok((code, _)) if code.is_placeholder() => {
                    reg_no.map(|r| SubjectKey::RegNo(r.to_string()))
                }
                Ok((code, None)) => Some(SubjectKey::Uscc(code)),
                Ok((code, Some(e))) => {
                    *unverified = Some(invalid(&field("uscc"), e.code(), e.to_string()));
                    Some(SubjectKey::Uscc(code))
                }
                Err(e) => {
                    let f = if matches!(e, UsccError::PlaceholderWithoutRegNo) {
                        field("reg_no")
                    } else {
                        field("uscc")
                    };
                    errors.push(invalid(&f, e.code(), e.to_string()));
                    None
                }
            }
        }
        (None, Some(id)) => match IdNumber::parse(id) {
            Ok(id) => Some(SubjectKey::Person(id)),
            Err(e) => {
                errors.push(invalid(&field("id_number"), e.code(), e.to_string()));
                None
            }
        },
        (None, None) => {
            errors.push(invalid(
                &field("uscc"),
                "required",
                "give the subject's uscc (or id_number for a natural person)",
            ));
            None
        }
    }
}

pub(super) fn plan(
    set: &RuleSet,
    today: NaiveDate,
    req: &CheckRequest,
) -> Result<Plan, Vec<FieldError>> {
    let mut errors = Vec::new();
    let (scenario, purpose, reference, as_of) = common(
        set,
        today,
        req.scenario.as_deref(),
        req.purpose.as_deref(),
        req.reference.as_deref(),
        req.as_of.as_deref(),
        &mut errors,
    );
    let mut unverified = None;
    let key = match &req.subject {
        Some(s) => subject_key(s, "subject", &mut errors, &mut unverified),
        None => {
            errors.push(invalid(
                "subject",
                "required",
                "give the subject: {\"uscc\": \"...\"}",
            ));
            None
        }
    };
    if req.related_persons.len() > 50 {
        errors.push(invalid(
            "related_persons",
            "too_many",
            "at most 50 related persons",
        ));
    }
    let mut persons = Vec::new();
    for (i, p) in req.related_persons.iter().enumerate() {
        let at = |f: &str| format!("related_persons[{i}].{f}");
        let role = match p.role.as_deref().map(str::trim) {
            Some(r) => match AppliesTo::parse(r).filter(|a| *a != AppliesTo::Subject) {
                Some(a) => Some(a),
                None => {
                    errors.push(invalid(
                        &at("role"),
                        "invalid_value",
                        format!("'{r}' is not a role; use legal_rep, director, supervisor, senior_manager or principal"),
                    ));
                    None
                }
            },
            None => {
                errors.push(invalid(
                    &at("role"),
                    "required",
                    "give the person's role, such as legal_rep",
                ));
                None
            }
        };
        let name = p.name.as_deref().map(str::trim).unwrap_or("");
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(invalid(
                &at("name"),
                "required",
                "give the person's name (at most 100 characters)",
            ));
        }
        let id = match p.id_number.as_deref() {
            None => None,
            Some(s) => match IdNumber::parse(s) {
                Ok(id) => Some(id),
                Err(e) => {
                    errors.push(invalid(&at("id_number"), e.code(), e.to_string()));
                    None
                }
            },
        };
        if let Some(role) = role {
            persons.push(PersonPlan {
                role,
                name: name.to_string(),
                id,
            });
        }
    }
    if !errors.is_empty() {
        // Refused anyway: every problem at once, the code's check character among them (it
        // does fail the check, whether or not a pilot-era subject is held under it).
        errors.extend(unverified);
        return Err(errors);
    }
    let Some(key) = key else {
        return Err(errors);
    };
    Ok(Plan {
        scenario,
        key,
        given_name: req.subject.as_ref().and_then(|s| s.name.clone()),
        persons,
        purpose,
        reference,
        as_of,
        unverified,
        known_at: None,
    })
}
