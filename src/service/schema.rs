//! What the OpenAPI document says of the requests' closed and bounded values, beside the rules
//! that hold them (one list each: the validation reads the same constants where it can). Used
//! as `#[schema(schema_with = …)]` on the request types' fields.

use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type,
};

use crate::domain::{
    OpenClass, Origin, PenaltyType, RecordKind, RecordStatus, Role, Severity, SharingClass,
    SubjectKind,
};

/// The blank characters of `domain::trim_blank`, as a regular-expression class that ECMA-262
/// (the document's dialect) and Python (the fuzzer's) read alike: `\s` differs between them
/// on U+001C–U+001F, U+0085 and U+FEFF, so those are named.
pub const BLANK: &str = r"\s\x1c-\x1f\x85\ufeff";

/// A string of `min` to `max` characters (as sent) that is not only blanks.
fn text(min: usize, max: usize, description: &str) -> Object {
    let pattern = if min >= 2 {
        format!("^[{BLANK}]*[^{BLANK}][\\s\\S]*[^{BLANK}][{BLANK}]*$")
    } else {
        format!("[^{BLANK}]")
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

/// A string, or null for an optional field left out.
fn string_or_null(nullable: bool) -> SchemaType {
    if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    }
}

fn date_of(nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(string_or_null(nullable))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .description(Some("A date, YYYY-MM-DD."))
        .build()
}

/// `YYYY-MM-DD`.
pub fn date() -> Object {
    date_of(false)
}

/// `YYYY-MM-DD`, or null.
pub fn date_or_null() -> Object {
    date_of(true)
}

fn org_code_of(nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(string_or_null(nullable))
        .pattern(Some(r"^[A-Za-z0-9._-]{1,64}$"))
        .description(Some(
            "The organisation's code: 1 to 64 letters, digits, '-', '_' or '.'.",
        ))
        .examples(["SCJG"])
        .build()
}

/// An organisation code as `service::keys::validate_org_code` takes it.
pub fn org_code() -> Object {
    org_code_of(false)
}

/// The same, or null.
pub fn org_code_or_null() -> Object {
    org_code_of(true)
}

pub fn org_name() -> Object {
    text(1, 200, "The organisation's name, at most 200 characters.")
}

pub fn role() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Role::ALL.iter().map(|r| r.as_str())))
        .examples(["officer"])
        .build()
}

pub fn label() -> Object {
    ObjectBuilder::new()
        .schema_type(string_or_null(true))
        .max_length(Some(200))
        .description(Some("What the key is for, at most 200 characters."))
        .build()
}

pub fn grounds() -> Object {
    text(
        10,
        2000,
        "In words the other side can act on: 10 to 2000 characters (ID numbers in it are kept masked).",
    )
}

pub fn answer() -> Object {
    text(
        10,
        2000,
        "The written answer the filer is shown: 10 to 2000 characters (ID numbers in it are kept masked).",
    )
}

pub fn commitment() -> Object {
    text(1, 200, "The 信用承诺's reference: 1 to 200 characters.")
}

pub fn evidence() -> Object {
    ObjectBuilder::new()
        .schema_type(string_or_null(true))
        .max_length(Some(2000))
        .description(Some("At most 2000 characters."))
        .build()
}

pub fn repair_outcome() -> Object {
    closed(["approved", "rejected"], false)
}

pub fn repair_status() -> Object {
    closed(
        crate::domain::RepairStatus::ALL.iter().map(|k| k.as_str()),
        true,
    )
}

pub fn delivery_state() -> Object {
    closed(["pending", "delivered", "failed"], true)
}

pub fn name_100() -> Object {
    text(1, 100, "1 to 100 characters.")
}

pub fn contact() -> Object {
    ObjectBuilder::new()
        .schema_type(string_or_null(true))
        .max_length(Some(100))
        .description(Some("At most 100 characters."))
        .build()
}

pub fn filer_kind() -> Object {
    closed(
        crate::domain::FilerKind::ALL.iter().map(|k| k.as_str()),
        false,
    )
}

pub fn objection_outcome() -> Object {
    closed(
        crate::domain::ObjectionOutcome::ALL
            .iter()
            .map(|k| k.as_str()),
        false,
    )
}

