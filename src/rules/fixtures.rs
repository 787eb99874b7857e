//! Fixtures (`rules/tests/*.yaml`): cases of records and an as-of date with the verdict and
//! measures they must give; `creditgate rules test` runs them and names every measure that no
//! case triggers and no near miss guards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::eval::{evaluate, Facts, Party, RecordFact, Verdict};
use super::load::{RuleError, Sources};
use super::model::{AppliesTo, RecordOf};
use super::periods::{PeriodFacts, RecordDates};
use super::RuleSet;
use crate::domain::{PenaltyType, RecordKind, RecordStatus, Severity, Yuan};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    #[serde(default)]
    cases: Vec<Case>,
    /// Records with the publicity and repair dates `periods.yaml` must give them.
    #[serde(default)]
    periods: Vec<PeriodCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodCase {
    name: String,
    record: CaseRecord,
    expect: PeriodExpect,
}

/// Both dates are expected as written; null (or absent) means none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodExpect {
    publicity_until: Option<NaiveDate>,
    repair_eligible_from: Option<NaiveDate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    scenario: String,
    as_of: NaiveDate,
    #[serde(default)]
    subject: Option<CaseSubject>,
    #[serde(default)]
    records: Vec<CaseRecord>,
    #[serde(default)]
    related_persons: Vec<CasePerson>,
    expect: Expect,
    /// Measures this case shows must not fire (a fine one fen short, a day too late …).
    #[serde(default)]
    near_miss_of: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSubject {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasePerson {
    role: AppliesTo,
    name: String,
    #[serde(default)]
    records: Vec<CaseRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRecord {
    #[serde(default)]
    id: Option<String>,
    kind: RecordKind,
    #[serde(default)]
    list_code: Option<String>,
    #[serde(default)]
    decision_no: Option<String>,
    #[serde(default)]
    decision_date: Option<NaiveDate>,
    #[serde(default)]
    valid_from: Option<NaiveDate>,
    #[serde(default)]
    valid_to: Option<NaiveDate>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    penalty_types: Vec<PenaltyType>,
    #[serde(default)]
    fine_amount: Option<Value>,
    #[serde(default)]
    status: Option<RecordStatus>,
    #[serde(default)]
    under_objection: bool,
    #[serde(default)]
    repaired: bool,
    #[serde(default)]
    details: Map<String, Value>,
    #[serde(default)]
    relation: Option<RecordOf>,
    #[serde(default)]
    subject_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    verdict: String,
    #[serde(default)]
    measures: Vec<String>,
    #[serde(default)]
    incentives: Vec<String>,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    /// Why it failed; `None` when it passed.
    pub failure: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct FixtureReport {
    pub results: Vec<CaseResult>,
    /// Measures that no passing case triggers.
    pub untriggered: Vec<String>,
    /// Measures that no passing case shows as a near miss.
    pub unguarded: Vec<String>,
    /// Entries of `periods.yaml` that no passing period case uses.
    pub periods_untested: Vec<String>,
}

impl FixtureReport {
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| r.failure.is_some()).count()
    }

    /// Every case passed and every measure is triggered and guarded.
    pub fn ok(&self) -> bool {
        self.failed() == 0
            && self.untriggered.is_empty()
            && self.unguarded.is_empty()
            && self.periods_untested.is_empty()
    }
}

/// Reads `DIR/tests/*.yaml`.
pub fn read_dir(dir: &Path) -> Result<Sources, Vec<RuleError>> {
    let path = dir.join("tests");
    let entries = std::fs::read_dir(&path).map_err(|e| {
        vec![RuleError {
            file: "tests/".into(),
            line: None,
            reason: format!("cannot read {}: {e}", path.display()),
        }]
    })?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut out = Sources::new();
    let mut errors = Vec::new();
    for p in files {
        let rel = format!(
            "tests/{}",
            p.file_name().unwrap_or_default().to_string_lossy()
        );
        match std::fs::read_to_string(&p) {
            Ok(t) => {
                out.insert(rel, t);
            }
            Err(e) => errors.push(RuleError {
                file: rel,
                line: None,
                reason: e.to_string(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// What the periods look at of a case's record.
fn period_facts(r: &CaseRecord) -> PeriodFacts<'_> {
    PeriodFacts {
        kind: r.kind,
        severity: r.severity,
        penalty_types: &r.penalty_types,
        list_code: r.list_code.as_deref(),
        decision_date: r.decision_date,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
    }
}

fn fact(
    set: &RuleSet,
    r: CaseRecord,
    n: usize,
    default_subject: &str,
) -> Result<RecordFact, String> {
    let dates = set.periods.dates(period_facts(&r));
    let fine = match r.fine_amount {
        None => None,
        Some(Value::String(s)) => Some(Yuan::parse(&s).map_err(|e| e.to_string())?),
        Some(Value::Number(x)) => Some(Yuan::parse(&x.to_string()).map_err(|e| e.to_string())?),
        Some(other) => return Err(format!("fine_amount {other} is not an amount")),
    };
    let list_name = r
        .list_code
        .as_deref()
        .and_then(|c| set.catalog.get(c))
        .map(|l| l.name.clone());
    if let Some(c) = &r.list_code {
        if !set.catalog.contains(c) {
            return Err(format!("record {n}: unknown list code {c}"));
        }
    }
    Ok(RecordFact {
        id: r.id.unwrap_or_else(|| format!("r{n}")),
        kind: r.kind,
        list_code: r.list_code,
        list_name,
        decision_no: r.decision_no,
        decision_date: r.decision_date,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
        severity: r.severity,
        penalty_types: r.penalty_types,
        fine,
        status: r.status.unwrap_or(RecordStatus::Active),
        under_objection: r.under_objection,
        publicity_until: dates.publicity_until,
        repair_eligible_from: dates.repair_eligible_from,
        repaired: r.repaired,
        details: r.details,
        relation: r.relation.unwrap_or_default(),
        subject_name: r
            .subject_name
            .unwrap_or_else(|| default_subject.to_string()),
    })
}

fn run_case(set: &RuleSet, case: Case) -> Result<(Vec<String>, Vec<String>), String> {
    let scenario = set.scenario(&case.scenario).ok_or_else(|| {
        format!(
            "unknown scenario {}; the set has {}",
            case.scenario,
            set.scenario_names().join(", ")
        )
    })?;
    let known = set.measures();
    for id in case
        .expect
        .measures
        .iter()
        .chain(&case.expect.incentives)
        .chain(&case.near_miss_of)
    {
        if !known.contains_key(id.as_str()) {
            return Err(format!("names unknown measure {id}"));
        }
    }
    let want_verdict = Verdict::parse(&case.expect.verdict).ok_or_else(|| {
        format!(
            "expect.verdict {} is not one of clear, review, restricted, prohibited",
            case.expect.verdict
        )
    })?;
    let subject_name = case
        .subject
        .map(|s| s.name)
        .unwrap_or_else(|| "示例企业".into());
    let mut n = 0;
    let mut parties = Vec::new();
    let mut records = Vec::new();
    for r in case.records {
        n += 1;
        records.push(fact(set, r, n, &subject_name)?);
    }
    parties.push(Party {
        role: AppliesTo::Subject,
        name: subject_name.clone(),
        id_masked: None,
        records,
    });
    for p in case.related_persons {
        let mut records = Vec::new();
        for r in p.records {
            n += 1;
            records.push(fact(set, r, n, &p.name)?);
        }
        parties.push(Party {
            role: p.role,
            name: p.name,
            id_masked: None,
            records,
        });
    }
    let ev = evaluate(scenario, &Facts { parties }, case.as_of);
    let got: BTreeSet<String> = ev.findings.iter().map(|f| f.measure_id.clone()).collect();
    let got_inc: BTreeSet<String> = ev.incentives.iter().map(|f| f.measure_id.clone()).collect();
    let want: BTreeSet<String> = case.expect.measures.iter().cloned().collect();
    let want_inc: BTreeSet<String> = case.expect.incentives.iter().cloned().collect();
    let mut problems = Vec::new();
    if ev.verdict != want_verdict {
        problems.push(format!(
            "verdict {} (expected {})",
            ev.verdict.as_str(),
            want_verdict.as_str()
        ));
    }
    if got != want {
        problems.push(format!("measures {got:?} (expected {want:?})"));
    }
    if got_inc != want_inc {
        problems.push(format!("incentives {got_inc:?} (expected {want_inc:?})"));
    }
    for id in &case.near_miss_of {
        if got.contains(id) || got_inc.contains(id) {
            problems.push(format!("near miss {id} fired"));
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let mut triggered: Vec<String> = want.into_iter().collect();
    triggered.extend(want_inc);
    Ok((triggered, case.near_miss_of))
}

/// One period case: the entries it used, or why it failed.
fn run_period_case(set: &RuleSet, case: PeriodCase) -> Result<Vec<String>, String> {
    let r = &case.record;
    if let Some(c) = &r.list_code {
        if !set.catalog.contains(c) {
            return Err(format!("unknown list code {c}"));
        }
    }
    let got: RecordDates = set.periods.dates(period_facts(r));
    let show = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "null".into());
    let mut problems = Vec::new();
    if got.publicity_until != case.expect.publicity_until {
        problems.push(format!(
            "publicity_until {} (expected {})",
            show(got.publicity_until),
            show(case.expect.publicity_until)
        ));
    }
    if got.repair_eligible_from != case.expect.repair_eligible_from {
        problems.push(format!(
            "repair_eligible_from {} (expected {})",
            show(got.repair_eligible_from),
            show(case.expect.repair_eligible_from)
        ));
    }
    if problems.is_empty() {
        Ok(got.rule_ids)
    } else {
        Err(format!("{} (from {:?})", problems.join("; "), got.rule_ids))
    }
}

/// Runs every case of every fixture file against the set.
pub fn run(set: &RuleSet, fixtures: &Sources) -> FixtureReport {
    let mut report = FixtureReport::default();
    let mut triggered = BTreeSet::new();
    let mut guarded = BTreeSet::new();
    let mut used_periods = BTreeSet::new();
    for (file, text) in fixtures {
        let parsed: FixtureFile = match super::yaml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let at = e.line.map(|l| format!("line {l}: ")).unwrap_or_default();
                report.results.push(CaseResult {
                    file: file.clone(),
                    name: "(file)".into(),
                    failure: Some(format!("{at}{}", e.message)),
                });
                continue;
            }
        };
        for case in parsed.cases {
            let name = case.name.clone();
            let failure = match run_case(set, case) {
                Ok((t, g)) => {
                    triggered.extend(t);
                    guarded.extend(g);
                    None
                }
                Err(e) => Some(e),
            };
            report.results.push(CaseResult {
                file: file.clone(),
                name,
                failure,
            });
        }
        for case in parsed.periods {
            let name = case.name.clone();
            let failure = match run_period_case(set, case) {
                Ok(ids) => {
                    used_periods.extend(ids);
                    None
                }
                Err(e) => Some(e),
            };
            report.results.push(CaseResult {
                file: file.clone(),
                name,
                failure,
            });
        }
    }
    report.periods_untested = set
        .periods
        .rules
        .iter()
        .filter(|p| !used_periods.contains(&p.id))
        .map(|p| p.id.clone())
        .collect();
    let all: BTreeMap<&str, _> = set.measures();
    report.untriggered = all
        .keys()
        .filter(|id| !triggered.contains(**id))
        .map(|s| s.to_string())
        .collect();
    report.unguarded = all
        .keys()
        .filter(|id| !guarded.contains(**id))
        .map(|s| s.to_string())
        .collect();
    report
}

#[cfg(test)]
mod tests {
    use super::super::tests::{schema_fields, serde_fields};
    use super::*;

    #[test]
    fn the_fixture_schema_names_the_same_keys_as_the_runner() {
        let f = "fixtures.schema.json";
        assert_eq!(
            serde_fields::<FixtureFile>(),
            schema_fields(f, "/properties")
        );
        assert_eq!(
            serde_fields::<Case>(),
            schema_fields(f, "/$defs/case/properties")
        );
        assert_eq!(
            serde_fields::<CaseRecord>(),
            schema_fields(f, "/$defs/record/properties")
        );
        assert_eq!(
            serde_fields::<CasePerson>(),
            schema_fields(f, "/$defs/case/properties/related_persons/items/properties")
        );
        assert_eq!(
            serde_fields::<PeriodCase>(),
            schema_fields(f, "/$defs/period_case/properties")
        );
        assert_eq!(
            serde_fields::<PeriodExpect>(),
            schema_fields(f, "/$defs/period_case/properties/expect/properties")
        );
        assert_eq!(
            serde_fields::<Expect>(),
            schema_fields(f, "/$defs/case/properties/expect/properties")
        );
    }
}
