//! Authenticates admin API calls: `Authorization: Bearer` with either the operator token or a
//! short-lived JWT signed with an org key (see `admin_credential`). Records when keys are used.

use std::cell::RefCell;

use worker::{Context, Env, Request};

use super::clock::now_ms;
use super::{config, http, kv, shards, webcrypto};
use crate::admin_credential::{admin_audience, PresentedCredential, LEEWAY_SECS};
use crate::api_error::ApiError;
use crate::bounded_map::BoundedMap;
use crate::principal::Principal;
use crate::revocation::TokenFacts;
use crate::secret::{bearer_token, secrets_equal};

/// A key's last-use stamp is written at most this often per isolate.
const LAST_USED_EVERY_MS: u64 = 60_000;

thread_local! {
    static STAMPED: RefCell<BoundedMap<String, u64>> = RefCell::new(BoundedMap::new(4096));
}

/// The caller, or 401. `origins` are the worker's own origins (configured and requested): a
/// credential's `aud` must be the admin API under one of them.
pub async fn authenticate(
    req: &Request,
    env: &Env,
    ctx: &Context,
    origins: &[String],
) -> Result<Principal, ApiError> {
    match presented(env, http::header(req, "Authorization").as_deref())? {
        Presented::Operator => Ok(Principal::Operator),
        Presented::OrgKey(token) => org_key(env, ctx, &token, origins).await,
    }
}

/// What an `Authorization` header presents.
pub enum Presented {
    /// The operator token, compared in constant time.
    Operator,
    /// An org key credential (a JWT), to be verified by [`org_key`].
    OrgKey(String),
}

/// Reads the `Authorization` header without awaiting anything: the operator, an org key
/// credential to verify, or 401 (503 when the operator token is not configured and no org key
/// credential is presented).
pub fn presented(env: &Env, authorization: Option<&str>) -> Result<Presented, ApiError> {
    let operator = config::operator_token(env);
    let Some(token) = authorization.and_then(bearer_token) else {
        operator?;
        return Err(ApiError::InvalidToken(
            "missing credential: use Authorization: Bearer <org key credential or operator token>"
                .into(),
        ));
    };
    if let Ok(expected) = &operator {
        if secrets_equal(token, expected) {
            return Ok(Presented::Operator);
        }
    }
    if token.contains('.') {
        return Ok(Presented::OrgKey(token.to_owned()));
    }
    operator?;
    Err(ApiError::InvalidToken("invalid operator credential".into()))
}

/// An org key credential verified: its key (KV), signature, claims, and the key's shard (not
/// revoked; the credential spent, so a replay is refused).
pub async fn org_key(
    env: &Env,
    ctx: &Context,
    token: &str,
    origins: &[String],
) -> Result<Principal, ApiError> {
    let credential = PresentedCredential::parse(token)?;
    let store = config::orgs_kv(env)?;
    let key = kv::get_org_key(&store, credential.key_id())
        .await?
        .ok_or_else(|| ApiError::InvalidToken("invalid credential: unknown key".into()))?;
    let audiences: Vec<String> = origins.iter().map(|o| admin_audience(o)).collect();
    let now_ms = now_ms();
    // The signature through WebCrypto (Ed25519 in wasm costs several times more), then the rest.
    let signed = webcrypto::verify_ed25519(
        &credential.public_key(&key)?,
        credential.signature(),
        credential.signing_input().as_bytes(),
    )
    .await?;
    if !signed {
        return Err(ApiError::InvalidToken(format!(
            "invalid credential: {}",
            crate::jose::JoseError::InvalidSignature
        )));
    }
    let claims = credential.verified_claims(&key, &audiences, now_ms / 1000)?;
    // KV may lag a revocation made elsewhere; the key's shard knows at once. The same call
    // spends the credential: a replayed one (same jti) is refused.
    let facts = TokenFacts {
        sub: key.id.clone(),
        kid: Some(key.id.clone()),
        jti: Some(claims.jti),
        issued_at: claims.iat,
        ..TokenFacts::default()
    };
    let until = claims.exp.saturating_add(LEEWAY_SECS);
    if !shards::check_and_spend(env, &key.org, facts, until).await? {
        return Err(ApiError::InvalidToken(
            "invalid credential: the key has been revoked, or this credential was already used"
                .into(),
        ));
    }
    stamp_last_used(ctx, store, &key.id, now_ms);
    Ok(Principal::OrgKey {
        org: key.org,
        key_id: key.id,
        scopes: key.scopes,
    })
}

/// Records the use in the background, throttled; a failed write only loses a timestamp.
fn stamp_last_used(ctx: &Context, store: worker::kv::KvStore, id: &str, now_ms: u64) {
    let due = STAMPED.with(|s| {
        let mut s = s.borrow_mut();
        let last = s.get(id).copied().unwrap_or(0);
        let due = now_ms.saturating_sub(last) >= LAST_USED_EVERY_MS;
        if due {
            s.insert(id.to_owned(), now_ms);
        }
        due
    });
    if due {
        let id = id.to_owned();
        ctx.wait_until(async move {
            let _ = kv::put_key_last_used(&store, &id, now_ms / 1000).await;
        });
    }
}
