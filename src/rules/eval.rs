//! The evaluator: pure and deterministic. The same facts, rule set and as-of date give the same
//! findings, in the same order, whatever the order of records or parties in the input.

use std::cmp::Reverse;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::{AppliesTo, Basis, MeasureKind, RecordOf};
use super::{Duration, Measure, Scenario};
use crate::domain::lifecycle::{effect, Effect};
use crate::domain::{PenaltyType, RecordKind, RecordStatus, Severity, Yuan};

/// A record as the evaluator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordFact {
    pub id: String,
    pub kind: RecordKind,
    pub list_code: Option<String>,
    /// The list's name from the catalog, for explanations.
    #[serde(default)]
    pub list_name: Option<String>,
    pub decision_no: Option<String>,
    pub decision_date: Option<NaiveDate>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub severity: Option<Severity>,
    pub penalty_types: Vec<PenaltyType>,
    pub fine: Option<Yuan>,
    pub status: RecordStatus,
    pub under_objection: bool,
    /// The last day of its publicity period (`rules/periods.yaml`); `None`: no period ends it.
    #[serde(default)]
    pub publicity_until: Option<NaiveDate>,
    /// The first day a repair may be applied for; `None`: it cannot be repaired. Not a
    /// condition of any measure: carried for the report.
    #[serde(default)]
    pub repair_eligible_from: Option<NaiveDate>,
    /// Repaired (信用修复): no check uses it any more.
    #[serde(default)]
    pub repaired: bool,
    #[serde(default)]
    pub details: Map<String, Value>,
    /// About the party itself, or about another subject naming the party as legal representative.
    pub relation: RecordOf,
    /// The name of the record's subject.
    pub subject_name: String,
}

/// Someone the check is about: the subject, or a related person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Party {
    pub role: AppliesTo,
    pub name: String,
    /// Masked ID number of a natural person.
    pub id_masked: Option<String>,
    pub records: Vec<RecordFact>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Facts {
    pub parties: Vec<Party>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Clear,
    Review,
    Restricted,
    Prohibited,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clear => "clear",
            Verdict::Review => "review",
            Verdict::Restricted => "restricted",
            Verdict::Prohibited => "prohibited",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [
            Verdict::Clear,
            Verdict::Review,
            Verdict::Restricted,
            Verdict::Prohibited,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    fn of(m: MeasureKind) -> Verdict {
        match m {
            MeasureKind::Prohibit => Verdict::Prohibited,
            MeasureKind::Restrict => Verdict::Restricted,
            MeasureKind::Review => Verdict::Review,
            MeasureKind::Incentive => Verdict::Clear,
        }
    }
}

/// A record that met a measure's conditions, and the conditions in words with their values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedRecord {
    pub record_id: String,
    pub conditions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub measure_id: String,
    pub measure: MeasureKind,
    pub title: String,
    pub applies_to: AppliesTo,
    pub party_name: String,
    pub party_id_masked: Option<String>,
    pub basis: Vec<Basis>,
    pub implemented_by: String,
    /// The last day the measure holds (inclusive); `None`: until the record is removed.
    pub until: Option<NaiveDate>,
    pub note: Option<String>,
    pub records: Vec<MatchedRecord>,
    /// Which conditions held, in plain words.
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub verdict: Verdict,
    /// Sanctions (prohibit, restrict, review), strongest first, then by measure id.
    pub findings: Vec<Finding>,
    /// Incentives, reported apart from the verdict.
    pub incentives: Vec<Finding>,
}

fn show_date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_else(|| "未载明".into())
}

