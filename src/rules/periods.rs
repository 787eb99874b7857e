//! `rules/periods.yaml`: how long a record may be published, shared and used, and from when its
//! repair may be applied for, per record kind, severity, penalty type and list, each with its
//! legal basis (NDRC Order 36 of 2025, in force 2026-04-01: 轻微 at most 3 months and repairable
//! once the duty is discharged; 一般 3 months to 1 year; 严重 1 to 3 years; counted from the
//! decision date). Pure: the loader hands the file's text in; dates follow 民法典 Art. 201–202
//! (`domain::lifecycle::period_end`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::model::{Basis, Confidence};
use super::Catalog;
use crate::domain::lifecycle::{next_day, period_end};
use crate::domain::{PenaltyType, Period, RecordKind, Severity};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodsFile {
    pub periods: Vec<PeriodDef>,
}

/// One entry of the file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodDef {
    pub id: String,
    pub kinds: Vec<RecordKind>,
    #[serde(default)]
    pub severities: Vec<Severity>,
    #[serde(default)]
    pub penalty_types: Vec<PenaltyType>,
    #[serde(default)]
    pub list_codes: Vec<String>,
    /// Applies to a record of its kinds only when no other entry does.
    #[serde(default)]
    pub otherwise: bool,
    /// `while_in_force` (until `valid_to`, or until removed) or a period from the decision date.
    pub publicity: String,
    /// A period after which a repair may be applied for, `on_discharge` (from the day after the
    /// decision, once the duty is discharged: the centre checks that on the application) or
    /// `never` (ended by its issuer only, as a court removes a 失信被执行人).
    pub repair: String,
    pub basis: Vec<Basis>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publicity {
    WhileInForce,
    FromDecision(Period),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    After(Period),
    OnDischarge,
    Never,
}

/// A checked entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodRule {
    pub id: String,
    pub kinds: Vec<RecordKind>,
    pub severities: Vec<Severity>,
    pub penalty_types: Vec<PenaltyType>,
    pub list_codes: Vec<String>,
    pub otherwise: bool,
    pub publicity: Publicity,
    pub repair: Repair,
    pub basis: Vec<Basis>,
    pub note: Option<String>,
}

/// What of a record the periods look at.
#[derive(Debug, Clone, Copy)]
pub struct PeriodFacts<'a> {
    pub kind: RecordKind,
    pub severity: Option<Severity>,
    pub penalty_types: &'a [PenaltyType],
    pub list_code: Option<&'a str>,
    pub decision_date: Option<NaiveDate>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
}

/// A record's dates under the periods.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDates {
    /// The last day it may be published, shared or used; `None`: no period ends it.
    pub publicity_until: Option<NaiveDate>,
    /// The first day a repair may be applied for; `None`: it cannot be repaired.
    pub repair_eligible_from: Option<NaiveDate>,
    /// The entries that gave these dates.
    pub rule_ids: Vec<String>,
}

/// The checked file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Periods {
    pub rules: Vec<PeriodRule>,
}

impl PeriodRule {
    fn applies(&self, r: &PeriodFacts<'_>) -> bool {
        self.kinds.contains(&r.kind)
            && (self.severities.is_empty()
                || r.severity.is_some_and(|s| self.severities.contains(&s)))
            && (self.penalty_types.is_empty()
                || self
                    .penalty_types
                    .iter()
                    .any(|t| r.penalty_types.contains(t)))
            && (self.list_codes.is_empty()
                || r.list_code
                    .is_some_and(|c| self.list_codes.iter().any(|x| x == c)))
    }
}

