//! A list's deliveries as its owner reads them (`GET /api/v1/watchlists/{id}/deliveries`), and
//! the redeliver call. The events tell verdicts: reading them states a purpose and is logged.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::owned;
use crate::domain::Caller;
use crate::service::audit;
use crate::service::lifecycle::input::{list_args, page};
use crate::service::query::check_purpose;
use crate::service::{access, rfc3339, Ctx, ServiceError, ServiceResult};
use crate::store::webhook_events::{self as store, EventRow, DELIVERED, FAILED, PENDING};

const STATES: [&str; 3] = [PENDING, DELIVERED, FAILED];

/// `GET /api/v1/watchlists/{id}/deliveries` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `pending`, `delivered` or `failed`.
    #[param(schema_with = crate::service::schema::delivery_state)]
    pub state: Option<String>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Why the deliveries are read, 2 to 200 characters (the access log keeps it).
    #[param(required = true, schema_with = crate::service::schema::purpose)]
    pub purpose: Option<String>,
}

/// One event and how its delivery stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    /// The event's id, sent as `webhook-id` in every attempt.
    #[schema(example = "evt_01JD4S0M8Q3Z6Y2B5X7C9V1N0K")]
    pub id: String,
    /// `record.created`, `record.updated`, `record.revoked`, `record.repaired`,
    /// `record.publicity_ended` or `verdict.changed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending` (to be sent, or retried), `delivered` (a 2xx answer) or `failed` (24 hours of
    /// retries without one, or a target the allow list no longer admits).
    pub state: String,
    pub attempts: i32,
    /// When it was queued (again, after a redeliver call). RFC 3339, UTC.
    pub queued_at: String,
    pub last_attempt_at: Option<String>,
    /// Pending events only: the next attempt.
    pub next_attempt_at: Option<String>,
    /// What the last attempt met: `HTTP 503`, `connection failed`, `timed out`, …
    pub last_result: Option<String>,
    pub delivered_at: Option<String>,
    /// The body every attempt sends.
    #[schema(value_type = Object)]
    pub event: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
    /// Events of the list per state.
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
}

fn view(r: &EventRow) -> DeliveryView {
    DeliveryView {
        id: r.id.clone(),
        event_type: r.event_type.clone(),
        state: r.state.clone(),
        attempts: r.attempts,
        queued_at: rfc3339(r.created_at),
        last_attempt_at: r.last_attempt_at.map(rfc3339),
        next_attempt_at: (r.state == PENDING).then(|| rfc3339(r.next_attempt_at)),
        last_result: r.last_result.clone(),
        delivered_at: r.delivered_at.map(rfc3339),
        event: serde_json::from_str(&r.payload).unwrap_or(Value::Null),
    }
}

/// `GET /api/v1/watchlists/{id}/deliveries`: the list's events, newest first.
pub async fn list(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    q: DeliveryQuery,
) -> ServiceResult<DeliveryList> {
    access::READ_WATCHLISTS.require(caller)?;
    let purpose = check_purpose(q.purpose.as_deref())?;
    let (state, limit) = list_args(
        q.state.as_deref(),
        |s| STATES.iter().find(|k| **k == s).copied(),
        "pending, delivered, failed",
        q.limit,
    )
    .map_err(ServiceError::Invalid)?;
    let row = owned(ctx, caller, id).await?;
    let (list_id, cursor) = (row.id.clone(), q.cursor.clone());
    let (rows, counts) = ctx
        .db
        .run(move |c| {
            let rows = store::of_list(c, &list_id, state, cursor.as_deref(), limit + 1)?;
            Ok((rows, store::counts(c, &list_id)?))
        })
        .await?;
    let (rows, next_cursor) = page(rows, limit, |r| r.id.clone());
    let count = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let entry = audit::Entry {
        action: access::READ_WATCHLISTS.action,
        purpose: Some(purpose),
        outcome: "ok",
        detail: Some(json!({"id": row.id, "deliveries": rows.len()})),
        ..Default::default()
    };
    audit::log(ctx, caller, entry).await?;
    Ok(DeliveryList {
        items: rows.iter().map(view).collect(),
        next_cursor,
        pending: count(PENDING),
        delivered: count(DELIVERED),
        failed: count(FAILED),
    })
}

/// `POST /api/v1/watchlists/{id}/deliveries/{event}/redeliver`: sends the event again, under
/// the same id, with a new 24 hours of retries.
pub async fn redeliver(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    event: &str,
) -> ServiceResult<DeliveryView> {
    access::CHANGE_WATCHLIST.require(caller)?;
    let row = owned(ctx, caller, id).await?;
    let actor = audit::Actor::new(ctx, caller);
    let (list_id, event_id) = (row.id.clone(), event.to_string());
    let found = ctx
        .db
        .run_write(move |c| {
            diesel::Connection::transaction(c, |c| {
                if !store::redeliver(c, &list_id, &event_id, actor.at)? {
                    return Ok(None);
                }
                let detail = json!({"id": list_id, "redeliver": event_id});
                audit::log_change(c, &actor, access::CHANGE_WATCHLIST.action, detail)?;
                store::find(c, &list_id, &event_id)
            })
        })
        .await?;
    found
        .map(|r| view(&r))
        .ok_or_else(|| ServiceError::NotFound(format!("event {event} of watch list {id}")))
}

/// Sends every failed event of the list again (the command line's `watch redeliver --failed`,
/// after a receiver was down past the 24 hours of retries); returns how many.
pub async fn redeliver_failed(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<usize> {
    access::CHANGE_WATCHLIST.require(caller)?;
    let row = owned(ctx, caller, id).await?;
    let actor = audit::Actor::new(ctx, caller);
    let list_id = row.id.clone();
    Ok(ctx
        .db
        .run_write(move |c| {
            diesel::Connection::transaction(c, |c| {
                let n = store::redeliver_failed(c, &list_id, actor.at)?;
                let detail = json!({"id": list_id, "redeliver_failed": n});
                audit::log_change(c, &actor, access::CHANGE_WATCHLIST.action, detail)?;
                Ok(n)
            })
        })
        .await?)
}
