//! The events of watched subjects, written into the outbox (`webhook_events`) inside the
//! transaction of the change they tell of, so that a change and its events commit or fail
//! together (the delivery worker, `delivery`, sends them later).
//!
//! A change is told per watch list and per scenario of the list: one `record.*` event per record
//! changed that the list's owner may see (its sharing class, its agreement: an event never tells
//! more than a check would), with the subject's verdict in that scenario before and after the
//! change, as a check of the subject would give it today. A change of records the owner may not
//! see is told only when the verdict moves, as `verdict.changed` without record ids.
//!
//! The daily sweep (`sweep_page`) tells what the day moving on does: a record whose publicity
//! period ended (`record.publicity_ended`), and verdicts changed by it (`verdict.changed`).
//! Its events carry a dedupe key, so a sweep done twice writes them once.
//!
//! Not told (yet): changes of a related person's own records (a legal representative's), which
//! can move a subject's verdict too, and verdicts moved by a rule-set reload.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::json;

use crate::crypto::DataKeys;
use crate::domain::{Caller, Effect, Role, SubjectKey, Uscc};
use crate::rules::eval::Verdict;
use crate::rules::RuleSet;
use crate::service::agreements::PartnerScope;
use crate::service::checks::{self, Watched, WatchedRecord};
use crate::service::grants::Grant;
use crate::service::policy::{self, RecordMeta};
use crate::service::Ctx;
use crate::store::watchlists::WatchlistRow;
use crate::store::webhook_events::{self as store, EventRow, PENDING};
use crate::store::{DbConn, StoreResult};

/// What writing events needs: the rule set to evaluate verdicts with, the data keys, the day.
#[derive(Clone)]
pub struct Watch {
    pub rules: Arc<RuleSet>,
    pub keys: Arc<DataKeys>,
    pub today: NaiveDate,
}

impl Watch {
    pub fn of(ctx: &Ctx) -> Watch {
        Watch {
            rules: ctx.rules(),
            keys: ctx.keys.clone(),
            today: ctx.clock.today(),
        }
    }
}

/// What happened, as the event's `type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Created,
    Updated,
    Revoked,
    Repaired,
    PublicityEnded,
    VerdictChanged,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Created => "record.created",
            EventType::Updated => "record.updated",
            EventType::Revoked => "record.revoked",
            EventType::Repaired => "record.repaired",
            EventType::PublicityEnded => "record.publicity_ended",
            EventType::VerdictChanged => "verdict.changed",
        }
    }

    pub const ALL: [EventType; 6] = [
        EventType::Created,
        EventType::Updated,
        EventType::Revoked,
        EventType::Repaired,
        EventType::PublicityEnded,
        EventType::VerdictChanged,
    ];
}

/// A change of one record of a subject.
#[derive(Debug, Clone)]
pub struct Change {
    /// The subject's storage key (`uscc:…`).
    pub subject_key: String,
    pub record_id: String,
    pub kind: EventType,
}

/// The lists watching the subjects of a change, and the subjects' state before it. Empty (and
/// cheap: one indexed query) when no list watches them.
#[derive(Default)]
pub struct Before {
    lists: Vec<(WatchlistRow, String)>,
    state: HashMap<String, Watched>,
}

/// The subject key of a watched code (lists hold codes only).
fn subject_of(key: &str) -> Option<SubjectKey> {
    let code = key.strip_prefix("uscc:")?;
    Uscc::parse_upstream(code).ok().map(SubjectKey::Uscc)
}

fn scenarios_of(row: &WatchlistRow) -> Vec<String> {
    serde_json::from_str(&row.scenarios).unwrap_or_default()
}

