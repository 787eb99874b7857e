//! What changed from one rule set to another: measures (their conditions, durations and legal
//! bases), the lists of the catalog, the publicity and repair periods, and the calendars. The
//! rule history shows it for every set against the one before, and an impact analysis for the
//! candidate against the active set. Pure: two loaded sets in, the differences out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::periods::PeriodRule;
use super::{Duration, ListDef, Measure, RuleSet};

/// The differences between two rule sets, each named by its id and said in words.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleSetDiff {
    /// Measures only the newer set has.
    pub measures_added: Vec<MeasureRef>,
    /// Measures only the older set has.
    pub measures_removed: Vec<MeasureRef>,
    /// Measures in both whose content differs: what changed, as `field: old → new`.
    pub measures_changed: Vec<Changed>,
    /// List codes only the newer catalog has.
    pub lists_added: Vec<String>,
    pub lists_removed: Vec<String>,
    pub lists_changed: Vec<Changed>,
    /// Publicity and repair periods (`periods.yaml`), by entry id.
    pub periods_added: Vec<String>,
    pub periods_removed: Vec<String>,
    pub periods_changed: Vec<Changed>,
    /// The working-day calendar, by year: days that became working or rest days, or a year
    /// that is covered by one set only.
    pub calendars_changed: Vec<Changed>,
}

impl RuleSetDiff {
    /// True when the sets apply the same measures, lists and periods and have the same calendar
    /// files (the rest may still differ: the version name, comments, the order of entries).
    pub fn is_empty(&self) -> bool {
        *self == RuleSetDiff::default()
    }
}

/// A measure, as a diff names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MeasureRef {
    pub id: String,
    pub title: String,
    /// `prohibit`, `restrict`, `review` or `incentive`.
    pub measure: String,
    /// The scenarios it applies in.
    pub scenarios: Vec<String>,
}

/// Something in both sets that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Changed {
    pub id: String,
    /// Each difference, as `field: old → new` (or `basis added: …`).
    pub changes: Vec<String>,
}

/// `newer` against `older`.
pub fn diff(older: &RuleSet, newer: &RuleSet) -> RuleSetDiff {
    let (old_m, new_m) = (measures(older), measures(newer));
    let mut d = RuleSetDiff::default();
    for (id, (m, scenarios)) in &new_m {
        match old_m.get(id) {
            None => d.measures_added.push(measure_ref(m, scenarios)),
            Some((o, old_scenarios)) => {
                let changes = measure_changes(o, old_scenarios, m, scenarios);
                if !changes.is_empty() {
                    d.measures_changed.push(Changed {
                        id: id.to_string(),
                        changes,
                    });
                }
            }
        }
    }
    for (id, (m, scenarios)) in &old_m {
        if !new_m.contains_key(id) {
            d.measures_removed.push(measure_ref(m, scenarios));
        }
    }
    let lists = |s: &RuleSet| -> BTreeMap<String, ListDef> {
        s.catalog
            .lists()
            .map(|l| (l.code.clone(), l.clone()))
            .collect()
    };
    let (old_l, new_l) = (lists(older), lists(newer));
    compare(
        &old_l,
        &new_l,
        list_changes,
        (
            &mut d.lists_added,
            &mut d.lists_removed,
            &mut d.lists_changed,
        ),
    );
    let periods = |s: &RuleSet| -> BTreeMap<String, PeriodRule> {
        s.periods
            .rules
            .iter()
            .map(|p| (p.id.clone(), p.clone()))
            .collect()
    };
    let (old_p, new_p) = (periods(older), periods(newer));
    compare(
        &old_p,
        &new_p,
        period_changes,
        (
            &mut d.periods_added,
            &mut d.periods_removed,
            &mut d.periods_changed,
        ),
    );
    d.calendars_changed = calendar_changes(&older.calendar, &newer.calendar);
    d
}