impl Periods {
    /// A record's dates: every entry whose conditions hold applies (an `otherwise` entry only when
    /// none of the others does), and the longest publicity and the latest repair date win — a
    /// decision of several penalty types takes its longest period (Shenzhen practice
    /// [secondary], REFERENCE.md §6.1); one entry saying `never` makes it unrepairable.
    pub fn dates(&self, r: PeriodFacts<'_>) -> RecordDates {
        let mut hits: Vec<&PeriodRule> = self
            .rules
            .iter()
            .filter(|p| !p.otherwise && p.applies(&r))
            .collect();
        if hits.is_empty() {
            hits = self
                .rules
                .iter()
                .filter(|p| p.otherwise && p.applies(&r))
                .collect();
        }
        if hits.is_empty() {
            return RecordDates::default();
        }
        let start = r.decision_date.or(r.valid_from);
        // `Some(None)`: no end (while in force without `valid_to`, or no date to count from).
        let mut until: Option<Option<NaiveDate>> = None;
        let mut repair: Option<Option<NaiveDate>> = None;
        for p in &hits {
            let u = match p.publicity {
                Publicity::WhileInForce => r.valid_to,
                Publicity::FromDecision(period) => start.and_then(|s| period_end(s, period)),
            };
            until = Some(match (until, u) {
                (None, u) => u,
                (Some(None), _) | (_, None) => None,
                (Some(Some(a)), Some(b)) => Some(a.max(b)),
            });
            let e = match p.repair {
                Repair::Never => None,
                Repair::OnDischarge => start.and_then(next_day),
                Repair::After(period) => {
                    start.and_then(|s| period_end(s, period)).and_then(next_day)
                }
            };
            repair = Some(match (repair, e) {
                (None, e) => e,
                (Some(None), _) | (_, None) => None,
                (Some(Some(a)), Some(b)) => Some(a.max(b)),
            });
        }
        RecordDates {
            publicity_until: until.flatten(),
            repair_eligible_from: repair.flatten(),
            rule_ids: hits.iter().map(|p| p.id.clone()).collect(),
        }
    }
}

/// Checks the file; problems go to `err(line, reason)`, where `line_of(needle)` finds a line.
pub fn check(
    file: PeriodsFile,
    catalog: &Catalog,
    line_of: &dyn Fn(&str, Option<usize>) -> Option<usize>,
    err: &mut dyn FnMut(Option<usize>, String),
) -> Periods {
    let mut rules: Vec<PeriodRule> = Vec::new();
    let mut otherwise_kinds: Vec<RecordKind> = Vec::new();
    let mut cursor = None;
    for p in file.periods {
        // Entries come in file order: look for this id after the previous entry, and for a key
        // of the entry after its id.
        let line = line_of(&format!("id: {}", p.id), cursor);
        cursor = line.map(|l| l + 1);
        let id = p.id.clone();
        let mut ok = true;
        let mut bad = |key: &str, reason: String| {
            ok = false;
            err(line_of(key, line), format!("period {id}: {reason}"));
        };
        if p.id.trim().is_empty()
            || !p
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        {
            bad(
                "id:",
                "the id must be lower-case letters, digits, `_` and `.`".into(),
            );
        }
        if rules.iter().any(|r| r.id == p.id) {
            bad("id:", "the id is used twice".into());
        }
        if p.kinds.is_empty() {
            bad("kinds:", "kinds must name at least one record kind".into());
        }
        if (!p.severities.is_empty() || !p.penalty_types.is_empty())
            && p.kinds.iter().any(|k| *k != RecordKind::Penalty)
        {
            bad(
                "kinds:",
                "severities and penalty_types apply to penalties only (kinds: [penalty])".into(),
            );
        }
        if !p.list_codes.is_empty()
            && p.kinds
                .iter()
                .any(|k| !matches!(k, RecordKind::ListEntry | RecordKind::RedList))
        {
            bad(
                "list_codes:",
                "list_codes apply to list entries only (kinds: [list_entry] or [red_list])".into(),
            );
        }
        for c in &p.list_codes {
            if !catalog.contains(c) {
                bad(
                    "list_codes:",
                    format!(
                        "unknown list code {c}; the catalog holds {}",
                        catalog.codes().join(", ")
                    ),
                );
            }
        }
        if p.otherwise {
            if !p.severities.is_empty() || !p.penalty_types.is_empty() || !p.list_codes.is_empty() {
                bad(
                    "otherwise:",
                    "an `otherwise` entry has no conditions but kinds".into(),
                );
            }
            for k in &p.kinds {
                if otherwise_kinds.contains(k) {
                    bad("otherwise:", format!("a second `otherwise` entry for {k}"));
                }
                otherwise_kinds.push(*k);
            }
        }
        // 国办发〔2020〕49号 and Order 36: a period that ends or keeps a sanction needs its basis.
        if p.basis.is_empty() || p.basis.iter().any(|b| b.text.trim().is_empty()) {
            bad(
                "basis:",
                "no legal basis: every period needs at least one".into(),
            );
        }
        if p.basis
            .iter()
            .any(|b| b.confidence == Confidence::Uncertain)
            && p.note.as_deref().is_none_or(|n| n.trim().is_empty())
        {
            bad(
                "basis:",
                "a basis marked uncertain needs a note that says what is uncertain".into(),
            );
        }
        let publicity = match p.publicity.trim() {
            "while_in_force" => Some(Publicity::WhileInForce),
            other => match Period::parse(other) {
                Ok(x) => Some(Publicity::FromDecision(x)),
                Err(e) => {
                    bad(
                        "publicity:",
                        format!("publicity must be while_in_force or a period: {e}"),
                    );
                    None
                }
            },
        };
        let repair = match p.repair.trim() {
            "never" => Some(Repair::Never),
            "on_discharge" => Some(Repair::OnDischarge),
            other => match Period::parse(other) {
                Ok(x) => Some(Repair::After(x)),
                Err(e) => {
                    bad(
                        "repair:",
                        format!("repair must be never, on_discharge or a period: {e}"),
                    );
                    None
                }
            },
        };
        // A minimum period before repair that is not shorter than the publicity itself would
        // make repair pointless (Order 36: the minimum lies within the publicity period).
        if let (Some(Publicity::FromDecision(max)), Some(Repair::After(min))) = (publicity, repair)
        {
            let base = NaiveDate::from_ymd_opt(2001, 1, 31).expect("a valid date");
            if max.after(base) <= min.after(base) {
                bad(
                    "repair:",
                    format!(
                    "the minimum period before repair ({min}) must be shorter than the publicity ({max})"
                ));
            }
        }
        if let (true, Some(publicity), Some(repair)) = (ok, publicity, repair) {
            rules.push(PeriodRule {
                id: p.id,
                kinds: p.kinds,
                severities: p.severities,
                penalty_types: p.penalty_types,
                list_codes: p.list_codes,
                otherwise: p.otherwise,
                publicity,
                repair,
                basis: p.basis,
                note: p.note,
            });
        }
    }
    Periods { rules }
}