/// Checks one record against a measure's selector; `Some(conditions)` when every condition
/// holds.
fn matches(m: &Measure, r: &RecordFact, as_of: NaiveDate) -> Option<Vec<String>> {
    let (s, duration) = (&m.selector, m.duration);
    // A revoked decision has no effect (API.md "status"), nor a repaired record, nor one past
    // its publicity period on the as-of date (NDRC Order 36), unless the measure's own
    // look-back keeps it (`after_publicity: counts`); one decided after the as-of date did not
    // exist then.
    let mut ended = None;
    match effect(r.status, r.repaired, r.publicity_until, as_of) {
        Effect::InForce => {}
        Effect::PublicityEnded if m.counts_after_publicity => ended = r.publicity_until,
        _ => return None,
    }
    if r.relation != s.record_of {
        return None;
    }
    if r.decision_date.is_some_and(|d| d > as_of) {
        return None;
    }
    if !s.kinds.contains(&r.kind) {
        return None;
    }
    let mut why = Vec::new();
    if r.relation == RecordOf::LegalRep {
        why.push(format!("是记录当事人「{}」的法定代表人", r.subject_name));
    }
    match r.kind {
        RecordKind::ListEntry | RecordKind::RedList => {
            let code = r.list_code.as_deref()?;
            if !s.list_codes.is_empty() && !s.list_codes.iter().any(|c| c == code) {
                return None;
            }
            let name = r.list_name.as_deref().unwrap_or(code);
            why.push(format!("列入「{name}」({code})"));
        }
        RecordKind::Penalty => why.push(format!(
            "行政处罚{}",
            r.decision_no
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default()
        )),
        RecordKind::License => why.push("行政许可记录".into()),
        RecordKind::Commitment => why.push("信用承诺记录".into()),
    }
    if !s.severities.is_empty() {
        let sev = r.severity?;
        if !s.severities.contains(&sev) {
            return None;
        }
        why.push(format!("违法情节{}({})", sev.label_zh(), sev.as_str()));
    }
    if !s.penalty_types.is_empty() {
        let hit: Vec<&PenaltyType> = s
            .penalty_types
            .iter()
            .filter(|t| r.penalty_types.contains(t))
            .collect();
        if hit.is_empty() {
            return None;
        }
        let names: Vec<String> = hit
            .iter()
            .map(|t| format!("{}({})", t.label_zh(), t.as_str()))
            .collect();
        why.push(format!("处罚种类含{}", names.join("、")));
    }
    if let Some(min) = s.fine_at_least {
        let fine = r.fine?;
        if fine < min {
            return None;
        }
        why.push(format!("罚款 {fine} 元，不低于 {min} 元"));
    }
    if let Some(p) = s.decided_within {
        let d = r.decision_date?;
        let start = p.before(as_of)?;
        if d <= start {
            return None;
        }
        why.push(format!(
            "决定日期 {d}，在核查日 {as_of} 前{}内（晚于 {start}）",
            p.describe()
        ));
    }
    if s.in_force {
        let from = r.valid_from.or(r.decision_date);
        if from.is_some_and(|f| f > as_of) || r.valid_to.is_some_and(|t| t < as_of) {
            return None;
        }
        let to = r
            .valid_to
            .map(|t| t.to_string())
            .unwrap_or_else(|| "移出之日".into());
        why.push(format!(
            "有效期 {} 至 {to}，核查日 {as_of} 在有效期内",
            show_date(from)
        ));
    }
    if let Some(dc) = &s.details_contain {
        let text = r.details.get(&dc.field).and_then(Value::as_str)?;
        let hit = dc.any.iter().find(|t| text.contains(t.as_str()))?;
        why.push(format!("{} 载明「{hit}」", dc.field));
    }
    if let Duration::FromDecision(p) = duration {
        let d = r.decision_date?;
        let end = p.after(d)?;
        if end <= as_of {
            return None;
        }
        if s.decided_within != Some(p) {
            why.push(format!("自决定日期 {d} 起{}内", p.describe()));
        }
    }
    if let Some(u) = ended {
        why.push(format!("公示期已于 {u} 届满，本措施依其法定期限仍予计入"));
    }
    if r.under_objection {
        why.push("该记录正在异议处理中，结论以异议核查结果为准".into());
    }
    Some(why)
}

