//! Impact analysis of a candidate rule set (API.md "Impact analysis and replay"): before a set
//! goes live, every subject held is evaluated under the active set and the candidate, and the
//! verdicts that would change are counted per scenario and listed with the measures responsible.
//!
//! The subjects are walked a page at a time in key order (`store::subjects::keys_after`); a
//! page's rows are read once, with the grouped reads of a bulk check, and evaluated under both
//! sets (`checks::outcomes`). Memory holds one page and the counts, whatever the number of
//! subjects; the subjects that change go to a sink as they are found (a file, or the job's
//! rows). The candidate is never made active.

pub mod jobs;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::checks::{self, Outcome, RuleSetRef};
use crate::crypto::DataKeys;
use crate::domain::{IdNumber, SubjectKey, Uscc};
use crate::rules::diff::RuleSetDiff;
use crate::rules::RuleSet;
use crate::store::subjects::SubjectRow;
use crate::store::{DbConn, StoreError};

/// Subjects evaluated together (their rows read with one query each).
pub const PAGE: i64 = 500;

/// The counts of one scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScenarioTally {
    /// Subjects whose verdict changes.
    pub changed: u64,
    /// Subjects whose verdict stays but whose measures change.
    pub measures_only: u64,
    /// `"clear→restricted"` and the like: subjects per change of verdict.
    pub transitions: BTreeMap<String, u64>,
    /// Measure id → subjects the candidate finds it for and the active set does not.
    pub gained: BTreeMap<String, u64>,
    /// Measure id → subjects the active set finds it for and the candidate does not.
    pub lost: BTreeMap<String, u64>,
}

/// The counts of a whole run (or of the pages done so far: a job keeps them with its cursor).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tally {
    /// Subjects evaluated.
    pub subjects: u64,
    /// Subjects whose stored records could not be read (each is logged); not evaluated.
    pub unreadable: u64,
    pub scenarios: BTreeMap<String, ScenarioTally>,
}

impl Tally {
    pub(crate) fn add(&mut self, other: Tally) {
        self.subjects += other.subjects;
        self.unreadable += other.unreadable;
        for (name, t) in other.scenarios {
            let mine = self.scenarios.entry(name).or_default();
            mine.changed += t.changed;
            mine.measures_only += t.measures_only;
            for (k, n) in t.transitions {
                *mine.transitions.entry(k).or_default() += n;
            }
            for (k, n) in t.gained {
                *mine.gained.entry(k).or_default() += n;
            }
            for (k, n) in t.lost {
                *mine.lost.entry(k).or_default() += n;
            }
        }
    }
}

/// A subject as the impact report names it: natural persons by masked ID number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangedSubject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uscc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_no: Option<String>,
    /// Natural persons: masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    /// Organisations only: a natural person is named by the masked ID number alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A subject whose verdict in a scenario changes, and the measures responsible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    pub scenario: String,
    pub subject: ChangedSubject,
    /// The verdict under the active set.
    pub before: String,
    /// The verdict under the candidate.
    pub after: String,
    /// Measures the candidate finds and the active set does not.
    pub added: Vec<String>,
    /// Measures the active set finds and the candidate does not.
    pub removed: Vec<String>,
    /// Every measure the candidate finds.
    pub measures_after: Vec<String>,
}

/// The whole report: the two sets, the day evaluated, the counts, the rule-set diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImpactSummary {
    pub active: RuleSetRef,
    pub candidate: RuleSetRef,
    /// The day both sets were evaluated on (today, China Standard Time).
    pub as_of: NaiveDate,
    /// The scenarios evaluated (in both sets, or the one asked for).
    pub scenarios: Vec<String>,
    pub tally: Tally,
    /// What differs between the sets: measures, bases, lists, periods, calendars.
    pub diff: RuleSetDiff,
    /// Scenarios only one of the sets has (not evaluated), and the like.
    pub notes: Vec<String>,
}

/// Evaluates pages of subjects under the active set and a candidate.
pub struct Engine {
    pub active: Arc<RuleSet>,
    pub candidate: Arc<RuleSet>,
    /// The scenarios reported on.
    pub scenarios: Vec<String>,
    /// Those of them evaluated: the others are the same in both sets (see [`unchanged`]).
    evaluated: Vec<String>,
    pub as_of: NaiveDate,
    notes: Vec<String>,
}

/// Whether no verdict in scenario `name` can differ between the two sets: the scenario (its
/// measures, every field, compared by its `Debug` form) and what facts are made with are the
/// same ([`RuleSet::makes_same_facts`]). A difference anywhere, even in a title, means the
/// scenario is evaluated.
fn unchanged(a: &RuleSet, b: &RuleSet, name: &str) -> bool {
    let scenario = |s: &RuleSet| format!("{:?}", s.scenario(name));
    scenario(a) == scenario(b) && a.makes_same_facts(b)
}