#[cfg(test)]
mod tests {
    use super::super::load::{build, RuleError};
    use super::super::tests::{sources, GOOD, PERIODS};

    fn period_errors(periods: &str) -> Vec<RuleError> {
        let mut s = sources(GOOD);
        s.insert("periods.yaml".into(), periods.into());
        build(s)
            .expect_err("the periods should be refused")
            .into_iter()
            .filter(|e| e.file == "periods.yaml")
            .collect()
    }

    #[test]
    fn the_periods_file_is_checked_strictly() {
        let missing = {
            let mut s = sources(GOOD);
            s.remove("periods.yaml");
            build(s).unwrap_err()
        };
        assert!(
            missing[0].reason.contains("needs a periods.yaml"),
            "{missing:?}"
        );
        for (change, needle, line) in [
            (
                ("publicity: P3Y", "publicity: P3X"),
                "publicity must be",
                12,
            ),
            (
                ("repair: P1Y", "repair: sometime"),
                "repair must be never",
                13,
            ),
            (
                ("repair: P1Y", "repair: P3Y"),
                "must be shorter than the publicity",
                13,
            ),
            (
                (
                    "severities: [general]",
                    "severities: [general]\n    list_codes: [court.dishonest_debtor]",
                ),
                "list_codes apply to list entries only",
                5,
            ),
            (
                (
                    "kinds: [penalty]\n    otherwise: true",
                    "kinds: [penalty]\n    otherwise: true\n    severities: [minor]",
                ),
                "no conditions but kinds",
                18,
            ),
            (
                ("id: penalty.unstated", "id: penalty.general"),
                "used twice",
                16,
            ),
            (
                (
                    "basis:\n      - {text: 信用修复管理办法 严重失信信息, confidence: secondary}",
                    "basis: []",
                ),
                "no legal basis",
                14,
            ),
            (
                (
                    "严重失信信息, confidence: secondary}",
                    "严重失信信息, confidence: uncertain}",
                ),
                "needs a note",
                14,
            ),
            (
                ("publicity: P3Y", "publicity: P3Y\n    colour: red"),
                "unknown field",
                0,
            ),
        ] {
            let text = PERIODS.replacen(change.0, change.1, 1);
            assert_ne!(text, PERIODS, "{change:?} changed nothing");
            let errors = period_errors(&text);
            assert!(
                errors
                    .iter()
                    .any(|e| e.reason.contains(needle) && (line == 0 || e.line == Some(line))),
                "{needle:?} at line {line}: {errors:#?}"
            );
        }
        let two_otherwise = format!(
            "{PERIODS}  - id: penalty.again\n    kinds: [penalty]\n    otherwise: true\n    publicity: P1Y\n    repair: P3M\n    basis:\n      - {{text: x, confidence: secondary}}\n"
        );
        assert!(period_errors(&two_otherwise)
            .iter()
            .any(|e| e.reason.contains("a second `otherwise` entry for penalty")));
    }
}