pub fn objection_status() -> Object {
    closed(
        crate::domain::ObjectionStatus::ALL
            .iter()
            .map(|k| k.as_str()),
        true,
    )
}

pub fn reason() -> Object {
    text(1, 500, "Why: 1 to 500 characters.")
}

/// One of a closed set of values (a domain enum's), or null where the field may be left out.
fn closed(values: impl IntoIterator<Item = &'static str>, nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(string_or_null(nullable))
        .enum_values(Some(values))
        .build()
}

pub fn record_kind_required() -> Object {
    closed(RecordKind::ALL.iter().map(|k| k.as_str()), false)
}

pub fn subject_kind_required() -> Object {
    closed(SubjectKind::ALL.iter().map(|k| k.as_str()), false)
}

pub fn sharing_class_required() -> Object {
    closed(SharingClass::ALL.iter().map(|k| k.as_str()), false)
}

pub fn open_class_or_null() -> Object {
    closed(OpenClass::ALL.iter().map(|k| k.as_str()), true)
}

pub fn status_or_null() -> Object {
    closed(RecordStatus::ALL.iter().map(|k| k.as_str()), true)
}

pub fn severity_or_null() -> Object {
    closed(Severity::ALL.iter().map(|k| k.as_str()), true)
}

pub fn origin_or_null() -> Object {
    closed(Origin::ALL.iter().map(|k| k.as_str()), true)
}

/// 行政处罚法 Art. 9 categories; null or absent for none.
pub fn penalty_types_or_null() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(closed(PenaltyType::ALL.iter().map(|k| k.as_str()), false))
        .examples([serde_json::json!(["fine"])])
        .build()
}

fn record_kind() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(RecordKind::ALL.iter().map(|k| k.as_str())))
        .build()
}

/// Record kinds, at least one.
pub fn record_kinds_required() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(record_kind())
        .min_items(Some(1))
        .examples([serde_json::json!(["penalty", "list_entry"])])
        .build()
}

/// Record kinds; none means any.
pub fn record_kinds_any() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new().items(record_kind()).build()
}

/// What an agreement opens: `profile` and the shipped scenarios, at least one.
pub fn agreement_scenarios() -> utoipa::openapi::schema::Array {
    let mut names = vec![crate::service::agreements::PROFILE];
    names.extend(SHIPPED_SCENARIOS);
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names)),
        )
        .min_items(Some(1))
        .examples([serde_json::json!(["profile", "procurement"])])
        .build()
}

pub fn daily_quota() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(1_000_000))
        .description(Some("Queries a day, 1 to 1,000,000."))
        .build()
}

/// The scenarios of the shipped rule set (`rules/scenarios`); a city's own rule files may add
/// others, which the service then takes too. A test keeps this equal to the shipped set.
pub const SHIPPED_SCENARIOS: [&str; 4] = ["bidding", "market_entry", "procurement", "subsidy"];

/// What an implementing department did with a report (响应—反馈).
pub const FEEDBACK_ACTIONS: [&str; 3] = ["restricted", "not_restricted", "other"];

pub fn scenario() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(SHIPPED_SCENARIOS))
        .description(Some(
            "The check scenario: one of the shipped rule set's (a city's own rule files may add \
             others; GET /api/v1/rules lists the active set's).",
        ))
        .examples(["procurement"])
        .build()
}

/// The purpose as `domain::parse_purpose` takes it: 2 to 200 characters, spaces around it
/// not counted.
pub fn purpose() -> Object {
    let mut o = text(
        2,
        200,
        "Why the data is asked for (2 to 200 characters); it goes into the access log (and a \
         check's report).",
    );
    o.examples = vec![serde_json::json!("政府采购资格审查")];
    o
}

pub fn feedback_action() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(FEEDBACK_ACTIONS))
        .description(Some(
            "`restricted`, `not_restricted` or `other` (with a note saying what).",
        ))
        .examples(["restricted"])
        .build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_scenarios_are_the_shipped_rule_sets() {
        // (also the scenarios an agreement may open, with `profile`)
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let set = crate::rules::load::load_dir(&dir).expect("the shipped rules load");
        let shipped: Vec<&str> = set.scenarios.keys().map(String::as_str).collect();
        assert_eq!(shipped, super::SHIPPED_SCENARIOS);
    }
}
