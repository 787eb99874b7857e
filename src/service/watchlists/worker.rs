//! The delivery worker: one across instances (a PostgreSQL session advisory lock, held while
//! the instance runs it), sending the outbox's due events to their lists' targets, signed after
//! the Standard Webhooks convention, and moving the daily sweep on a page at a time between
//! rounds.
//!
//! Delivery is at least once, under the event's stable id: an event is marked delivered only
//! after a 2xx answer, so a crash between the answer and the mark sends it again with the same
//! `webhook-id`. A failed attempt is retried after 1 s, then twice as long each time up to an
//! hour, each wait drawn within ±25% (jitter, so that many receivers coming back are not hit at
//! once), for 24 hours from when the event was queued; then it is `failed`, visible in the
//! list's deliveries, and can be sent again by the redeliver call. While a list's receiver
//! fails, the list's later events wait behind the failed one (one attempt per backoff, not one
//! per event), and go out in order once it answers.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::Connection;
use rand::Rng;

use super::events::{self, Watch};
use crate::domain::webhook;
use crate::hooks::Sender;
use crate::service::worker_lock::WorkerLock;
use crate::service::Ctx;
use crate::store::watchlists::{self as lists, WatchlistRow};
use crate::store::webhook_events::{self as store, Attempt, EventRow, DELIVERED, FAILED, PENDING};
use crate::store::{self as db, StoreError};

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Between rounds (how soon a new event goes out).
    pub every: Duration,
    /// How long an event is retried, from when it was queued.
    pub window: TimeDelta,
    pub first_retry: TimeDelta,
    pub max_retry: TimeDelta,
    /// Lists sent to at once.
    pub concurrency: usize,
    /// Due events read per round.
    pub batch: i64,
    /// Subjects compared per sweep step.
    pub sweep_page: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            every: Duration::from_millis(200),
            window: TimeDelta::hours(24),
            first_retry: TimeDelta::seconds(1),
            max_retry: TimeDelta::hours(1),
            concurrency: 8,
            batch: 500,
            sweep_page: 200,
        }
    }
}

/// The wait before attempt `n + 1` after `n` failed ones: `first · 2^(n−1)`, at most `max`,
/// times a factor drawn from [0.75, 1.25].
pub fn backoff(s: &Settings, failed: i32, jitter: f64) -> TimeDelta {
    let doublings = (failed.max(1) - 1).min(30) as u32;
    let base = s
        .first_retry
        .checked_mul(1i32 << doublings.min(30))
        .unwrap_or(s.max_retry)
        .min(s.max_retry);
    let ms = (base.num_milliseconds() as f64 * jitter.clamp(0.75, 1.25)) as i64;
    TimeDelta::milliseconds(ms.max(1))
}

/// Runs the worker beside the server until `stop` turns true.
pub fn spawn(
    ctx: Ctx,
    sender: Sender,
    settings: Settings,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lock: Option<WorkerLock> = None;
        let sending = Sending::new(&settings);
        let mut rounds: u64 = 0;
        loop {
            if lock.is_none() {
                match WorkerLock::try_acquire(&ctx, db::DELIVERY_LOCK).await {
                    Ok(l) => lock = l,
                    Err(e) => tracing::warn!(error = %e, "delivery lock unavailable"),
                }
            }
            let holding = match lock.as_mut() {
                Some(l) => l.alive().await,
                None => false,
            };
            if holding {
                rounds += 1;
                if rounds.is_multiple_of(3000) {
                    // Delivered and failed events are kept 30 days, then deleted.
                    let before = ctx.clock.stamp() - chrono::TimeDelta::days(30);
                    if let Err(e) = ctx.db.run_write(move |c| store::purge(c, before)).await {
                        tracing::warn!(error = %e, "webhook events purge failed");
                    }
                }
                if let Err(e) = round(&ctx, &sender, &settings, &sending).await {
                    tracing::warn!(error = %e, "webhook delivery round failed; the next one tries again");
                }
                if let Err(e) = sweep_step(&ctx, &settings).await {
                    tracing::warn!(error = %e, "watch-list sweep failed; the next round tries again");
                }
            } else {
                lock = None;
            }
            // Another instance delivering: try for the lock now and then.
            let wait = if holding {
                settings.every
            } else {
                settings.every * 5
            };
            if crate::service::sync::pause(wait, &mut stop).await {
                break;
            }
        }
        tracing::info!("webhook delivery worker stopped");
    })
}

