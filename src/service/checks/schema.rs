//! What the OpenAPI document says of the check requests' closed and bounded values, beside the
//! rules that hold them (one list each: the validation reads the same constants).

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

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
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(2))
        .max_length(Some(200))
        .pattern(Some(r"^\s*\S[\s\S]*\S\s*$"))
        .description(Some(
            "Why the check is made (2 to 200 characters); goes into the report and the access log.",
        ))
        .examples(["政府采购资格审查"])
        .build()
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
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let set = crate::rules::load::load_dir(&dir).expect("the shipped rules load");
        let shipped: Vec<&str> = set.scenarios.keys().map(String::as_str).collect();
        assert_eq!(shipped, super::SHIPPED_SCENARIOS);
    }
}