/// The scenarios watched per subject, over every list watching it.
fn watched_scenarios(lists: &[(WatchlistRow, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (row, key) in lists {
        out.entry(key.clone())
            .or_default()
            .extend(scenarios_of(row));
    }
    out
}

fn state_of(
    conn: &mut DbConn,
    w: &Watch,
    key: &str,
    scenarios: &BTreeSet<String>,
    days: &[NaiveDate],
) -> StoreResult<Watched> {
    let Some(subject) = subject_of(key) else {
        return Ok(Watched::default());
    };
    let scenarios: Vec<String> = scenarios.iter().cloned().collect();
    checks::watched(conn, &w.rules, &w.keys, &subject, &scenarios, days)
}

/// Reads, before a change of the subjects `keys`, who watches them and their verdicts today.
pub fn before(conn: &mut DbConn, w: &Watch, keys: &[String]) -> StoreResult<Before> {
    let lists = store::watchers_of(conn, keys)?;
    let mut state = HashMap::new();
    for (key, scenarios) in watched_scenarios(&lists) {
        let s = state_of(conn, w, &key, &scenarios, &[w.today])?;
        state.insert(key, s);
    }
    Ok(Before { lists, state })
}

/// Writes the events of `changes` (made after [`before`], in the same transaction); returns how
/// many.
pub fn after(
    conn: &mut DbConn,
    w: &Watch,
    before: Before,
    changes: &[Change],
    now: NaiveDateTime,
) -> StoreResult<usize> {
    if before.lists.is_empty() {
        return Ok(0);
    }
    let mut after = HashMap::new();
    for (key, scenarios) in watched_scenarios(&before.lists) {
        let s = state_of(conn, w, &key, &scenarios, &[w.today])?;
        after.insert(key, s);
    }
    let mut owners = Owners::default();
    let mut rows = Vec::new();
    for (list, key) in &before.lists {
        let owner = owners.of(conn, list, w.today)?;
        let (Some(was), Some(is)) = (before.state.get(key), after.get(key)) else {
            continue;
        };
        let record = |id: &str| {
            is.records
                .iter()
                .chain(&was.records)
                .find(|r| r.id == id)
                .cloned()
        };
        for scenario in scenarios_of(list) {
            let day = (scenario.clone(), w.today);
            let (Some(vb), Some(va)) = (was.verdicts.get(&day), is.verdicts.get(&day)) else {
                continue;
            };
            let Some(scope) = owner.scope(&scenario) else {
                continue;
            };
            let seen = changes
                .iter()
                .filter(|c| &c.subject_key == key)
                .filter(|c| record(&c.record_id).is_some_and(|r| owner.sees(&r, scope.as_ref())))
                .map(|c| (c.kind, c.record_id.clone(), None))
                .collect();
            let told = Told {
                list,
                key,
                scenario: &scenario,
                verdicts: (*vb, *va),
                at: now,
            };
            rows.extend(told.events(seen, None));
        }
    }
    insert_in_order(conn, rows)
}

/// Writes events, each due no earlier than its list's held events (see
/// [`store::held_until`]), so that a list's events go out in the order they were made.
fn insert_in_order(conn: &mut DbConn, mut rows: Vec<EventRow>) -> StoreResult<usize> {
    let mut held: HashMap<String, Option<NaiveDateTime>> = HashMap::new();
    for r in &mut rows {
        if !held.contains_key(&r.watchlist_id) {
            let until = store::held_until(conn, &r.watchlist_id)?;
            held.insert(r.watchlist_id.clone(), until);
        }
        if let Some(Some(until)) = held.get(&r.watchlist_id) {
            r.next_attempt_at = r.next_attempt_at.max(*until);
        }
    }
    store::insert(conn, &rows)
}

/// Sweeps the next `limit` subjects of `list` after `after`, comparing the day `from` with
/// `w.today`; returns the last subject key swept, or `None` when the list is done.
pub fn sweep_page(
    conn: &mut DbConn,
    w: &Watch,
    list: &WatchlistRow,
    from: NaiveDate,
    after: Option<&str>,
    limit: i64,
    now: NaiveDateTime,
) -> StoreResult<Option<String>> {
    let keys = store::subjects_after(conn, &list.id, after, limit)?;
    let scenarios: BTreeSet<String> = scenarios_of(list).into_iter().collect();
    let mut owners = Owners::default();
    let owner = owners.of(conn, list, w.today)?;
    let mut rows = Vec::new();
    for key in &keys {
        let s = state_of(conn, w, key, &scenarios, &[from, w.today])?;
        for scenario in &scenarios {
            let get = |d: NaiveDate| s.verdicts.get(&(scenario.clone(), d)).copied();
            let (Some(vb), Some(va)) = (get(from), get(w.today)) else {
                continue;
            };
            let Some(scope) = owner.scope(scenario) else {
                continue;
            };
            let seen = s
                .records
                .iter()
                .filter(|r| {
                    r.effect_on(from) == Effect::InForce
                        && r.effect_on(w.today) == Effect::PublicityEnded
                        && owner.sees(r, scope.as_ref())
                })
                .map(|r| {
                    let dedupe = format!("publicity_ended:{}:{scenario}", r.id);
                    (EventType::PublicityEnded, r.id.clone(), Some(dedupe))
                })
                .collect();
            let told = Told {
                list,
                key,
                scenario,
                verdicts: (vb, va),
                at: now,
            };
            let dedupe = format!("verdict:{key}:{scenario}:{}", w.today);
            rows.extend(told.events(seen, Some(dedupe)));
        }
    }
    insert_in_order(conn, rows)?;
    Ok(if (keys.len() as i64) < limit {
        None
    } else {
        keys.last().cloned()
    })
}

/// What is told of one subject in one scenario to one list.
struct Told<'a> {
    list: &'a WatchlistRow,
    key: &'a str,
    scenario: &'a str,
    verdicts: (Verdict, Verdict),
    at: NaiveDateTime,
}

/// A record change the owner may see: its event, the record, and the sweep's dedupe key.
type Seen = (EventType, String, Option<String>);

impl Told<'_> {
    /// One event per change in `seen`; or, when there is none and the verdict moved, one
    /// `verdict.changed` without record ids.
    fn events(&self, seen: Vec<Seen>, verdict_dedupe: Option<String>) -> Vec<EventRow> {
        if seen.is_empty() {
            return if self.verdicts.0 != self.verdicts.1 {
                vec![self.row(EventType::VerdictChanged, vec![], verdict_dedupe)]
            } else {
                vec![]
            };
        }
        seen.into_iter()
            .map(|(kind, record, dedupe)| self.row(kind, vec![record], dedupe))
            .collect()
    }

    /// The stored row: its payload is the body every attempt sends (a code, never an ID number:
    /// lists hold codes only).
    fn row(&self, kind: EventType, records: Vec<String>, dedupe_key: Option<String>) -> EventRow {
        let id = format!("evt_{}", ulid::Ulid::new());
        let uscc = self.key.strip_prefix("uscc:").unwrap_or(self.key);
        let payload = json!({
            "id": id,
            "type": kind.as_str(),
            "watchlist_id": self.list.id,
            "subject": {"uscc": uscc},
            "scenario": self.scenario,
            "verdict_before": self.verdicts.0.as_str(),
            "verdict_after": self.verdicts.1.as_str(),
            "record_ids": records,
            "occurred_at": crate::service::rfc3339(self.at),
        });
        EventRow {
            id,
            watchlist_id: self.list.id.clone(),
            event_type: kind.as_str().to_string(),
            dedupe_key,
            payload: crate::domain::canonical_json(&payload),
            state: PENDING.to_string(),
            attempts: 0,
            created_at: self.at,
            next_attempt_at: self.at,
            last_attempt_at: None,
            last_result: None,
            delivered_at: None,
        }
    }
}

