//! The credit lifecycle as the service carries it out: each record's publicity and repair
//! dates and its effect on a day (`rules/periods.yaml`, `domain::lifecycle`), and the objection
//! workflow (`objections`).

mod input;
pub mod objections;
pub mod repairs;

use chrono::NaiveDate;

use super::query::RecordView;
use crate::domain::lifecycle::effect;
use crate::domain::PenaltyType;
use crate::rules::periods::{PeriodFacts, RecordDates};
use crate::rules::RuleSet;
use crate::store::records::RecordRow;

/// A stored record's dates under the rule set's periods.
pub fn dates_of_row(set: &RuleSet, r: &RecordRow) -> RecordDates {
    let types: Vec<PenaltyType> = serde_json::from_str::<Vec<String>>(&r.penalty_types)
        .unwrap_or_default()
        .iter()
        .filter_map(|t| PenaltyType::parse(t))
        .collect();
    set.periods.dates(PeriodFacts {
        kind: r.kind,
        severity: r.severity,
        penalty_types: &types,
        list_code: r.list_code.as_deref(),
        decision_date: r.decision_date,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
    })
}

/// A record's dates under the rule set's periods.
pub fn dates_of(set: &RuleSet, v: &RecordView) -> RecordDates {
    let types: Vec<PenaltyType> = v
        .penalty_types
        .iter()
        .filter_map(|t| PenaltyType::parse(t))
        .collect();
    set.periods.dates(PeriodFacts {
        kind: v.kind,
        severity: v.severity,
        penalty_types: &types,
        list_code: v.list_code.as_deref(),
        decision_date: v.decision_date,
        valid_from: v.valid_from,
        valid_to: v.valid_to,
    })
}

/// Fills a record's `publicity_until`, `repair_eligible_from` and `effect` on `day` (computed
/// on every read: the day moves on and the rule set may be reloaded; `repaired_on` comes from
/// the store with the record).
pub fn annotate(set: &RuleSet, v: &mut RecordView, day: NaiveDate) {
    let d = dates_of(set, v);
    v.publicity_until = d.publicity_until;
    v.repair_eligible_from = d.repair_eligible_from;
    v.effect = effect(v.status, v.repaired_on.is_some(), d.publicity_until, day);
}