/// The years whose working days differ, day by day (years 2000 to 2100, beyond any schedule
/// a rule set holds).
fn calendar_changes(
    older: &crate::domain::WorkingCalendar,
    newer: &crate::domain::WorkingCalendar,
) -> Vec<Changed> {
    let day_kind = |working: bool| if working { "working day" } else { "rest day" };
    let covered = |c: bool| if c { "covered" } else { "not covered" };
    let mut out = Vec::new();
    for year in 2000..=2100 {
        let (a, b) = (older.covers(year), newer.covers(year));
        if !a && !b {
            continue;
        }
        let mut c = Changes::default();
        c.field("schedule", covered(a).into(), covered(b).into());
        let mut day = chrono::NaiveDate::from_ymd_opt(year, 1, 1);
        while let Some(d) = day.filter(|d| chrono::Datelike::year(d) == year) {
            c.field(
                &d.to_string(),
                day_kind(older.is_working_day(d)).into(),
                day_kind(newer.is_working_day(d)).into(),
            );
            day = d.succ_opt();
        }
        if !c.0.is_empty() {
            out.push(Changed {
                id: year.to_string(),
                changes: c.0,
            });
        }
    }
    out
}

/// Every measure of a set once, by id, with the scenarios it is in.
fn measures(set: &RuleSet) -> BTreeMap<&str, (&Measure, Vec<String>)> {
    let mut out: BTreeMap<&str, (&Measure, Vec<String>)> = BTreeMap::new();
    for (name, s) in &set.scenarios {
        for m in &s.measures {
            out.entry(m.id.as_str())
                .or_insert_with(|| (m, Vec::new()))
                .1
                .push(name.clone());
        }
    }
    out
}

fn measure_ref(m: &Measure, scenarios: &[String]) -> MeasureRef {
    MeasureRef {
        id: m.id.clone(),
        title: m.title.clone(),
        measure: m.measure.as_str().to_string(),
        scenarios: scenarios.to_vec(),
    }
}

/// Added, removed and changed entries of two maps by id.
fn compare<T>(
    older: &BTreeMap<String, T>,
    newer: &BTreeMap<String, T>,
    changes: fn(&T, &T) -> Vec<String>,
    (added, removed, changed): (&mut Vec<String>, &mut Vec<String>, &mut Vec<Changed>),
) {
    for (id, n) in newer {
        match older.get(id) {
            None => added.push(id.clone()),
            Some(o) => {
                let c = changes(o, n);
                if !c.is_empty() {
                    changed.push(Changed {
                        id: id.clone(),
                        changes: c,
                    });
                }
            }
        }
    }
    removed.extend(older.keys().filter(|id| !newer.contains_key(*id)).cloned());
}

/// A value in words: an enum by its name, a list joined with commas, nothing as `none`.
fn shown<T: Serialize>(v: &T) -> String {
    fn words(v: &Value) -> String {
        match v {
            Value::Null => "none".into(),
            Value::String(s) => s.clone(),
            Value::Array(a) if a.is_empty() => "none".into(),
            // The order of a list in the files means nothing: compared sorted.
            Value::Array(a) => {
                let mut items: Vec<String> = a.iter().map(words).collect();
                items.sort();
                items.join(", ")
            }
            other => other.to_string(),
        }
    }
    words(&serde_json::to_value(v).unwrap_or(Value::Null))
}

/// Collects `field: old → new` for the fields that differ.
#[derive(Default)]
struct Changes(Vec<String>);

impl Changes {
    fn field(&mut self, name: &str, old: String, new: String) {
        if old != new {
            self.0.push(format!("{name}: {old} → {new}"));
        }
    }

    /// Items of a list (legal bases, say) only one side has.
    fn items(&mut self, name: &str, old: &[String], new: &[String]) {
        for n in new.iter().filter(|n| !old.contains(n)) {
            self.0.push(format!("{name} added: {n}"));
        }
        for o in old.iter().filter(|o| !new.contains(o)) {
            self.0.push(format!("{name} removed: {o}"));
        }
    }
}

