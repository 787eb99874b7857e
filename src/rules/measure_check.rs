//! Checking one measure of a scenario file: its id, title, legal bases (and how sure we are of
//! them), conditions, lists, duration and `after_publicity`, every problem at its line.

use std::collections::BTreeSet;

use super::load::FileCtx;
use super::model::*;
use super::{Catalog, Duration, Measure, Selector};
use crate::domain::{Period, RecordKind, RecordStatus, Yuan};

fn measure_id_ok(id: &str) -> bool {
    let parts: Vec<&str> = id.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

pub(super) fn check_measure(
    fc: &mut FileCtx<'_>,
    catalog: &Catalog,
    m: MeasureDef,
    line: Option<usize>,
) -> Option<Measure> {
    let before = fc.errors.len();
    let id = m.id.clone();
    let at = |fc: &FileCtx<'_>, key: &str| fc.line_of(key, line);
    if !measure_id_ok(&id) {
        fc.err(
            line,
            format!("measure id '{id}' must be dotted lower-case words, such as procurement.dishonest_debtor"),
        );
    }
    if m.title.trim().is_empty() {
        fc.err(at(fc, "title:"), format!("measure {id}: title is empty"));
    }
    if m.implemented_by.trim().is_empty() {
        fc.err(
            at(fc, "implemented_by:"),
            format!("measure {id}: implemented_by is empty"),
        );
    }
    // 国办发〔2020〕49号: no sanction without a basis in law, regulation or State Council policy.
    if m.basis.is_empty() || m.basis.iter().any(|b| b.text.trim().is_empty()) {
        fc.err(
            at(fc, "basis:"),
            format!("measure {id} has no legal basis: every measure needs at least one (国办发〔2020〕49号)"),
        );
    }
    let uncertain = m
        .basis
        .iter()
        .any(|b| b.confidence == Confidence::Uncertain);
    let firm = m
        .basis
        .iter()
        .any(|b| b.confidence != Confidence::Uncertain);
    // MEASURES.md: never let an uncertain basis be the only reason for `prohibit`.
    if m.measure == MeasureKind::Prohibit && !m.basis.is_empty() && !firm {
        fc.err(
            at(fc, "measure:"),
            format!("measure {id}: prohibit rests only on uncertain bases; use restrict or review, or give a verified or secondary basis"),
        );
    }
    if uncertain && m.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        fc.err(
            at(fc, "basis:"),
            format!(
                "measure {id}: a basis marked uncertain needs a note that says what is uncertain"
            ),
        );
    }
    if m.applies_to.is_empty() {
        fc.err(
            at(fc, "applies_to:"),
            format!("measure {id}: applies_to is empty"),
        );
    }
    let w = &m.when;
    if w.kinds.is_empty() {
        fc.err(
            at(fc, "kinds:"),
            format!("measure {id}: when.kinds must name at least one record kind"),
        );
    }
    let mut polarities = BTreeSet::new();
    for code in &w.list_codes {
        match catalog.get(code) {
            Some(l) => {
                polarities.insert(l.polarity == Polarity::Red);
            }
            None => fc.err(
                at(fc, code),
                format!(
                    "measure {id}: unknown list code {code}; the catalog holds {}",
                    catalog.codes().join(", ")
                ),
            ),
        }
    }
    let lists_needed = w
        .kinds
        .iter()
        .any(|k| matches!(k, RecordKind::ListEntry | RecordKind::RedList));
    if lists_needed && w.list_codes.is_empty() {
        fc.err(
            at(fc, "kinds:"),
            format!("measure {id}: a measure on list entries must name its list_codes"),
        );
    }
    let red_only = w.kinds.iter().all(|k| *k == RecordKind::RedList);
    if m.measure == MeasureKind::Incentive && (!red_only || polarities.contains(&false)) {
        fc.err(
            at(fc, "measure:"),
            format!("measure {id}: an incentive comes from red lists only (kinds: [red_list])"),
        );
    }
    if m.measure != MeasureKind::Incentive
        && (w.kinds.contains(&RecordKind::RedList) || polarities.contains(&true))
    {
        fc.err(
            at(fc, "measure:"),
            format!("measure {id}: a red list cannot ground a sanction; use measure: incentive"),
        );
    }
    let fine_at_least = match &w.fine_at_least {
        None => None,
        Some(v) => {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            match Yuan::parse(&text) {
                Ok(y) => Some(y),
                Err(e) => {
                    fc.err(
                        at(fc, "fine_at_least:"),
                        format!("measure {id}: fine_at_least: {e}"),
                    );
                    None
                }
            }
        }
    };
    let decided_within = match &w.decided_within {
        None => None,
        Some(p) => match Period::parse(p) {
            Ok(p) => Some(p),
            Err(e) => {
                fc.err(
                    at(fc, "decided_within:"),
                    format!("measure {id}: decided_within: {e}"),
                );
                None
            }
        },
    };
    if w.status == Some(RecordStatus::Revoked) {
        fc.err(
            at(fc, "status:"),
            format!("measure {id}: a revoked record has no effect; status can only be active"),
        );
    }
    if let Some(dc) = &w.details_contain {
        if dc.field.trim().is_empty() || dc.any.is_empty() {
            fc.err(
                at(fc, "details_contain:"),
                format!("measure {id}: details_contain needs a field and at least one text"),
            );
        }
    }
    let record_of = w.record_of.unwrap_or_default();
    if record_of == RecordOf::LegalRep && m.applies_to.contains(&AppliesTo::Subject) {
        fc.err(
            at(fc, "record_of:"),
            format!("measure {id}: record_of: legal_rep looks at a person's roles; applies_to must name person roles only"),
        );
    }
    let duration = if m.duration.trim() == "while_in_force" {
        if w.in_force != Some(true) {
            fc.err(
                at(fc, "duration:"),
                format!("measure {id}: duration while_in_force needs when.in_force: true"),
            );
        }
        Some(Duration::WhileInForce)
    } else {
        match Period::parse(&m.duration) {
            Ok(p) => Some(Duration::FromDecision(p)),
            Err(e) => {
                fc.err(
                    at(fc, "duration:"),
                    format!("measure {id}: duration must be while_in_force or a period: {e}"),
                );
                None
            }
        }
    };
    let counts_after_publicity = m.after_publicity == Some(AfterPublicity::Counts);
    if counts_after_publicity && m.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        fc.err(
            at(fc, "after_publicity:"),
            format!("measure {id}: after_publicity: counts needs a note that says which look-back of the law keeps the record counting past its publicity period"),
        );
    }
    if fc.errors.len() > before {
        return None;
    }
    Some(Measure {
        id,
        title: m.title,
        applies_to: m.applies_to,
        selector: Selector {
            record_of,
            kinds: w.kinds.clone(),
            list_codes: w.list_codes.clone(),
            severities: w.severities.clone(),
            penalty_types: w.penalty_types.clone(),
            fine_at_least,
            decided_within,
            in_force: w.in_force.unwrap_or(false),
            details_contain: w.details_contain.clone(),
        },
        measure: m.measure,
        duration: duration?,
        counts_after_publicity,
        implemented_by: m.implemented_by,
        basis: m.basis,
        note: m.note,
    })
}
