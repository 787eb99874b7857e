//! Rule files: the joint-sanction measures with their legal bases, the list catalog and the
//! working-day calendar; their loader (strict, with file and line in every error) and the pure
//! evaluator (records + rule set + as-of date → findings with explanations).
//!
//! Only the loader reads files; the evaluator does no I/O.

pub mod archive;
pub mod diff;
pub mod eval;
pub mod fixtures;
pub mod load;
mod measure_check;
pub mod model;
pub mod periods;
pub mod yaml;

use std::collections::BTreeMap;

use crate::domain::{PenaltyType, Period, RecordKind, Severity, WorkingCalendar, Yuan};
pub use eval::{evaluate, Evaluation, Facts, Finding, Party, RecordFact, Verdict};
pub use load::{RuleError, Sources};
pub use model::{
    AppliesTo, Basis, Confidence, DetailsContain, ListDef, MeasureKind, Polarity, RecordOf,
};

/// The lists that records and measures refer to.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    lists: BTreeMap<String, ListDef>,
}

impl Catalog {
    pub fn contains(&self, code: &str) -> bool {
        self.lists.contains_key(code)
    }

    pub fn get(&self, code: &str) -> Option<&ListDef> {
        self.lists.get(code)
    }

    pub fn lists(&self) -> impl Iterator<Item = &ListDef> {
        self.lists.values()
    }

    pub fn codes(&self) -> Vec<&str> {
        self.lists.keys().map(String::as_str).collect()
    }

    pub fn len(&self) -> usize {
        self.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
}

/// How long a measure lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duration {
    /// As long as the record is in force (a list entry until its `valid_to`, or until removed).
    WhileInForce,
    /// A period counted from the record's decision date.
    FromDecision(Period),
}

/// The conditions a record must meet, checked at load.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub record_of: RecordOf,
    pub kinds: Vec<RecordKind>,
    pub list_codes: Vec<String>,
    pub severities: Vec<Severity>,
    pub penalty_types: Vec<PenaltyType>,
    pub fine_at_least: Option<Yuan>,
    pub decided_within: Option<Period>,
    pub in_force: bool,
    pub details_contain: Option<DetailsContain>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub id: String,
    pub title: String,
    pub applies_to: Vec<AppliesTo>,
    pub selector: Selector,
    pub measure: MeasureKind,
    pub duration: Duration,
    /// A record past its publicity period still counts (`after_publicity: counts`).
    pub counts_after_publicity: bool,
    pub implemented_by: String,
    pub basis: Vec<Basis>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    /// The scenario's own measures and those of `all_scenarios` files, by id.
    pub measures: Vec<Measure>,
}

/// A loaded, checked rule set.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub version: String,
    pub title: Option<String>,
    /// `sha256:` over the set's files, so that a report names exactly the rules it used.
    pub digest: String,
    pub catalog: Catalog,
    pub scenarios: BTreeMap<String, Scenario>,
    pub calendar: WorkingCalendar,
    /// `periods.yaml`: publicity periods and repair eligibility.
    pub periods: periods::Periods,
    /// The files themselves, kept with every report's rule set so it can be evaluated again.
    pub sources: Sources,
}

impl RuleSet {
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.get(name)
    }

    /// Whether the two sets make the same facts of the same rows: the same list catalog,
    /// periods and working calendar, compared in full by their `Debug` forms (which show every
    /// field of these types, with ordered maps only). Then a record's facts made under one set
    /// serve the other.
    pub fn makes_same_facts(&self, other: &RuleSet) -> bool {
        let facts = |s: &RuleSet| format!("{:?}|{:?}|{:?}", s.catalog, s.periods, s.calendar);
        facts(self) == facts(other)
    }

    pub fn scenario_names(&self) -> Vec<&str> {
        self.scenarios.keys().map(String::as_str).collect()
    }

    /// Every measure once, by id (`all_scenarios` measures appear in every scenario).
    pub fn measures(&self) -> BTreeMap<&str, &Measure> {
        self.scenarios
            .values()
            .flat_map(|s| s.measures.iter())
            .map(|m| (m.id.as_str(), m))
            .collect()
    }
}

#[cfg(test)]
mod tests;
