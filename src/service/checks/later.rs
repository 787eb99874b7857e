//! What changed, since a report was made, in the records it rests on (API.md: a stored report
//! keeps what was true when it was made; `later_changes` tells an officer that a verdict would
//! now differ). Only records the report names, or that the caller may see today, are told of:
//! a change to a record the caller has no trace of would leak that it exists.

use super::*;
use crate::domain::lifecycle::{effect, next_day};
use crate::domain::{Effect, RecordStatus};
use gather::StoredFacts;

/// The changes to the report's records, in record-id order.
pub(super) async fn changes(
    ctx: &Ctx,
    caller: &Caller,
    row: &ReportRow,
    report: &Report,
) -> ServiceResult<Vec<LaterChange>> {
    let stored: StoredFacts = serde_json::from_str(&row.facts)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("facts of {}: {e}", row.report_no)))?;
    let then: BTreeMap<String, RecordFact> = stored
        .facts
        .parties
        .iter()
        .flat_map(|p| p.records.iter())
        .map(|r| (r.id.clone(), r.clone()))
        .collect();
    let ids: Vec<String> = stored.provenance.keys().cloned().collect();
    let (now, repaired) = ctx
        .db
        .run(move |conn| {
            let rows = records::find_many(conn, &ids)?;
            let repaired = crate::store::repairs::repaired_on(conn, &ids)?;
            Ok((rows, repaired))
        })
        .await?;
    // The report's records, and whether it showed each (`restricted: false`) or named it only.
    let named: BTreeMap<&str, bool> = report
        .findings
        .iter()
        .chain(&report.incentives)
        .flat_map(|f| f.records.iter().map(|r| (r.id.as_str(), !r.restricted)))
        .collect();
    let grants = crate::service::grants::in_force(ctx, caller).await?;
    let set = ctx.rules();
    let today = ctx.clock.today();
    let mut out = Vec::new();
    for r in &now {
        let (Some(was), Some(prov)) = (then.get(&r.id), stored.provenance.get(&r.id)) else {
            continue;
        };
        let repaired_on = repaired.get(&r.id).copied();
        // A record the report showed is told of in full; one it named only as restricted, by
        // the kind of change alone; one it did not name, only if the caller may see it today.
        let open_now = match named.get(r.id.as_str()) {
            Some(shown) => *shown,
            None if crate::service::query::shown_to(ctx, caller, r, repaired_on, &grants) => true,
            None => continue,
        };
        let mut push = |change: &str, on: Option<NaiveDate>, detail: String| {
            let (on, detail) = if open_now {
                (on, detail)
            } else {
                (
                    None,
                    "该记录已变更，其详细信息受共享类别限制，不予显示".to_string(),
                )
            };
            out.push(LaterChange {
                record_id: r.id.clone(),
                change: change.into(),
                on,
                detail,
            })
        };
        if let (Some(on), false) = (repaired_on, was.repaired) {
            push(
                "repaired",
                Some(on),
                format!("该记录已于 {on} 信用修复，不再用于核查"),
            );
        }
        if r.status == RecordStatus::Revoked && was.status != RecordStatus::Revoked {
            push("revoked", None, "该记录所依据的决定已撤销".into());
        }
        if r.version > prov.version && r.status != RecordStatus::Revoked {
            push(
                "corrected",
                None,
                format!("该记录已更新：版本 {} → {}", prov.version, r.version),
            );
        }
        // In force on the report's date, past its publicity today (under today's periods).
        let until = crate::service::lifecycle::dates_of_row(&set, r).publicity_until;
        let in_force_then =
            effect(was.status, was.repaired, was.publicity_until, row.as_of) == Effect::InForce;
        if in_force_then && until.is_some_and(|u| u >= row.as_of && u < today) {
            let from = until.and_then(next_day);
            push(
                "publicity_ended",
                from,
                format!(
                    "该记录公示期至 {} 届满，自 {} 起不再用于核查",
                    until.map(|u| u.to_string()).unwrap_or_default(),
                    from.map(|u| u.to_string()).unwrap_or_default()
                ),
            );
        }
    }
    out.sort_by(|a, b| (&a.record_id, &a.change).cmp(&(&b.record_id, &b.change)));
    Ok(out)
}
