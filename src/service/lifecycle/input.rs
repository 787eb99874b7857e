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

/// A listing's status filter (one of a closed set, named by `allowed`) and its page size (1 to
/// 500, default 50), every problem named by field.
pub(crate) fn list_args(
    status: Option<&str>,
    known: impl Fn(&str) -> Option<&'static str>,
    allowed: &str,
    limit: Option<i64>,
) -> Result<(Option<&'static str>, i64), Vec<FieldError>> {
    let mut errors = Vec::new();
    let status = match status.map(str::trim) {
        Some(s) => known(s).or_else(|| {
            errors.push(FieldError::new(
                "status",
                "invalid_value",
                format!("status is one of {allowed}"),
            ));
            None
        }),
        None => None,
    };
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new(
            "limit",
            "out_of_range",
            "limit is 1 to 500",
        ));
    }
    if errors.is_empty() {
        Ok((status, limit))
    } else {
        Err(errors)
    }
}

/// A page of at most `limit` rows out of `limit + 1` fetched, and the cursor to the next page
/// (the last row's id) when there is one.
pub(crate) fn page<T>(
    mut rows: Vec<T>,
    limit: i64,
    id: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let next = if more { rows.last().map(&id) } else { None };
    (rows, next)
}
