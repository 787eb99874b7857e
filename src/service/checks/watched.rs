//! A subject's verdicts as checks would give them, without a report: for the watch lists'
//! events (`service::watchlists::events`), read inside the transaction of the change they tell
//! of, and for the daily sweep. The facts are gathered once (they do not depend on the day) and
//! evaluated for every scenario and day asked.

use std::collections::BTreeMap;

use super::*;
use crate::domain::{Effect, RecordKind};
use crate::rules::eval::Verdict;

/// One of the subject's own records, as far as an event needs it.
#[derive(Debug, Clone)]
pub struct WatchedRecord {
    pub id: String,
    pub kind: RecordKind,
    pub list_code: Option<String>,
    pub source_code: String,
    pub sharing_class: SharingClass,
    pub open_class: OpenClass,
    /// The last day of publicity under the rule set's periods (none: no period ends it).
    pub publicity_until: Option<NaiveDate>,
    pub status: crate::domain::RecordStatus,
    pub repaired: bool,
}

impl WatchedRecord {
    /// What the record does on `day`.
    pub fn effect_on(&self, day: NaiveDate) -> Effect {
        crate::domain::lifecycle::effect(self.status, self.repaired, self.publicity_until, day)
    }
}

/// The verdict per (scenario, day), and the subject's own records.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    pub verdicts: BTreeMap<(String, NaiveDate), Verdict>,
    pub records: Vec<WatchedRecord>,
}

/// The subject's verdicts in each of `scenarios` (those the rule set has) on each of `days`.
pub fn watched(
    conn: &mut crate::store::DbConn,
    set: &RuleSet,
    keys: &crate::crypto::DataKeys,
    key: &SubjectKey,
    scenarios: &[String],
    days: &[NaiveDate],
) -> Result<Watched, StoreError> {
    let Some(first) = days.first() else {
        return Ok(Watched::default());
    };
    let plan = bare_plan(key.clone(), *first);
    let g = gather_all(conn, set, keys, &[], &[&plan])?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("no facts gathered".into()))??;
    let mut out = Watched::default();
    for name in scenarios {
        let Some(s) = set.scenario(name) else {
            continue;
        };
        for day in days {
            let v = eval::evaluate(s, &g.stored.facts, *day).verdict;
            out.verdicts.insert((name.clone(), *day), v);
        }
    }
    let own = g
        .stored
        .facts
        .parties
        .iter()
        .filter(|p| p.role == AppliesTo::Subject)
        .flat_map(|p| &p.records);
    for r in own {
        let Some(p) = g.stored.provenance.get(&r.id) else {
            continue;
        };
        out.records.push(WatchedRecord {
            id: r.id.clone(),
            kind: r.kind,
            list_code: r.list_code.clone(),
            source_code: p.source_code.clone(),
            sharing_class: p.sharing_class,
            open_class: p.open_class,
            publicity_until: r.publicity_until,
            status: r.status,
            repaired: r.repaired,
        });
    }
    Ok(out)
}

/// A check of a subject with no request behind it: its recorded legal representative only.
fn bare_plan(key: SubjectKey, as_of: NaiveDate) -> Plan {
    Plan {
        scenario: String::new(),
        key,
        given_name: None,
        persons: vec![],
        purpose: String::new(),
        reference: None,
        as_of,
        unverified: None,
        known_at: None,
    }
}

/// A subject's verdict in one scenario and the measures behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The ids of the measures found (incentives apart), in the order of the findings.
    pub measures: Vec<String>,
}

/// What [`outcomes`] gives for one subject: per rule set (in the order given), the outcome in
/// each scenario asked that the set has; or why the subject's facts cannot be made.
pub type SubjectOutcomes = Result<Vec<BTreeMap<String, Outcome>>, StoreError>;

/// Several subjects' outcomes under several rule sets on `as_of`, as checks without a request
/// would give them (the impact analysis of a candidate rule set). `subjects` are the subjects'
/// keys with their storage keys, and `held` their rows, read by the caller; the rest is read
/// once, with a few queries for all the subjects. The facts are made per set (its periods and
/// lists), once for sets that make the same facts ([`RuleSet::makes_same_facts`]).
pub fn outcomes(
    conn: &mut crate::store::DbConn,
    sets: &[&RuleSet],
    keys: &crate::crypto::DataKeys,
    subjects: &[(SubjectKey, String)],
    held: gather::Held,
    scenarios: &[String],
    as_of: NaiveDate,
) -> Result<Vec<SubjectOutcomes>, StoreError> {
    let plans: Vec<Plan> = subjects
        .iter()
        .map(|(k, _)| bare_plan(k.clone(), as_of))
        .collect();
    let refs: Vec<&Plan> = plans.iter().collect();
    let storage: Vec<String> = subjects.iter().map(|(_, s)| s.clone()).collect();
    let read = read_around(conn, keys, &refs, storage, held)?;
    // base[i]: the first set whose facts serve set i.
    let base: Vec<usize> = (0..sets.len())
        .map(|i| {
            (0..i)
                .find(|&j| sets[j].makes_same_facts(sets[i]))
                .unwrap_or(i)
        })
        .collect();
    let mut made: Vec<Option<std::vec::IntoIter<Result<Gathered, StoreError>>>> = (0..sets.len())
        .map(|i| (base[i] == i).then(|| read.facts(sets[i], &refs).into_iter()))
        .collect();
    let mut out = Vec::with_capacity(subjects.len());
    for _ in subjects {
        let mut facts: Vec<Option<Result<Gathered, StoreError>>> = made
            .iter_mut()
            .map(|m| {
                m.as_mut().map(|it| {
                    it.next()
                        .unwrap_or_else(|| Err(StoreError::Corrupt("no facts made".into())))
                })
            })
            .collect();
        if let Some(Some(Err(e))) = facts
            .iter_mut()
            .find(|f| matches!(f, Some(Err(_))))
            .map(Option::take)
        {
            out.push(Err(e));
            continue;
        }
        let this = sets
            .iter()
            .zip(&base)
            .filter_map(|(set, &b)| match &facts[b] {
                Some(Ok(g)) => Some(outcome_of(set, g, scenarios, as_of)),
                _ => None,
            })
            .collect();
        out.push(Ok(this));
    }
    Ok(out)
}

/// A subject's outcome in each of `scenarios` that `set` has, from its facts.
fn outcome_of(
    set: &RuleSet,
    g: &Gathered,
    scenarios: &[String],
    as_of: NaiveDate,
) -> BTreeMap<String, Outcome> {
    let mut by_scenario = BTreeMap::new();
    for name in scenarios {
        if let Some(s) = set.scenario(name) {
            let ev = eval::evaluate(s, &g.stored.facts, as_of);
            by_scenario.insert(
                name.clone(),
                Outcome {
                    verdict: ev.verdict,
                    // One finding per party: a measure found for the subject and its
                    // representative is one measure.
                    measures: ev.findings.iter().fold(Vec::new(), |mut m, f| {
                        if !m.contains(&f.measure_id) {
                            m.push(f.measure_id.clone());
                        }
                        m
                    }),
                },
            );
        }
    }
    by_scenario
}