impl Engine {
    /// The engine for the scenarios both sets have, or the one asked for (which both must have).
    pub fn new(
        active: Arc<RuleSet>,
        candidate: Arc<RuleSet>,
        scenario: Option<&str>,
        as_of: NaiveDate,
    ) -> Result<Engine, String> {
        let old = active.scenario_names();
        let new = candidate.scenario_names();
        let mut notes = Vec::new();
        for s in &old {
            if !new.contains(s) {
                notes.push(format!(
                    "scenario {s} is only in the active set: the candidate removes it"
                ));
            }
        }
        for s in &new {
            if !old.contains(s) {
                notes.push(format!(
                    "scenario {s} is only in the candidate: it adds it; its verdicts have nothing to be compared with"
                ));
            }
        }
        let scenarios: Vec<String> = match scenario {
            Some(s) if old.contains(&s) && new.contains(&s) => vec![s.to_string()],
            Some(s) => {
                return Err(format!(
                    "scenario '{s}' is not in both sets; both have {}",
                    old.iter()
                        .filter(|o| new.contains(o))
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
            None => old
                .iter()
                .filter(|o| new.contains(o))
                .map(|s| s.to_string())
                .collect(),
        };
        let evaluated: Vec<String> = scenarios
            .iter()
            .filter(|s| !unchanged(&active, &candidate, s))
            .cloned()
            .collect();
        for s in &scenarios {
            if !evaluated.contains(s) {
                notes.push(format!(
                    "scenario {s} is the same in both sets, as are the lists, periods and calendar: no verdict in it can change, and it was not evaluated"
                ));
            }
        }
        Ok(Engine {
            active,
            candidate,
            scenarios,
            evaluated,
            as_of,
            notes,
        })
    }

    /// The report around a tally (every scenario reported on has its counts, zero for one not
    /// evaluated).
    pub fn summary(&self, mut tally: Tally) -> ImpactSummary {
        for s in &self.scenarios {
            tally.scenarios.entry(s.clone()).or_default();
        }
        ImpactSummary {
            active: set_ref(&self.active),
            candidate: set_ref(&self.candidate),
            as_of: self.as_of,
            scenarios: self.scenarios.clone(),
            tally,
            diff: crate::rules::diff::diff(&self.active, &self.candidate),
            notes: self.notes.clone(),
        }
    }

    /// Evaluates one page of subjects, by their storage keys (in key order): its counts, and its
    /// changes in key order. A subject gone since its key was read is not counted.
    pub fn page(
        &self,
        conn: &mut DbConn,
        keys: &DataKeys,
        page: &[String],
    ) -> Result<(Tally, Vec<Change>), StoreError> {
        let mut tally = Tally::default();
        let held = crate::store::records::of_subject_keys(conn, page)?;
        // Who each subject is, as the report shows it (the rows themselves go to the read).
        let mut who: Vec<(String, ChangedSubject)> = Vec::with_capacity(page.len());
        let mut subjects: Vec<(SubjectKey, String)> = Vec::with_capacity(page.len());
        for (row, _) in page.iter().filter_map(|k| held.get(k)) {
            match key_of(row, keys) {
                Some(k) => {
                    who.push((row.id.clone(), shown(row)));
                    subjects.push((k, row.subject_key.clone()));
                }
                None => {
                    tracing::warn!(subject = %row.id, "impact analysis: the subject's key cannot be read");
                    tally.unreadable += 1;
                }
            }
        }
        let sets = [&*self.active, &*self.candidate];
        let outcomes = checks::outcomes(
            conn,
            &sets,
            keys,
            &subjects,
            held,
            &self.evaluated,
            self.as_of,
        )?;
        let mut changes = Vec::new();
        for ((id, subject), o) in who.iter().zip(outcomes) {
            let per_set = match o {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(subject = %id, error = %e, "impact analysis: a record of the subject cannot be read");
                    tally.unreadable += 1;
                    continue;
                }
            };
            tally.subjects += 1;
            let (Some(before), Some(after)) = (per_set.first(), per_set.get(1)) else {
                continue;
            };
            for name in &self.evaluated {
                let (Some(b), Some(a)) = (before.get(name), after.get(name)) else {
                    continue;
                };
                if let Some(c) = compare(tally.scenarios.entry(name.clone()).or_default(), b, a) {
                    changes.push(Change {
                        scenario: name.clone(),
                        subject: subject.clone(),
                        before: b.verdict.as_str().into(),
                        after: a.verdict.as_str().into(),
                        added: c.0,
                        removed: c.1,
                        measures_after: a.measures.clone(),
                    });
                }
            }
        }
        Ok((tally, changes))
    }
}

/// Counts one subject's outcome in a scenario; the measures added and removed when its verdict
/// changes.
fn compare(
    t: &mut ScenarioTally,
    before: &Outcome,
    after: &Outcome,
) -> Option<(Vec<String>, Vec<String>)> {
    let added: Vec<String> = after
        .measures
        .iter()
        .filter(|m| !before.measures.contains(m))
        .cloned()
        .collect();
    let removed: Vec<String> = before
        .measures
        .iter()
        .filter(|m| !after.measures.contains(m))
        .cloned()
        .collect();
    for m in &added {
        *t.gained.entry(m.clone()).or_default() += 1;
    }
    for m in &removed {
        *t.lost.entry(m.clone()).or_default() += 1;
    }
    if before.verdict != after.verdict {
        t.changed += 1;
        *t.transitions
            .entry(format!(
                "{}→{}",
                before.verdict.as_str(),
                after.verdict.as_str()
            ))
            .or_default() += 1;
        Some((added, removed))
    } else {
        if !added.is_empty() || !removed.is_empty() {
            t.measures_only += 1;
        }
        None
    }
}

fn set_ref(set: &RuleSet) -> RuleSetRef {
    RuleSetRef {
        version: set.version.clone(),
        digest: set.digest.clone(),
    }
}

/// The subject as checks look it up: by its code, registration number, or (natural persons)
/// its ID number, decrypted in memory only to be hashed again; `None` when the stored key
/// cannot be read.
fn key_of(row: &SubjectRow, keys: &DataKeys) -> Option<SubjectKey> {
    if let Some(code) = row.subject_key.strip_prefix("uscc:") {
        return Uscc::parse_upstream(code).ok().map(SubjectKey::Uscc);
    }
    if let Some(reg) = row.subject_key.strip_prefix("reg:") {
        return Some(SubjectKey::RegNo(reg.to_string()));
    }
    let plain = keys.decrypt(row.id_number_enc.as_deref()?).ok()?;
    IdNumber::parse(&plain).ok().map(SubjectKey::Person)
}

fn shown(row: &SubjectRow) -> ChangedSubject {
    ChangedSubject {
        uscc: row.uscc.clone(),
        reg_no: row.reg_no.clone(),
        id_number: row.id_number_masked.clone(),
        // A natural person's name is personal data the analysis does not need.
        name: (!row.subject_key.starts_with("pid:")).then(|| row.name.clone()),
    }
}

/// The CSV header of the changed subjects, and one line.
pub const CSV_HEADER: &str =
    "scenario,uscc,reg_no,id_number,name,before,after,added,removed,measures_after\n";

pub fn csv_line(c: &Change) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let join = |v: &[String]| v.join(";");
    let fields = [
        c.scenario.clone(),
        c.subject.uscc.clone().unwrap_or_default(),
        c.subject.reg_no.clone().unwrap_or_default(),
        c.subject.id_number.clone().unwrap_or_default(),
        c.subject.name.clone().unwrap_or_default(),
        c.before.clone(),
        c.after.clone(),
        join(&c.added),
        join(&c.removed),
        join(&c.measures_after),
    ];
    // Writing to memory cannot fail.
    let _ = w.write_record(fields.map(crate::service::bulk_checks::export::inert));
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Pages evaluated at once by [`run`]: the two cores both evaluate while the database reads.
const IN_FLIGHT: usize = 2;

/// Runs the analysis over every subject, page by page, in this process: `progress(done,
/// total)` after each page, `sink` for each change, in subject-key order. The counts and the
/// report at the end. A page's subjects are read in order (the cursor is the last key); up to
/// [`IN_FLIGHT`] pages are evaluated at once, their results taken in order.
pub async fn run(
    ctx: &super::Ctx,
    engine: Arc<Engine>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
    sink: &mut (dyn FnMut(&Change) -> std::io::Result<()> + Send),
) -> super::ServiceResult<ImpactSummary> {
    type Evaluated = Result<(usize, Tally, Vec<Change>), StoreError>;
    type Page = tokio::task::JoinHandle<Evaluated>;
    let total = ctx.db.run(crate::store::subjects::count).await? as u64;
    let mut tally = Tally::default();
    let mut after: Option<String> = None;
    let mut done = 0u64;
    let mut pages: std::collections::VecDeque<Page> = Default::default();
    progress(0, total);
    let mut take = |result: Result<Evaluated, tokio::task::JoinError>,
                    tally: &mut Tally,
                    done: &mut u64|
     -> super::ServiceResult<()> {
        let (n, t, changes) =
            result.map_err(|e| super::ServiceError::Internal(anyhow::anyhow!("{e}")))??;
        tally.add(t);
        for c in &changes {
            sink(c).map_err(|e| super::ServiceError::Unavailable(format!("cannot write: {e}")))?;
        }
        *done += n as u64;
        progress(*done, total.max(*done));
        Ok(())
    };
    loop {
        let from = after.clone();
        let rows = ctx
            .db
            .run(move |conn| crate::store::subjects::keys_after(conn, from.as_deref(), PAGE))
            .await?;
        let Some(last) = rows.last().cloned() else {
            break;
        };
        after = Some(last);
        let (engine, keys, db) = (engine.clone(), ctx.keys.clone(), ctx.db.clone());
        pages.push_back(tokio::spawn(async move {
            db.run(move |conn| {
                let (t, changes) = engine.page(conn, &keys, &rows)?;
                Ok((rows.len(), t, changes))
            })
            .await
        }));
        if pages.len() >= IN_FLIGHT {
            if let Some(p) = pages.pop_front() {
                take(p.await, &mut tally, &mut done)?;
            }
        }
    }
    while let Some(p) = pages.pop_front() {
        take(p.await, &mut tally, &mut done)?;
    }
    Ok(engine.summary(tally))
}
