//! Request rate per key (DESIGN.md "Security and privacy": limits on body size, batch size and
//! request rate per key). Counted in Redis when it is configured, so the limit holds across
//! instances; in process otherwise, or while Redis is away.

use std::time::Duration;

use super::{Ctx, ServiceError, ServiceResult};
use crate::cache::Cache;
use crate::domain::Caller;

/// Counts one request of the caller's key in the current minute; 429 past the limit.
pub async fn check_rate(ctx: &Ctx, caller: &Caller) -> ServiceResult<()> {
    let limit = ctx.rate_limit_per_minute;
    if limit == 0 {
        return Ok(());
    }
    let now = ctx.clock.now().timestamp();
    let window = now.div_euclid(60);
    let key = format!("{}:rate:{}:{window}", ctx.cache_prefix, caller.key_id);
    let ttl = Duration::from_secs(61);
    let count = match ctx.cache.incr(&key, ttl).await {
        Some(n) => n,
        None => ctx.local_counters.incr(&key, ttl).await.unwrap_or(0),
    };
    if count > limit {
        let retry = (60 - now.rem_euclid(60)).max(1) as u64;
        return Err(ServiceError::RateLimited(
            format!("this key made more than {limit} requests in the current minute; wait {retry} s (the limit is CREDITGATE_RATE_LIMIT)"),
            retry,
        ));
    }
    Ok(())
}
