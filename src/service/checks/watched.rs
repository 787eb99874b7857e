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
    let plan = Plan {
        scenario: String::new(),
        key: key.clone(),
        given_name: None,
        persons: vec![],
        purpose: String::new(),
        reference: None,
        as_of: *first,
        unverified: None,
    };
    let g = gather_all(conn, set, keys, &[&plan])?
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