fn duration(d: &Duration) -> String {
    match d {
        Duration::WhileInForce => "while_in_force".into(),
        Duration::FromDecision(p) => p.to_string(),
    }
}

fn measure_changes(o: &Measure, old_s: &[String], n: &Measure, new_s: &[String]) -> Vec<String> {
    let mut c = Changes::default();
    c.field("scenarios", old_s.join(", "), new_s.join(", "));
    c.field("title", o.title.clone(), n.title.clone());
    c.field("measure", shown(&o.measure), shown(&n.measure));
    c.field("applies_to", shown(&o.applies_to), shown(&n.applies_to));
    c.field("duration", duration(&o.duration), duration(&n.duration));
    c.field(
        "after_publicity",
        counts(o.counts_after_publicity),
        counts(n.counts_after_publicity),
    );
    c.field(
        "implemented_by",
        o.implemented_by.clone(),
        n.implemented_by.clone(),
    );
    c.field("note", shown(&o.note), shown(&n.note));
    let (a, b) = (&o.selector, &n.selector);
    c.field("when.record_of", shown(&a.record_of), shown(&b.record_of));
    c.field("when.kinds", shown(&a.kinds), shown(&b.kinds));
    c.field(
        "when.list_codes",
        shown(&a.list_codes),
        shown(&b.list_codes),
    );
    c.field(
        "when.severities",
        shown(&a.severities),
        shown(&b.severities),
    );
    c.field(
        "when.penalty_types",
        shown(&a.penalty_types),
        shown(&b.penalty_types),
    );
    let yuan = |y: Option<crate::domain::Yuan>| y.map_or("none".into(), |y| y.to_string());
    c.field(
        "when.fine_at_least",
        yuan(a.fine_at_least),
        yuan(b.fine_at_least),
    );
    let period = |p: Option<crate::domain::Period>| p.map_or("none".into(), |p| p.to_string());
    c.field(
        "when.decided_within",
        period(a.decided_within),
        period(b.decided_within),
    );
    c.field(
        "when.in_force",
        a.in_force.to_string(),
        b.in_force.to_string(),
    );
    c.field(
        "when.details_contain",
        shown(&a.details_contain),
        shown(&b.details_contain),
    );
    c.items("basis", &bases(&o.basis), &bases(&n.basis));
    c.0
}

fn counts(after_publicity: bool) -> String {
    if after_publicity { "counts" } else { "ends" }.into()
}

fn bases(b: &[super::Basis]) -> Vec<String> {
    b.iter()
        .map(|b| format!("{} ({})", b.text, shown(&b.confidence)))
        .collect()
}

fn list_changes(o: &ListDef, n: &ListDef) -> Vec<String> {
    let mut c = Changes::default();
    c.field("name", o.name.clone(), n.name.clone());
    c.field("issued_by", o.issued_by.clone(), n.issued_by.clone());
    c.field("polarity", shown(&o.polarity), shown(&n.polarity));
    c.field(
        "default_duration",
        shown(&o.default_duration),
        shown(&n.default_duration),
    );
    c.field("note", shown(&o.note), shown(&n.note));
    c.items("basis", &o.basis, &n.basis);
    c.0
}

fn publicity(p: &super::periods::Publicity) -> String {
    match p {
        super::periods::Publicity::WhileInForce => "while_in_force".into(),
        super::periods::Publicity::FromDecision(p) => p.to_string(),
    }
}

fn repair(r: &super::periods::Repair) -> String {
    match r {
        super::periods::Repair::After(p) => format!("after {p}"),
        super::periods::Repair::OnDischarge => "on_discharge".into(),
        super::periods::Repair::Never => "never".into(),
    }
}

