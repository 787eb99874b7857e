//! The profile cache: one trait, a Redis and an in-process implementation.
//!
//! A cache failure is never an error to the caller: the service answers from the database, logs
//! the failure and reports itself degraded on `/readyz`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheHealth {
    Ok,
    Degraded,
}

#[async_trait]
pub trait Cache: Send + Sync {
    /// `memory` or `redis`.
    fn kind(&self) -> &'static str;
    async fn get(&self, key: &str) -> Option<String>;
    /// Several keys in one round trip, in order.
    async fn get_many(&self, keys: &[String]) -> Vec<Option<String>>;
    async fn set(&self, key: &str, value: &str, ttl: Duration);
    async fn delete(&self, keys: &[String]);
    /// Adds one to the counter `key`, which expires `ttl` after it was made; the new count.
    /// `None` when the backend cannot count (the caller counts in process instead).
    async fn incr(&self, key: &str, ttl: Duration) -> Option<u64>;
    /// Checks the backend now.
    async fn health(&self) -> CacheHealth;
}

/// In-process cache with expiry, for the embedded default.
pub struct MemoryCache {
    entries: Mutex<HashMap<String, (Instant, String)>>,
    counters: Mutex<HashMap<String, (Instant, u64)>>,
    max_entries: usize,
}

impl MemoryCache {
    pub fn new(max_entries: usize) -> Self {
        MemoryCache {
            entries: Mutex::new(HashMap::new()),
            counters: Mutex::new(HashMap::new()),
            max_entries,
        }
    }
}

impl MemoryCache {
    /// The current value of a counter made by `incr` (0 when absent or expired).
    pub fn count(&self, key: &str) -> u64 {
        let Ok(map) = self.counters.lock() else {
            return 0;
        };
        match map.get(key) {
            Some((exp, n)) if *exp > Instant::now() => *n,
            _ => 0,
        }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> Option<String> {
        let mut map = self.entries.lock().ok()?;
        match map.get(key) {
            Some((exp, v)) if *exp > Instant::now() => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    async fn get_many(&self, keys: &[String]) -> Vec<Option<String>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.get(k).await);
        }
        out
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= self.max_entries {
                // Crude bound: drop expired entries, and everything if that is not enough.
                let now = Instant::now();
                map.retain(|_, (exp, _)| *exp > now);
                if map.len() >= self.max_entries {
                    map.clear();
                }
            }
            map.insert(key.to_string(), (Instant::now() + ttl, value.to_string()));
        }
    }

    async fn delete(&self, keys: &[String]) {
        if let Ok(mut map) = self.entries.lock() {
            for k in keys {
                map.remove(k);
            }
        }
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Option<u64> {
        let mut map = self.counters.lock().ok()?;
        let now = Instant::now();
        if map.len() > 100_000 {
            map.retain(|_, (exp, _)| *exp > now);
        }
        let e = map.entry(key.to_string()).or_insert((now + ttl, 0));
        if e.0 <= now {
            *e = (now + ttl, 0);
        }
        e.1 += 1;
        Some(e.1)
    }

    async fn health(&self) -> CacheHealth {
        CacheHealth::Ok
    }
}

/// Redis cache. Connects lazily and reconnects on its own (redis `ConnectionManager`); while
/// Redis is unreachable every call falls through and the cache reports itself degraded.
///
/// An invalidation that could not reach Redis is not forgotten: its keys are kept in `pending`
/// and deleted before the cache serves or stores anything again, so that a profile cached before
/// an outage is never served after a change made during it. While `pending` cannot be flushed
/// the cache is bypassed entirely. (Another instance that never lost Redis may still serve such
/// an entry until its TTL ends; the bound is the profile TTL.)
pub struct RedisCache {
    client: redis::Client,
    manager: tokio::sync::Mutex<Option<redis::aio::ConnectionManager>>,
    last_attempt: Mutex<Option<Instant>>,
    degraded: AtomicBool,
    pending: Mutex<HashSet<String>>,
}

/// Beyond this many missed invalidations the cache stays bypassed until they are all flushed;
/// the keys are still kept, so nothing stale is served.
const PENDING_WARN: usize = 100_000;

impl RedisCache {
    pub fn new(url: &str) -> Result<Self, String> {
        let client =
            redis::Client::open(url).map_err(|e| format!("invalid CREDITGATE_REDIS_URL: {e}"))?;
        Ok(RedisCache {
            client,
            manager: tokio::sync::Mutex::new(None),
            last_attempt: Mutex::new(None),
            degraded: AtomicBool::new(false),
            pending: Mutex::new(HashSet::new()),
        })
    }

