//! Calls to an org's `SessionShard` Durable Objects (binding `SESSIONS`). One shard per hash of
//! the subject; see `family`.

use serde::de::DeserializeOwned;
use worker::{Env, Stub};

use super::config::SESSIONS_BINDING;
use crate::api_error::ApiError;
use crate::family::{
    shard_name, shard_of, CheckCall, CheckResult, PurgeCall, RevokeCall, ShardStats, SHARDS,
};
use crate::org::OrgId;
use crate::revocation::{Kind, Revocation, TokenFacts};

fn stub(env: &Env, org: &OrgId, shard: u8) -> Result<Stub, ApiError> {
    let namespace = env.durable_object(SESSIONS_BINDING).map_err(|_| {
        ApiError::Misconfigured(format!(
            "Durable Object binding {SESSIONS_BINDING} is missing"
        ))
    })?;
    namespace
        .id_from_name(&shard_name(org, shard))
        .and_then(|id| id.get_stub())
        .map_err(|_| ApiError::Internal)
}

async fn call<T: DeserializeOwned>(
    stub: &Stub,
    op: &str,
    body: Option<String>,
) -> Result<T, ApiError> {
    let req = super::http::internal_request(&format!("https://shard/{op}"), body.as_deref())?;
    let res = stub
        .fetch_with_request(req)
        .await
        .map_err(|_| ApiError::Unavailable("session store unreachable".into()))?;
    if res.status_code() != 200 {
        return Err(ApiError::Internal);
    }
    super::http::response_json(res).await
}

/// Records a revocation where it will be checked: a key's in every shard of the org (bounded:
/// [`SHARDS`] calls), any other in the shard of `sub`.
pub async fn revoke(
    env: &Env,
    org: &OrgId,
    sub: Option<&str>,
    revocation: Revocation,
) -> Result<(), ApiError> {
    let body = serde_json::to_string(&RevokeCall {
        revocation: revocation.clone(),
    })
    .map_err(|_| ApiError::Internal)?;
    let shards: Vec<u8> = match (revocation.kind, sub) {
        (Kind::Kid, _) => (0..SHARDS).collect(),
        (_, Some(sub)) => vec![shard_of(org, sub)],
        (_, None) => return Err(ApiError::Internal),
    };
    for shard in shards {
        call::<serde_json::Value>(&stub(env, org, shard)?, "revoke", Some(body.clone())).await?;
    }
    Ok(())
}

/// As [`check`], for a single-use token: when good, it is spent (a second use is refused).
pub async fn check_and_spend(
    env: &Env,
    org: &OrgId,
    facts: TokenFacts,
    until: u64,
) -> Result<bool, ApiError> {
    let call = CheckCall {
        facts,
        generation: None,
        spend_until: Some(until),
    };
    check_call(env, org, call).await
}

async fn check_call(env: &Env, org: &OrgId, check: CheckCall) -> Result<bool, ApiError> {
    let stub = stub(env, org, shard_of(org, &check.facts.sub))?;
    let body = serde_json::to_string(&check).map_err(|_| ApiError::Internal)?;
    let result: CheckResult = call(&stub, "check", Some(body)).await?;
    Ok(result.active)
}

/// Runs every shard's purge now (or as of a simulated time); their statistics after it.
pub async fn purge(
    env: &Env,
    org: &OrgId,
    as_of: Option<u64>,
) -> Result<Vec<ShardStats>, ApiError> {
    let body = serde_json::to_string(&PurgeCall { as_of }).map_err(|_| ApiError::Internal)?;
    let mut out = Vec::with_capacity(SHARDS as usize);
    for shard in 0..SHARDS {
        out.push(call(&stub(env, org, shard)?, "purge", Some(body.clone())).await?);
    }
    Ok(out)
}

/// Every shard's statistics, in shard order.
pub async fn stats(env: &Env, org: &OrgId) -> Result<Vec<ShardStats>, ApiError> {
    let mut out = Vec::with_capacity(SHARDS as usize);
    for shard in 0..SHARDS {
        out.push(call(&stub(env, org, shard)?, "stats", None).await?);
    }
    Ok(out)
}
