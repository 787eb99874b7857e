//! Pushing the city's records to the platform in idempotent batches.

use super::*;

/// The record as the platform takes it: the shape of `POST /api/v1/records/batch`, with the
/// ID numbers decrypted (the exchange is lawful sharing between platforms; DESIGN.md).
pub(super) fn push_record(keys: &DataKeys, r: &RecordRow, s: &SubjectRow) -> Value {
    let dec = |v: &Option<String>| v.as_deref().and_then(|e| keys.decrypt(e).ok());
    let mut subject = Map::new();
    if let Some(u) = &s.uscc {
        subject.insert("uscc".into(), json!(u));
    }
    if let Some(reg) = &s.reg_no {
        subject.insert("reg_no".into(), json!(reg));
    }
    if let Some(id) = dec(&s.id_number_enc) {
        subject.insert("id_number".into(), json!(id));
    }
    subject.insert("name".into(), json!(s.name));
    subject.insert("kind".into(), json!(s.kind));
    if let Some(name) = &r.legal_rep_name {
        subject.insert(
            "legal_rep".into(),
            json!({"name": name, "id_number": dec(&r.legal_rep_id_enc)}),
        );
    }
    let fine = r
        .fine_amount_fen
        .map(|f| format!("{}.{:02}", f / 100, f % 100));
    json!({
        "source_record_id": r.source_record_id,
        "source_code": r.source_code,
        "kind": r.kind,
        "list_code": r.list_code,
        "subject": subject,
        "decision_no": r.decision_no,
        "decision_date": r.decision_date,
        "valid_from": r.valid_from,
        "valid_to": r.valid_to,
        "severity": r.severity,
        "penalty_types": serde_json::from_str::<Value>(&r.penalty_types).unwrap_or(json!([])),
        "fine_amount": fine,
        "authority": {"name": r.authority_name, "uscc": r.authority_uscc},
        "sharing_class": r.sharing_class,
        "open_class": r.open_class,
        "status": r.status,
        "version": r.version,
        "origin": r.origin,
        "details": serde_json::from_str::<Value>(&r.details).unwrap_or(json!({})),
    })
}

pub(super) async fn push_all(
    ctx: &Ctx,
    platform: &dyn Platform,
    settings: &Settings,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    report: &mut RoundReport,
    progress: &mut dyn Progress,
) -> Result<(), RoundError> {
    let mut after_id = String::new();
    loop {
        if *stop.borrow() {
            return Err(RoundError::Stopped);
        }
        let limit = settings.push_batch;
        let from = after_id.clone();
        let due = ctx
            .db
            .run(move |conn| store_sync::push_due(conn, &from, limit))
            .await?;
        let Some(last) = due.last() else {
            return Ok(());
        };
        after_id = last.0.id.clone();
        let batch = PushBatch {
            // The same id on every retry of this batch.
            batch_id: ingest::new_id("push"),
            records: due
                .iter()
                .map(|(r, s)| PushItem {
                    source_code: r.source_code.clone(),
                    source_record_id: r.source_record_id.clone(),
                    version: r.version,
                    record: push_record(&ctx.keys, r, s),
                })
                .collect(),
        };
        let results = with_retries(ctx, settings, "push", stop, report, progress, || {
            platform.push(&batch)
        })
        .await?;
        // `duplicate` is a delivery too: the platform took the record before (often this very
        // batch, whose answer was lost on the way), so it counts as pushed.
        let mut done = Vec::new();
        let mut refused = Vec::new();
        let mut counts = store_sync::PushCounts::default();
        for res in &results {
            let Some((r, _)) = due.get(res.index) else {
                continue;
            };
            match res.status.as_str() {
                "accepted" | "duplicate" => {
                    counts.delivered += 1;
                    counts.duplicates += i64::from(res.status == "duplicate");
                    done.push((r.id.clone(), r.version));
                }
                _ => {
                    // The platform's words may quote the record: logged and kept masked.
                    let reason = crate::domain::id_number::masked(&format!(
                        "{} {} v{}: {}",
                        r.source_code,
                        r.source_record_id,
                        r.version,
                        push_errors(&res.errors)
                    ));
                    tracing::warn!(record = %r.id, reason, "the platform refused a pushed record; it is sent again only at a newer version");
                    counts.refused += 1;
                    counts.last_reject = Some(reason);
                    refused.push((r.id.clone(), r.version));
                }
            }
        }
        let actor = Actor::new(ctx, &sync_caller());
        let now = actor.at;
        let c = counts.clone();
        ctx.db
            .run_write(move |conn| {
                conn.transaction::<_, StoreError, _>(|conn| {
                    for (id, version) in &done {
                        store_sync::mark_pushed(conn, id, *version)?;
                    }
                    for (id, version) in &refused {
                        store_sync::mark_push_refused(conn, id, *version)?;
                    }
                    store_sync::note_push(conn, PLATFORM, &c, now)?;
                    crate::service::audit::append(
                        conn,
                        &actor,
                        &crate::service::audit::Entry {
                            action: "sync.push",
                            records: done.iter().chain(&refused).map(|d| d.0.clone()).collect(),
                            outcome: "ok",
                            detail: Some(json!({
                                "delivered": c.delivered,
                                "duplicate": c.duplicates,
                                "refused": refused.iter().map(|d| &d.0).collect::<Vec<_>>(),
                            })),
                            ..Default::default()
                        },
                    )?;
                    Ok(())
                })
            })
            .await?;
        report.pushed += counts.delivered;
        report.push_duplicates += counts.duplicates;
        report.push_rejected += counts.refused;
        progress.pushed(report);
    }
}

