//! Ingestion: the API batch, the 双公示 import and the demo data. An item is validated on its own
//! ([`input`]), so a bad item never blocks the others; the valid ones are written together in one
//! transaction by the one write path of records ([`write`]), so no item is half written.

use std::collections::BTreeSet;

use diesel::Connection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{Ctx, ServiceError, ServiceResult};
use crate::domain::*;
use crate::store::{DbConn, StoreError};

mod input;
mod mask;
mod rows;
pub mod write;

pub use input::{parse_item, AuthorityInput, PersonInput, RecordInput, SubjectInput};
pub use write::{
    content_hash, new_id, record_row, registers_subjects, subject_row, version_row, Outcome, Write,
};

pub use input::MAX_VERSION;

/// The result of one item, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Created,
    Updated,
    Unchanged,
    Rejected,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemResult {
    pub index: usize,
    pub status: ItemStatus,
    /// The record's id (absent when rejected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why the item was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::FieldErrorDoc>>)]
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchResult {
    pub summary: Summary,
    pub results: Vec<ItemResult>,
}

/// Who submits and under which rules.
#[derive(Debug, Clone)]
pub struct Submitter {
    pub caller: Caller,
}

/// A validated item ready to store, or its errors.
pub type Parsed = Result<(NewRecord, String), Vec<FieldError>>;

/// How often a batch is tried again when a concurrent writer made one of its subjects or
/// records first (the next try finds the stored rows).
const ATTEMPTS: usize = 3;

/// Stores already-parsed items in one transaction through [`write::apply_versions`], with the
/// access-log entry of the submission. Returns the results in input order.
pub async fn store_batch(
    ctx: &Ctx,
    caller: &Caller,
    parsed: Vec<Parsed>,
) -> ServiceResult<BatchResult> {
    let actor = super::audit::Actor::new(ctx, caller);
    let clock = ctx.clock.clone();
    let registration = ctx.registration_sources.clone();
    let watch = crate::service::watchlists::events::Watch::of(ctx);
    let (results, touched) = ctx
        .db
        .run_write(move |conn| {
            let mut errors: Vec<Option<Vec<FieldError>>> = Vec::with_capacity(parsed.len());
            let mut writes = Vec::with_capacity(parsed.len());
            for item in parsed {
                match item {
                    Ok((record, source_code)) => {
                        errors.push(None);
                        writes.push(Write::Upsert {
                            record: Box::new(record),
                            source_code,
                        });
                    }
                    Err(e) => errors.push(Some(e)),
                }
            }
            let mut tries = 0;
            loop {
                tries += 1;
                let actor = actor.clone().now(&clock);
                let attempt = conn.transaction::<_, StoreError, _>(|conn| {
                    let now = actor.at;
                    let applied = write::apply_versions(conn, &watch, &registration, &writes, now)?;
                    let results = item_results(&errors, &writes, Some(&applied.outcomes));
                    log_submission(conn, &actor, &results, applied.changed.clone())?;
                    Ok((results, applied.touched))
                });
                match attempt {
                    Err(e) if e.is_unique_violation() && tries < ATTEMPTS => continue,
                    Err(e) if e.is_unique_violation() => {
                        // Nothing was written: every valid item is refused, to be sent again.
                        let results = item_results(&errors, &writes, None);
                        conn.transaction::<_, StoreError, _>(|conn| {
                            log_submission(conn, &actor, &results, Vec::new())
                        })?;
                        return Ok((results, BTreeSet::new()));
                    }
                    other => return other,
                }
            }
        })
        .await?;
    super::query::invalidate_profiles(ctx, &touched).await;
    let mut summary = Summary::default();
    for r in &results {
        match r.status {
            ItemStatus::Created => summary.created += 1,
            ItemStatus::Updated => summary.updated += 1,
            ItemStatus::Unchanged => summary.unchanged += 1,
            ItemStatus::Rejected => summary.rejected += 1,
        }
    }
    Ok(BatchResult { summary, results })
}

/// The results in input order: the parse errors where an item had them, else the outcome of
/// its write (`None`: the writes were given up as concurrent).
fn item_results(
    errors: &[Option<Vec<FieldError>>],
    writes: &[Write],
    outcomes: Option<&[Outcome]>,
) -> Vec<ItemResult> {
    let mut next = 0;
    let rejected = |index, errors| ItemResult {
        index,
        status: ItemStatus::Rejected,
        id: None,
        errors: Some(errors),
    };
    let done = |index, status, id: &String| ItemResult {
        index,
        status,
        id: Some(id.clone()),
        errors: None,
    };
    errors
        .iter()
        .enumerate()
        .map(|(index, errs)| {
            if let Some(e) = errs {
                return rejected(index, e.clone());
            }
            let w = next;
            next += 1;
            let version = match &writes[w] {
                Write::Upsert { record, .. } => record.version,
                _ => 0,
            };
            match outcomes.map(|o| &o[w]) {
                Some(Outcome::Created(id)) => done(index, ItemStatus::Created, id),
                Some(Outcome::Updated(id)) => done(index, ItemStatus::Updated, id),
                Some(Outcome::Unchanged(id)) => done(index, ItemStatus::Unchanged, id),
                Some(Outcome::Stale { stored_version }) => rejected(
                    index,
                    vec![FieldError::new(
                        "version",
                        "stale_version",
                        format!(
                            "version {version} is not newer than the stored version {stored_version}, and the content differs; send version {} or higher to replace it",
                            stored_version + 1
                        ),
                    )],
                ),
                // Only upserts come through here.
                Some(Outcome::Revoked(_) | Outcome::Absent | Outcome::Invalid) | None => rejected(
                    index,
                    vec![FieldError::new(
                        "source_record_id",
                        "concurrent_write",
                        "the same record was being written by another request at the same moment; send it again",
                    )],
                ),
            }
        })
        .collect()
}

/// The access-log entry of a submission, in the transaction of its change: no entry without
/// the change, no change without its entry.
fn log_submission(
    conn: &mut DbConn,
    actor: &super::audit::Actor,
    results: &[ItemResult],
    changed: Vec<String>,
) -> Result<(), StoreError> {
    let count = |s: ItemStatus| results.iter().filter(|r| r.status == s).count();
    super::audit::append(
        conn,
        actor,
        &super::audit::Entry {
            action: "records.submit",
            records: changed,
            outcome: "ok",
            detail: Some(serde_json::json!({
                "created": count(ItemStatus::Created),
                "updated": count(ItemStatus::Updated),
                "unchanged": count(ItemStatus::Unchanged),
                "rejected": count(ItemStatus::Rejected),
            })),
            ..Default::default()
        },
    )?;
    Ok(())
}

/// The API batch: parse every item, then store the valid ones.
#[tracing::instrument(skip_all, fields(items = items.len(), org = %submitter.caller.org_code))]
pub async fn ingest_batch(
    ctx: &Ctx,
    submitter: &Submitter,
    items: Vec<Value>,
) -> ServiceResult<BatchResult> {
    super::access::SUBMIT_RECORDS
        .allows(&submitter.caller)
        .map_err(ServiceError::Forbidden)?;
    let known = |c: &str| ctx.known_list(c);
    let parsed: Vec<Parsed> = items
        .into_iter()
        .map(|item| parse_item(item, submitter, &ctx.keys, &known))
        .collect();
    store_batch(ctx, &submitter.caller, parsed).await
}
