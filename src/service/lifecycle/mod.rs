//! The credit lifecycle as the service carries it out: each record's publicity and repair
//! dates and its effect on a day (`rules/periods.yaml`, `domain::lifecycle`), and the objection
//! workflow (`objections`).

pub(crate) mod input;
pub mod objections;
pub mod repairs;

use chrono::NaiveDate;

use super::query::RecordView;
use crate::domain::lifecycle::effect;
use crate::domain::{PenaltyType, RecordKind, Severity};
use crate::rules::periods::{PeriodFacts, RecordDates};
use crate::rules::RuleSet;
use crate::store::records::RecordRow;

/// A stored record's dates under the rule set's periods.
pub fn dates_of_row(set: &RuleSet, r: &RecordRow) -> RecordDates {
    let types: Vec<String> = serde_json::from_str(&r.penalty_types).unwrap_or_default();
    let dated = (r.decision_date, r.valid_from, r.valid_to);
    dates(
        set,
        (r.kind, r.severity, r.list_code.as_deref()),
        &types,
        dated,
    )
}

/// A read record's dates under the rule set's periods.
pub fn dates_of(set: &RuleSet, v: &RecordView) -> RecordDates {
    let dated = (v.decision_date, v.valid_from, v.valid_to);
    dates(
        set,
        (v.kind, v.severity, v.list_code.as_deref()),
        &v.penalty_types,
        dated,
    )
}

/// The periods' dates of a record of this kind, severity and list, with these penalty types
/// (as stored: their snake_case names) and its decision, start and end dates.
fn dates(
    set: &RuleSet,
    (kind, severity, list_code): (RecordKind, Option<Severity>, Option<&str>),
    penalty_types: &[String],
    (decision_date, valid_from, valid_to): Dated,
) -> RecordDates {
    let types: Vec<PenaltyType> = penalty_types
        .iter()
        .filter_map(|t| PenaltyType::parse(t))
        .collect();
    set.periods.dates(PeriodFacts {
        kind,
        severity,
        penalty_types: &types,
        list_code,
        decision_date,
        valid_from,
        valid_to,
    })
}

/// A record's decision date, `valid_from` and `valid_to`.
type Dated = (Option<NaiveDate>, Option<NaiveDate>, Option<NaiveDate>);

/// Fills a record's `publicity_until`, `repair_eligible_from` and `effect` on `day` (computed
/// on every read: the day moves on and the rule set may be reloaded; `repaired_on` comes from
/// the store with the record).
pub fn annotate(set: &RuleSet, v: &mut RecordView, day: NaiveDate) {
    let d = dates_of(set, v);
    v.publicity_until = d.publicity_until;
    v.repair_eligible_from = d.repair_eligible_from;
    v.effect = effect(v.status, v.repaired_on.is_some(), d.publicity_until, day);
}