fn until_of(duration: Duration, r: &RecordFact) -> Option<NaiveDate> {
    match duration {
        Duration::WhileInForce => r.valid_to,
        Duration::FromDecision(p) => r
            .decision_date
            .and_then(|d| p.after(d))
            .and_then(|e| e.checked_sub_days(Days::new(1))),
    }
}

fn label(role: AppliesTo, name: &str, id_masked: Option<&str>) -> String {
    match (role, id_masked) {
        (AppliesTo::Subject, _) => format!("被核查主体「{name}」"),
        (role, Some(id)) => format!("{} {name}（{id}）", role.label_zh()),
        (role, None) => format!("{} {name}", role.label_zh()),
    }
}

fn party_label(p: &Party) -> String {
    label(p.role, &p.name, p.id_masked.as_deref())
}

/// How a finding names its party, for explanations composed elsewhere.
pub fn finding_party_label(f: &Finding) -> String {
    label(f.applies_to, &f.party_name, f.party_id_masked.as_deref())
}

/// The closing sentence of an explanation: how long the measure lasts.
pub fn until_sentence(until: Option<NaiveDate>) -> String {
    match until {
        Some(u) => format!("措施持续至 {u}。"),
        None => "措施持续至记录移出或修复之日。".into(),
    }
}

fn evaluate_measure(m: &Measure, party: &Party, as_of: NaiveDate) -> Option<Finding> {
    if !m.applies_to.contains(&party.role) {
        return None;
    }
    let mut records: Vec<&RecordFact> = party.records.iter().collect();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    let mut matched = Vec::new();
    let mut until: Option<Option<NaiveDate>> = None;
    for r in records {
        if let Some(conditions) = matches(m, r, as_of) {
            let u = until_of(m.duration, r);
            until = Some(match (until, u) {
                (None, u) => u,
                (Some(None), _) | (_, None) => None,
                (Some(Some(a)), Some(b)) => Some(a.max(b)),
            });
            matched.push(MatchedRecord {
                record_id: r.id.clone(),
                conditions,
            });
        }
    }
    if matched.is_empty() {
        return None;
    }
    let until = until.flatten();
    let mut explanation = format!("{}：{}。", party_label(party), m.title);
    for r in &matched {
        explanation.push_str(&format!(
            "记录 {}：{}。",
            r.record_id,
            r.conditions.join("；")
        ));
    }
    explanation.push_str(&until_sentence(until));
    Some(Finding {
        measure_id: m.id.clone(),
        measure: m.measure,
        title: m.title.clone(),
        applies_to: party.role,
        party_name: party.name.clone(),
        party_id_masked: party.id_masked.clone(),
        basis: m.basis.clone(),
        implemented_by: m.implemented_by.clone(),
        until,
        note: m.note.clone(),
        records: matched,
        explanation,
    })
}

/// Applies a scenario's measures to the facts as of a date.
pub fn evaluate(scenario: &Scenario, facts: &Facts, as_of: NaiveDate) -> Evaluation {
    let mut parties: Vec<&Party> = facts.parties.iter().collect();
    parties.sort_by(|a, b| (a.role, &a.id_masked, &a.name).cmp(&(b.role, &b.id_masked, &b.name)));
    let mut findings = Vec::new();
    let mut incentives = Vec::new();
    for m in &scenario.measures {
        for p in &parties {
            if let Some(f) = evaluate_measure(m, p, as_of) {
                if f.measure == MeasureKind::Incentive {
                    incentives.push(f);
                } else {
                    findings.push(f);
                }
            }
        }
    }
    findings.sort_by(|a, b| {
        (
            Reverse(a.measure),
            &a.measure_id,
            a.applies_to,
            &a.party_id_masked,
        )
            .cmp(&(
                Reverse(b.measure),
                &b.measure_id,
                b.applies_to,
                &b.party_id_masked,
            ))
    });
    let verdict = findings
        .iter()
        .map(|f| Verdict::of(f.measure))
        .max()
        .unwrap_or(Verdict::Clear);
    Evaluation {
        verdict,
        findings,
        incentives,
    }
}