/// Pushes every approved repair the platform has not taken or refused (NDRC Order 36: the
/// platforms stay in step; a repair ends publication and sharing there too). Idempotent by the
/// repair's id; a refused repair keeps the platform's reason and is not sent again.
pub(super) async fn push_repairs(
    ctx: &Ctx,
    platform: &dyn Platform,
    settings: &Settings,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    report: &mut RoundReport,
    progress: &mut dyn Progress,
) -> Result<(), RoundError> {
    use crate::store::repairs as store_repairs;
    use crate::sync::protocol::{RepairPushBatch, RepairPushItem};
    let mut after_id = String::new();
    loop {
        if *stop.borrow() {
            return Err(RoundError::Stopped);
        }
        let limit = settings.push_batch;
        let from = after_id.clone();
        let due = ctx
            .db
            .run(move |conn| store_repairs::push_due(conn, &from, limit))
            .await?;
        let Some(last) = due.last() else {
            return Ok(());
        };
        after_id = last.0.id.clone();
        let batch = RepairPushBatch {
            batch_id: ingest::new_id("rpush"),
            repairs: due
                .iter()
                .filter_map(|(rep, r)| {
                    Some(RepairPushItem {
                        repair_id: rep.id.clone(),
                        source_code: r.source_code.clone(),
                        source_record_id: r.source_record_id.clone(),
                        version: rep.record_version.unwrap_or(r.version),
                        repaired_on: rep.decided_on?,
                    })
                })
                .collect(),
        };
        let results = with_retries(
            ctx,
            settings,
            "push repairs",
            stop,
            report,
            progress,
            || platform.push_repairs(&batch),
        )
        .await?;
        let mut taken = Vec::new();
        let mut refused = Vec::new();
        for res in &results {
            let Some(item) = batch.repairs.get(res.index) else {
                continue;
            };
            match res.status.as_str() {
                "accepted" | "duplicate" => taken.push(item.repair_id.clone()),
                _ => {
                    let reason = crate::domain::id_number::masked(&format!(
                        "{} {}: {}",
                        item.source_code,
                        item.source_record_id,
                        push_errors(&res.errors)
                    ));
                    tracing::warn!(repair = %item.repair_id, reason, "the platform refused a pushed repair; it is not sent again");
                    refused.push((item.repair_id.clone(), reason));
                }
            }
        }
        let actor = Actor::new(ctx, &sync_caller());
        let now = actor.at;
        let (t, r) = (taken.clone(), refused.clone());
        ctx.db
            .run_write(move |conn| {
                conn.transaction::<_, StoreError, _>(|conn| {
                    for id in &t {
                        store_repairs::mark_pushed(conn, id, now)?;
                    }
                    for (id, reason) in &r {
                        store_repairs::mark_push_refused(conn, id, reason)?;
                    }
                    crate::service::audit::append(
                        conn,
                        &actor,
                        &crate::service::audit::Entry {
                            action: "sync.push_repairs",
                            outcome: "ok",
                            detail: Some(json!({
                                "delivered": t,
                                "refused": r.iter().map(|x| &x.0).collect::<Vec<_>>(),
                            })),
                            ..Default::default()
                        },
                    )?;
                    Ok(())
                })
            })
            .await?;
        report.repairs_pushed += taken.len() as i64;
        report.repairs_refused += refused.len() as i64;
        progress.pushed(report);
    }
}

/// The platform's errors for a refused item, in a line (its words, or that it gave none).
fn push_errors(errors: &Option<Value>) -> String {
    match errors {
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|e| match (e["field"].as_str(), e["message"].as_str()) {
                (Some(f), Some(m)) => format!("{f}: {m}"),
                (None, Some(m)) => m.to_string(),
                _ => e.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(Value::String(m)) => m.clone(),
        _ => "no reason given".into(),
    }
}