/// The lists being sent to now, and how many may be at once: a list's sending runs on its own,
/// so that a receiver that is slow to answer holds up only its own list.
#[derive(Clone)]
pub struct Sending {
    busy: Arc<Mutex<HashSet<String>>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Sending {
    pub fn new(s: &Settings) -> Sending {
        Sending {
            busy: Default::default(),
            permits: Arc::new(tokio::sync::Semaphore::new(s.concurrency.max(1))),
        }
    }

    fn busy(&self) -> Vec<String> {
        self.busy
            .lock()
            .map(|b| b.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Marks the list busy; false when it already was.
    fn start(&self, list: &str) -> bool {
        self.busy
            .lock()
            .map(|mut b| b.insert(list.to_string()))
            .unwrap_or(false)
    }

    fn end(&self, list: &str) {
        if let Ok(mut b) = self.busy.lock() {
            b.remove(list);
        }
    }
}

/// Starts sending the events due now, a task per list not already being sent to; returns how
/// many lists were started.
pub async fn round(
    ctx: &Ctx,
    sender: &Sender,
    s: &Settings,
    sending: &Sending,
) -> Result<usize, StoreError> {
    let now = ctx.clock.stamp();
    let (batch, busy) = (s.batch, sending.busy());
    let due = ctx
        .db
        .run(move |c| store::due(c, now, &busy, batch))
        .await?;
    let mut by_list: BTreeMap<String, Vec<EventRow>> = BTreeMap::new();
    for e in due {
        by_list.entry(e.watchlist_id.clone()).or_default().push(e);
    }
    let mut started = 0;
    for (list_id, events) in by_list {
        if !sending.start(&list_id) {
            continue;
        }
        started += 1;
        let (ctx, sender, s, sending) = (ctx.clone(), sender.clone(), s.clone(), sending.clone());
        tokio::spawn(async move {
            let _permit = sending.permits.clone().acquire_owned().await;
            if let Err(e) = deliver_list(&ctx, &sender, &s, &list_id, events).await {
                tracing::warn!(error = %e, list = %list_id, "webhook delivery to a list failed");
            }
            sending.end(&list_id);
        });
    }
    Ok(started)
}

/// Sends a list's due events in order, stopping at the first that fails (the rest wait behind).
async fn deliver_list(
    ctx: &Ctx,
    sender: &Sender,
    s: &Settings,
    list_id: &str,
    events: Vec<EventRow>,
) -> Result<usize, StoreError> {
    let id = list_id.to_string();
    let list = ctx.db.run(move |c| lists::find(c, &id)).await?;
    let Some(list) = list else {
        let (id, at) = (list_id.to_string(), ctx.clock.stamp());
        ctx.db
            .run_write(move |c| store::fail_pending(c, &id, "the watch list was deleted", at))
            .await?;
        return Ok(0);
    };
    let secret = ctx
        .keys
        .decrypt(&list.secret)
        .ok()
        .and_then(|t| webhook::secret_bytes(&t).ok());
    let mut sent = 0;
    for e in events {
        let outcome = match (&secret, ctx.webhook_allow.admits(&list.webhook_url)) {
            (_, Err(why)) => Err(format!("not sent: {why}")),
            (None, _) => {
                Err("not sent: the list's secret cannot be read with this data key".into())
            }
            (Some(secret), Ok(())) => send(sender, &list, secret, &e).await,
        };
        sent += 1;
        let at = ctx.clock.stamp();
        let jitter = rand::thread_rng().gen_range(0.75..=1.25);
        let (state, next, result) = decide(s, &e, at, outcome, jitter);
        let retry = state == PENDING;
        let (eid, lid, text) = (e.id.clone(), list.id.clone(), result.clone());
        ctx.db
            .run_write(move |c| {
                c.transaction(|c| {
                    let a = Attempt {
                        state,
                        at,
                        next,
                        result: &text,
                    };
                    store::record_attempt(c, &eid, &a)?;
                    if retry {
                        store::hold_back(c, &lid, next)?;
                    }
                    Ok(())
                })
            })
            .await?;
        if state != DELIVERED {
            tracing::info!(event = %e.id, list = %list.id, attempts = e.attempts + 1, %result, state, "webhook not delivered");
        }
        if retry {
            break;
        }
    }
    Ok(sent)
}

/// The event's new state, next attempt and result after an attempt at `at` that met `outcome`.
fn decide(
    s: &Settings,
    e: &EventRow,
    at: NaiveDateTime,
    outcome: Result<u16, String>,
    jitter: f64,
) -> (&'static str, NaiveDateTime, String) {
    let text = match &outcome {
        Ok(code) => format!("HTTP {code}"),
        Err(why) => why.clone(),
    };
    if matches!(outcome, Ok(code) if (200..300).contains(&code)) {
        return (DELIVERED, at, text);
    }
    let deadline = e.created_at + s.window;
    if at >= deadline || text.starts_with("not sent") {
        return (FAILED, at, text);
    }
    let next = (at + backoff(s, e.attempts + 1, jitter)).min(deadline);
    (PENDING, next, text)
}

async fn send(
    sender: &Sender,
    list: &WatchlistRow,
    secret: &[u8],
    e: &EventRow,
) -> Result<u16, String> {
    // The receiver compares the timestamp with its own clock: the real time of the attempt.
    let ts = chrono::Utc::now().timestamp();
    let signature = webhook::sign(secret, &e.id, ts, e.payload.as_bytes());
    let headers = [
        ("webhook-id", e.id.clone()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", signature),
    ];
    sender
        .post(&list.webhook_url, &headers, e.payload.clone())
        .await
}

/// Compares one page of the subjects of a list behind on its sweep (see `events::sweep_page`):
/// from the day it was last swept to the day fixed when its sweep started.
pub async fn sweep_step(ctx: &Ctx, s: &Settings) -> Result<(), StoreError> {
    let mut w = Watch::of(ctx);
    let now = ctx.clock.stamp();
    let page = s.sweep_page;
    ctx.db
        .run_write(move |conn| {
            conn.transaction(|conn| {
                let Some((list, swept_on, to, after)) = store::behind_sweep(conn, w.today)? else {
                    return Ok(());
                };
                let Some(from) = swept_on else {
                    // A list from before sweeps were kept starts from today.
                    return store::set_sweep(conn, &list.id, Some(w.today), None, None);
                };
                // A sweep under way keeps the day it started with.
                let to = match (to, &after) {
                    (Some(to), Some(_)) => to,
                    _ => w.today,
                };
                w.today = to;
                match events::sweep_page(conn, &w, &list, from, after.as_deref(), page, now)? {
                    Some(last) => {
                        store::set_sweep(conn, &list.id, Some(from), Some(to), Some(&last))
                    }
                    None => store::set_sweep(conn, &list.id, Some(to), None, None),
                }
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour_within_the_jitter() {
        let s = Settings::default();
        let secs = |n, j| backoff(&s, n, j).num_milliseconds() as f64 / 1000.0;
        assert_eq!(secs(1, 1.0), 1.0);
        assert_eq!(secs(2, 1.0), 2.0);
        assert_eq!(secs(5, 1.0), 16.0);
        assert_eq!(secs(13, 1.0), 3600.0);
        assert_eq!(secs(40, 1.0), 3600.0);
        assert_eq!(secs(3, 0.75), 3.0);
        assert_eq!(secs(3, 1.25), 5.0);
        // A factor outside the band is held to it.
        assert_eq!(secs(3, 9.0), 5.0);
    }

    fn event(created: NaiveDateTime, attempts: i32) -> EventRow {
        EventRow {
            id: "evt_1".into(),
            watchlist_id: "wl_1".into(),
            event_type: "record.created".into(),
            dedupe_key: None,
            payload: "{}".into(),
            state: PENDING.into(),
            attempts,
            created_at: created,
            next_attempt_at: created,
            last_attempt_at: None,
            last_result: None,
            delivered_at: None,
        }
    }

    #[test]
    fn attempts_end_delivered_retried_or_failed() {
        let s = Settings::default();
        let t0 = chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap();
        let e = event(t0, 0);
        assert_eq!(decide(&s, &e, t0, Ok(204), 1.0).0, DELIVERED);
        let (state, next, text) = decide(&s, &e, t0, Ok(503), 1.0);
        assert_eq!(
            (state, next, text.as_str()),
            (PENDING, t0 + TimeDelta::seconds(1), "HTTP 503")
        );
        // A redirect is not followed, and is no delivery.
        assert_eq!(decide(&s, &e, t0, Ok(307), 1.0).0, PENDING);
        let (_, next, text) = decide(&s, &e, t0, Err("connection failed".into()), 1.0);
        assert_eq!(
            (next, text.as_str()),
            (t0 + TimeDelta::seconds(1), "connection failed")
        );
        // The last retry falls on the deadline, and an attempt at or past it fails the event.
        let late = event(t0, 20);
        let at = t0 + TimeDelta::hours(23) + TimeDelta::minutes(50);
        assert_eq!(
            decide(&s, &late, at, Ok(500), 1.0).1,
            t0 + TimeDelta::hours(24)
        );
        assert_eq!(
            decide(&s, &late, t0 + TimeDelta::hours(24), Ok(500), 1.0).0,
            FAILED
        );
        // A target the allow list no longer admits is not retried.
        assert_eq!(
            decide(&s, &e, t0, Err("not sent: host x".into()), 1.0).0,
            FAILED
        );
    }
}