fn period_changes(o: &PeriodRule, n: &PeriodRule) -> Vec<String> {
    let mut c = Changes::default();
    c.field("kinds", shown(&o.kinds), shown(&n.kinds));
    c.field("severities", shown(&o.severities), shown(&n.severities));
    c.field(
        "penalty_types",
        shown(&o.penalty_types),
        shown(&n.penalty_types),
    );
    c.field("list_codes", shown(&o.list_codes), shown(&n.list_codes));
    c.field(
        "otherwise",
        o.otherwise.to_string(),
        n.otherwise.to_string(),
    );
    c.field(
        "publicity",
        publicity(&o.publicity),
        publicity(&n.publicity),
    );
    c.field("repair", repair(&o.repair), repair(&n.repair));
    c.field("note", shown(&o.note), shown(&n.note));
    c.items("basis", &bases(&o.basis), &bases(&n.basis));
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> RuleSet {
        super::super::load::load_dir(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("rules")
                .as_path(),
        )
        .expect("the shipped rules load")
    }

    fn edited(edit: impl Fn(&mut super::super::Sources)) -> RuleSet {
        let mut sources = shipped().sources;
        edit(&mut sources);
        super::super::load::build(sources).expect("the edited rules load")
    }

    #[test]
    fn a_set_against_itself_has_no_differences() {
        assert!(diff(&shipped(), &shipped()).is_empty());
    }

    #[test]
    fn a_lowered_fine_threshold_is_named_with_both_values() {
        let old = shipped();
        let new = edited(|s| {
            let f = s.get_mut("scenarios/procurement.yaml").unwrap();
            assert!(f.contains("fine_at_least: \"2000000.00\""));
            *f = f.replace(
                "fine_at_least: \"2000000.00\"",
                "fine_at_least: \"500000.00\"",
            );
        });
        let d = diff(&old, &new);
        assert_eq!(d.measures_changed.len(), 1, "{d:?}");
        let c = &d.measures_changed[0];
        assert!(c.id.starts_with("procurement."), "{c:?}");
        assert_eq!(c.changes.len(), 1, "{c:?}");
        assert!(c.changes[0].starts_with("when.fine_at_least: "), "{c:?}");
        assert!(
            c.changes[0].contains("2000000") && c.changes[0].contains("500000"),
            "{c:?}"
        );
        assert!(d.measures_added.is_empty() && d.measures_removed.is_empty());
        // The other way round: the same change, the values swapped.
        let values = c.changes[0]["when.fine_at_least: ".len()..]
            .split(" → ")
            .collect::<Vec<_>>();
        let back = diff(&new, &old);
        assert_eq!(
            back.measures_changed[0].changes,
            [format!("when.fine_at_least: {} → {}", values[1], values[0])]
        );
    }

    #[test]
    fn a_calendar_comment_is_no_change_and_a_dropped_year_is() {
        let old = shipped();
        let commented = edited(|s| {
            s.get_mut("calendar/2026.yaml")
                .expect("the 2026 calendar")
                .push_str("\n# a comment\n");
        });
        assert!(diff(&old, &commented).is_empty());
        let dropped = edited(|s| {
            s.remove("calendar/2026.yaml");
        });
        let d = diff(&old, &dropped);
        assert_eq!(d.calendars_changed.len(), 1, "{d:?}");
        assert_eq!(d.calendars_changed[0].id, "2026");
        assert!(d.calendars_changed[0]
            .changes
            .contains(&"schedule: covered → not covered".to_string()));
    }

    #[test]
    fn the_order_of_a_list_is_no_change() {
        let old = shipped();
        let mut reordered = old.clone();
        let mut touched = 0;
        for s in reordered.scenarios.values_mut() {
            for m in &mut s.measures {
                if m.applies_to.len() > 1 || m.selector.kinds.len() > 1 {
                    touched += 1;
                }
                m.applies_to.reverse();
                m.selector.kinds.reverse();
            }
        }
        assert!(
            touched > 0,
            "the shipped set has a measure with a list of two or more"
        );
        assert!(diff(&old, &reordered).is_empty());
    }
}