    fn remember(&self, keys: &[String]) {
        if let Ok(mut p) = self.pending.lock() {
            p.extend(keys.iter().cloned());
            if p.len() == PENDING_WARN {
                tracing::warn!(
                    pending = p.len(),
                    "many cache invalidations wait for redis; the cache is bypassed meanwhile"
                );
            }
        }
    }

    /// Deletes the invalidations missed while Redis was away. True when none remain, so the
    /// cache may be used.
    async fn flush_pending(&self, c: &mut redis::aio::ConnectionManager) -> bool {
        let keys: Vec<String> = match self.pending.lock() {
            Ok(p) if p.is_empty() => return true,
            Ok(p) => p.iter().cloned().collect(),
            Err(_) => return false,
        };
        for chunk in keys.chunks(1000) {
            if let Err(e) = redis::cmd("DEL").arg(chunk).query_async::<()>(c).await {
                self.failed("delete", &e);
                return false;
            }
            if let Ok(mut p) = self.pending.lock() {
                for k in chunk {
                    p.remove(k);
                }
            }
        }
        tracing::info!(keys = keys.len(), "missed cache invalidations applied");
        true
    }

    async fn conn(&self) -> Option<redis::aio::ConnectionManager> {
        let mut guard = self.manager.lock().await;
        if let Some(m) = guard.as_ref() {
            return Some(m.clone());
        }
        // At most one connection attempt per second while Redis is away.
        {
            let mut last = self.last_attempt.lock().ok()?;
            if let Some(t) = *last {
                if t.elapsed() < Duration::from_secs(1) {
                    return None;
                }
            }
            *last = Some(Instant::now());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        match redis::aio::ConnectionManager::new_with_config(self.client.clone(), config).await {
            Ok(m) => {
                *guard = Some(m.clone());
                Some(m)
            }
            Err(e) => {
                self.failed("connect", &e);
                None
            }
        }
    }

    fn failed(&self, op: &str, e: &redis::RedisError) {
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(op, error = %e, "redis unavailable: serving from the database");
        }
    }

    fn succeeded(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("redis available again");
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> Option<String> {
        let mut c = self.conn().await?;
        if !self.flush_pending(&mut c).await {
            return None;
        }
        match redis::cmd("GET")
            .arg(key)
            .query_async::<Option<String>>(&mut c)
            .await
        {
            Ok(v) => {
                self.succeeded();
                v
            }
            Err(e) => {
                self.failed("get", &e);
                None
            }
        }
    }

    async fn get_many(&self, keys: &[String]) -> Vec<Option<String>> {
        let none = || vec![None; keys.len()];
        let Some(mut c) = self.conn().await else {
            return none();
        };
        if !self.flush_pending(&mut c).await {
            return none();
        }
        match redis::cmd("MGET")
            .arg(keys)
            .query_async::<Vec<Option<String>>>(&mut c)
            .await
        {
            Ok(v) if v.len() == keys.len() => {
                self.succeeded();
                v
            }
            Ok(_) => none(),
            Err(e) => {
                self.failed("get", &e);
                none()
            }
        }
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) {
        let Some(mut c) = self.conn().await else {
            return;
        };
        if !self.flush_pending(&mut c).await {
            return;
        }
        let r = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async::<()>(&mut c)
            .await;
        match r {
            Ok(()) => self.succeeded(),
            Err(e) => self.failed("set", &e),
        }
    }

    async fn delete(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let Some(mut c) = self.conn().await else {
            self.remember(keys);
            return;
        };
        match redis::cmd("DEL").arg(keys).query_async::<()>(&mut c).await {
            Ok(()) => self.succeeded(),
            Err(e) => {
                self.remember(keys);
                self.failed("delete", &e);
            }
        }
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Option<u64> {
        let mut c = self.conn().await?;
        // INCR and, on the first count, the expiry: one round trip.
        let r = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(key)
            .cmd("PEXPIRE")
            .arg(key)
            .arg(ttl.as_millis() as u64)
            .arg("NX")
            .query_async::<(u64, i64)>(&mut c)
            .await;
        match r {
            Ok((n, _)) => {
                self.succeeded();
                Some(n)
            }
            Err(e) => {
                self.failed("incr", &e);
                None
            }
        }
    }

    async fn health(&self) -> CacheHealth {
        let Some(mut c) = self.conn().await else {
            return CacheHealth::Degraded;
        };
        match redis::cmd("PING").query_async::<String>(&mut c).await {
            Ok(_) if !self.flush_pending(&mut c).await => CacheHealth::Degraded,
            Ok(_) => {
                self.succeeded();
                CacheHealth::Ok
            }
            Err(e) => {
                self.failed("ping", &e);
                CacheHealth::Degraded
            }
        }
    }
}
