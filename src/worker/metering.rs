//! Rate limits and quotas on the issuing endpoints (new anonymous sessions, the token endpoint):
//! the per-IP limit through the Rate Limiting binding, and the org's monthly quota counted in the
//! isolate (`limits::QuotaCounter`) and flushed to its `OrgUsage` object in batches with
//! `waitUntil`. Metered responses carry `X-RateLimit-Limit`, `-Remaining` and `-Reset`.

use std::cell::RefCell;

use worker::{Context, Env};

use super::clock::now_ms;
use super::config::USAGE_BINDING;
use super::http;
use crate::api_error::ApiError;
use crate::bounded_map::BoundedMap;
use crate::limits::{quota_month, Admission, QuotaCounter};
use crate::org::OrgId;

thread_local! {
    /// Clearing a full map loses the counts not flushed yet: at most a few tokens per org.
    static COUNTERS: RefCell<BoundedMap<OrgId, QuotaCounter>> =
        RefCell::new(BoundedMap::new(4096));
}

/// [`admit_counted`], reading the month's total first when this isolate has not (the first
/// metered request of an org in an isolate).
pub async fn admit_loading(
    env: &Env,
    org: &OrgId,
    limit: u64,
) -> Result<Option<Admission>, ApiError> {
    if let Some(admitted) = admit_counted(org, limit) {
        return admitted;
    }
    let (month, _) = quota_month(now_ms() / 1000);
    let total = add_usage(env, org, &month, 0).await?;
    COUNTERS.with(|c| {
        c.borrow_mut()
            .get_or_insert_with(org.clone(), QuotaCounter::default)
            .load(&month, total, now_ms());
    });
    admit_counted(org, limit).unwrap_or(Err(ApiError::Internal))
}

/// Admits against the isolate's counter without awaiting anything; `None` when this isolate has
/// not read the org's total for the current month yet.
pub fn admit_counted(org: &OrgId, limit: u64) -> Option<Result<Option<Admission>, ApiError>> {
    let now = now_ms() / 1000;
    let (month, reset) = quota_month(now);
    COUNTERS.with(|c| {
        let mut c = c.borrow_mut();
        let counter = c.get_mut(org).filter(|q| q.month == month)?;
        let admission = counter.admit(&month, reset, limit, now_ms());
        Some(if admission.allowed {
            Ok(Some(admission))
        } else {
            Err(ApiError::RateLimited {
                retry_after: reset.saturating_sub(now).max(1),
                message: format!("the org's monthly quota of {limit} tokens is used up"),
            })
        })
    })
}

/// Takes back an admission whose request failed: only issued tokens count.
pub fn refund(org: &OrgId) {
    COUNTERS.with(|c| {
        if let Some(q) = c.borrow_mut().get_mut(org) {
            q.pending = q.pending.saturating_sub(1);
        }
    });
}

/// Sends this isolate's pending count to the usage object in the background, when due.
pub fn flush_if_due(env: &Env, worker_ctx: &Context, org: &OrgId) {
    let due = COUNTERS.with(|c| {
        c.borrow_mut()
            .get_mut(org)
            .and_then(|q| q.take_flush(now_ms()).map(|n| (q.month.clone(), n)))
    });
    let Some((month, n)) = due else {
        return;
    };
    let env = env.clone();
    let org = org.clone();
    worker_ctx.wait_until(async move {
        let total = add_usage(&env, &org, &month, n).await.ok();
        COUNTERS.with(|c| {
            if let Some(q) = c.borrow_mut().get_mut(&org) {
                q.confirm(&month, total, n);
            }
        });
    });
}

async fn add_usage(env: &Env, org: &OrgId, month: &str, n: u64) -> Result<u64, ApiError> {
    let namespace = env.durable_object(USAGE_BINDING).map_err(|_| {
        ApiError::Misconfigured(format!("Durable Object binding {USAGE_BINDING} is missing"))
    })?;
    let stub = namespace
        .id_from_name(org.as_str())
        .and_then(|id| id.get_stub())
        .map_err(|_| ApiError::Internal)?;
    let body = serde_json::to_string(&super::org_usage::AddUsage {
        month: month.to_owned(),
        n,
    })
    .map_err(|_| ApiError::Internal)?;
    let req = http::internal_request("https://usage/add", Some(&body))?;
    let res = stub
        .fetch_with_request(req)
        .await
        .map_err(|_| ApiError::Unavailable("usage store unreachable".into()))?;
    let total: super::org_usage::UsageTotal = http::response_json(res).await?;
    Ok(total.total)
}