/// A list's owner as the policy sees it: its role, its agreements and grants in force today.
struct Owner {
    caller: Caller,
    agreements: Vec<crate::store::agreements::AgreementRow>,
    grants: Vec<Grant>,
    today: NaiveDate,
}

impl Owner {
    /// `None`: the owner may not be told of this scenario now (a partner whose agreements in
    /// force do not cover it); otherwise the partner's scope, if a partner.
    fn scope(&self, scenario: &str) -> Option<Option<PartnerScope>> {
        if self.caller.role != Role::Partner {
            return Some(None);
        }
        crate::service::agreements::scope_in_force(&self.agreements, scenario, self.today).map(Some)
    }

    /// Whether the owner may see the record as it was while in force (a revoked, repaired or
    /// ended record is told of to those who could see it).
    fn sees(&self, r: &WatchedRecord, scope: Option<&PartnerScope>) -> bool {
        let meta = RecordMeta {
            id: &r.id,
            list_code: r.list_code.as_deref(),
            sharing: r.sharing_class,
            open_class: r.open_class,
            kind: r.kind,
            source_code: &r.source_code,
            effect: Effect::InForce,
        };
        policy::can_see(&self.caller, meta, scope, &self.grants)
    }
}

/// Owners read once per list for a batch of events.
#[derive(Default)]
struct Owners(HashMap<String, Arc<Owner>>);

impl Owners {
    fn of(
        &mut self,
        conn: &mut DbConn,
        list: &WatchlistRow,
        today: NaiveDate,
    ) -> StoreResult<Arc<Owner>> {
        if let Some(o) = self.0.get(&list.id) {
            return Ok(o.clone());
        }
        let role = Role::parse(&list.owner_role).unwrap_or(Role::System);
        let caller = Caller {
            key_id: list.created_by.clone(),
            org_code: list.org_code.clone(),
            role,
        };
        let agreements = if role == Role::Partner {
            crate::store::agreements::of_org(conn, Some(&list.org_code), true)?
        } else {
            vec![]
        };
        let grants = if role.is_government() && role != Role::Admin {
            crate::service::grants::from_rows(crate::store::grants::in_force(
                conn,
                &list.org_code,
                today,
            )?)
        } else {
            vec![]
        };
        let o = Arc::new(Owner {
            caller,
            agreements,
            grants,
            today,
        });
        self.0.insert(list.id.clone(), o.clone());
        Ok(o)
    }
}
