//! Request rate per key (DESIGN.md "Security and privacy": limits on body size, batch size and
//! request rate per key). Counted in Redis when it is configured, so the limit holds across
//! instances; in process otherwise, or while Redis is away.

use std::time::Duration;

use super::{Ctx, ServiceError, ServiceResult};
use crate::cache::Cache;
use crate::domain::Caller;

// Failed authentications that one client address may make in a minute (in each instance)
// before it is refused without a lookup (`CREDITGATE_AUTH_FAILURES`, default 30): an unknown
// key costs a hash and a database query, so unauthenticated load would otherwise have no bound.
/// How long a key that authenticated stays known to pass an address's limit.
const KNOWN_GOOD: Duration = Duration::from_secs(600);

fn minute(ctx: &Ctx) -> (i64, u64) {
    let now = ctx.clock.now().timestamp();
    (now.div_euclid(60), (60 - now.rem_euclid(60)).max(1) as u64)
}

/// Before a key is looked up: refused (429) while its address is over its failures, unless the
/// key (by its hash) authenticated recently, so that callers behind the same address with good
/// keys go on working while another sends bad ones.
pub async fn admit_address(ctx: &Ctx, addr: &str, key_hash: &str) -> ServiceResult<()> {
    let (window, retry) = minute(ctx);
    let failures = ctx
        .local_counters
        .count(&format!("authfail:{addr}:{window}"));
    if ctx.failed_auth_per_minute == 0 || failures < ctx.failed_auth_per_minute {
        return Ok(());
    }
    if ctx
        .local_counters
        .get(&format!("goodkey:{key_hash}"))
        .await
        .is_some()
    {
        return Ok(());
    }
    Err(ServiceError::RateLimited(
        format!("too many requests with unknown keys from this address; wait {retry} s"),
        retry,
    ))
}

/// Notes how an authentication from `addr` ended.
pub async fn note_authentication(ctx: &Ctx, addr: &str, key_hash: &str, ok: bool) {
    if ok {
        ctx.local_counters
            .set(&format!("goodkey:{key_hash}"), "1", KNOWN_GOOD)
            .await;
    } else {
        let (window, _) = minute(ctx);
        let key = format!("authfail:{addr}:{window}");
        ctx.local_counters.incr(&key, Duration::from_secs(61)).await;
    }
}

/// Counts one request of the caller's key in the current minute; 429 past the limit.
pub async fn check_rate(ctx: &Ctx, caller: &Caller) -> ServiceResult<()> {
    let limit = ctx.rate_limit_per_minute;
    let why = format!("this key made more than {limit} requests in the current minute");
    count_in_minute(ctx, &format!("rate:{}", caller.key_id), limit, &why).await
}

/// Requests without a key (the public verify page, console sign-ins) that one client address
/// may make in a minute, across instances where Redis is configured.
pub async fn check_address_rate(
    ctx: &Ctx,
    what: &str,
    addr: &str,
    limit: u64,
) -> ServiceResult<()> {
    let why = format!("this address made more than {limit} {what} requests in the current minute");
    count_in_minute(ctx, &format!("addr:{what}:{addr}"), limit, &why).await
}

/// Counts one request under `name` in the current minute; 429 past `limit` (0: no limit).
async fn count_in_minute(ctx: &Ctx, name: &str, limit: u64, why: &str) -> ServiceResult<()> {
    if limit == 0 {
        return Ok(());
    }
    let now = ctx.clock.now().timestamp();
    let window = now.div_euclid(60);
    let key = format!("{}:{name}:{window}", ctx.cache_prefix);
    let ttl = Duration::from_secs(61);
    let count = match ctx.cache.incr(&key, ttl).await {
        Some(n) => n,
        None => ctx.local_counters.incr(&key, ttl).await.unwrap_or(0),
    };
    if count > limit {
        let retry = (60 - now.rem_euclid(60)).max(1) as u64;
        return Err(ServiceError::RateLimited(
            format!("{why}; wait {retry} s"),
            retry,
        ));
    }
    Ok(())
}
