//! The rule files as written (`rules/README.md` documents them; `rules/schema/rules.schema.json`
//! describes them for editors). Unknown keys are refused everywhere.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{PenaltyType, RecordKind, RecordStatus, Severity};

/// `rules/ruleset.yaml`: the set's name and version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub version: String,
    #[serde(default)]
    pub title: Option<String>,
}

/// `rules/catalog/*.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    pub lists: Vec<ListDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListDef {
    pub code: String,
    pub name: String,
    pub issued_by: String,
    pub polarity: Polarity,
    /// ISO 8601 period an entry usually lasts (informative).
    #[serde(default)]
    pub default_duration: Option<String>,
    #[serde(default)]
    pub basis: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    /// 严重失信主体名单 and other negative lists.
    Negative,
    /// 守信激励 (red) lists.
    Red,
}

/// `rules/scenarios/*.yaml`: the measures of one scenario, or (`all_scenarios: true`) measures
/// that hold in every scenario, such as the red-list incentives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    #[serde(default)]
    pub scenario: Option<String>,
    #[serde(default)]
    pub all_scenarios: bool,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub measures: Vec<MeasureDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureDef {
    pub id: String,
    pub title: String,
    pub applies_to: Vec<AppliesTo>,
    pub when: SelectorDef,
    pub measure: MeasureKind,
    /// `while_in_force` (as long as the record is in force), or an ISO 8601 period counted from
    /// the decision date (`P3Y`).
    pub duration: String,
    /// Whether a record past its publicity period still counts for this measure: `ends` (the
    /// default; NDRC Order 36) or `counts` (the measure's own statutory look-back governs, as a
    /// city may read 政府采购法 Art. 22's three years); needs a note that says why.
    #[serde(default)]
    pub after_publicity: Option<AfterPublicity>,
    pub implemented_by: String,
    pub basis: Vec<Basis>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum AfterPublicity {
    #[default]
    Ends,
    Counts,
}

/// Whom a measure applies to: the checked subject, or a related person of the request (or the
/// legal representative recorded on the subject).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    Subject,
    LegalRep,
    Director,
    Supervisor,
    SeniorManager,
    Principal,
}

impl AppliesTo {
    pub const PERSON_ROLES: &'static [AppliesTo] = &[
        AppliesTo::LegalRep,
        AppliesTo::Director,
        AppliesTo::Supervisor,
        AppliesTo::SeniorManager,
        AppliesTo::Principal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppliesTo::Subject => "subject",
            AppliesTo::LegalRep => "legal_rep",
            AppliesTo::Director => "director",
            AppliesTo::Supervisor => "supervisor",
            AppliesTo::SeniorManager => "senior_manager",
            AppliesTo::Principal => "principal",
        }
    }

    pub fn parse(s: &str) -> Option<AppliesTo> {
        [AppliesTo::Subject]
            .iter()
            .chain(Self::PERSON_ROLES)
            .copied()
            .find(|a| a.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            AppliesTo::Subject => "被核查主体",
            AppliesTo::LegalRep => "法定代表人",
            AppliesTo::Director => "董事",
            AppliesTo::Supervisor => "监事",
            AppliesTo::SeniorManager => "高级管理人员",
            AppliesTo::Principal => "负责人",
        }
    }
}

/// `prohibit` > `restrict` > `review`; `incentive` is reported apart from the verdict.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    Review,
    Restrict,
    Prohibit,
    Incentive,
}

impl MeasureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MeasureKind::Review => "review",
            MeasureKind::Restrict => "restrict",
            MeasureKind::Prohibit => "prohibit",
            MeasureKind::Incentive => "incentive",
        }
    }
}

/// One legal basis and how sure we are of it (REFERENCE.md marks: [verified], [secondary],
/// [uncertain]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Basis {
    pub text: String,
    pub confidence: Confidence,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Verified,
    Secondary,
    Uncertain,
}

/// Which records a measure looks at. Every condition given must hold for a record; a revoked
/// record never counts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectorDef {
    /// `subject` (default): records about the party itself; `legal_rep`: records about another
    /// subject that name the party as its legal representative.
    #[serde(default)]
    pub record_of: Option<RecordOf>,
    pub kinds: Vec<RecordKind>,
    #[serde(default)]
    pub list_codes: Vec<String>,
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// Any of these penalty types.
    #[serde(default)]
    pub penalty_types: Vec<PenaltyType>,
    /// Yuan, as a string ("2000000.00") or a number.
    #[serde(default)]
    pub fine_at_least: Option<Value>,
    /// The decision date lies after the as-of date minus this period (and not after the as-of
    /// date).
    #[serde(default)]
    pub decided_within: Option<String>,
    /// `valid_from` ≤ as-of ≤ `valid_to` (no `valid_to`: until removed).
    #[serde(default)]
    pub in_force: Option<bool>,
    /// Only `active` is meaningful: revoked records never count.
    #[serde(default)]
    pub status: Option<RecordStatus>,
    /// A `details` field (such as `CF_YJ`, 处罚依据) contains one of these texts.
    #[serde(default)]
    pub details_contain: Option<DetailsContain>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RecordOf {
    #[default]
    Subject,
    LegalRep,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DetailsContain {
    pub field: String,
    pub any: Vec<String>,
}

/// `rules/calendar/*.yaml`: one year's holidays and make-up working days.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarFile {
    pub year: i32,
    #[serde(default)]
    pub source: Option<String>,
    pub holidays: Vec<HolidayDef>,
    #[serde(default)]
    pub makeup_workdays: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayDef {
    pub name: String,
    pub from: String,
    pub to: String,
}
