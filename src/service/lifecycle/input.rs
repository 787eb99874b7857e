//! Reading what the lifecycle's steps send: free text and the day of a step, every problem named
//! by field.

use chrono::NaiveDate;

use crate::domain::FieldError;

/// Free text of `min` to 2000 characters, trimmed; ID numbers written in it are kept masked.
pub(super) fn long_text(
    field: &str,
    min: usize,
    v: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> String {
    let t = crate::domain::trim_blank(v.unwrap_or_default());
    let n = t.chars().count();
    if v.is_none() {
        errors.push(FieldError::new(
            field,
            "required",
            format!("give {field}: {min} to 2000 characters"),
        ));
    } else if !(min..=2000).contains(&n) {
        errors.push(FieldError::new(
            field,
            "length",
            format!("{field} is {min} to 2000 characters, in words the other side can act on; it has {n}"),
        ));
    }
    crate::domain::id_number::mask_id_numbers(t).into_owned()
}

/// A day that is not in the future nor before `not_before`; `None` (with the error) otherwise.
pub(super) fn step_day(
    field: &str,
    v: Option<&str>,
    today: NaiveDate,
    not_before: Option<(NaiveDate, &str)>,
    errors: &mut Vec<FieldError>,
) -> Option<NaiveDate> {
    let day = match v.map(crate::domain::trim_blank) {
        None => today,
        Some(s) => match crate::domain::iso_date(s) {
            Some(d) => d,
            None => {
                errors.push(FieldError::new(
                    field,
                    "invalid_date",
                    format!("'{s}' is not a date; write YYYY-MM-DD"),
                ));
                return None;
            }
        },
    };
    if day > today {
        errors.push(FieldError::new(
            field,
            "future_date",
            format!("{field} {day} is in the future; today is {today} (Asia/Shanghai)"),
        ));
        return None;
    }
    if let Some((first, what)) = not_before {
        if day < first {
            errors.push(FieldError::new(
                field,
                "too_early",
                format!("{field} {day} is before {what} ({first})"),
            ));
            return None;
        }
    }
    Some(day)
}
