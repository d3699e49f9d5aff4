//! `POST /orgs/{org}/introspect` (RFC 7662), for an org's servers: authenticated with an org key
//! credential holding `tokens:introspect` (or the operator token). The token's signature and times
//! first, then one Durable Object call for its revocation state. Inactive tokens get
//! `{"active": false}` and nothing else.

use serde_json::{json, Map, Value};
use worker::{Env, Response};

use super::http::{self, Caching};
use super::org_cache::{now_ms, OrgContext};
use super::{sessions, shards, webcrypto};
use crate::admin_scope::AdminScope;
use crate::api_error::ApiError;
use crate::body::Params;
use crate::introspection::{active, inactive, Candidate, Vouched};
use crate::jose::jwk::Jwks;
use crate::org_key::OrgKeyRecord;
use crate::principal::Principal;
use crate::refresh_token::{RefreshPayload, PREFIX};
use crate::revocation::TokenFacts;

pub async fn introspect(
    env: &Env,
    ctx: &OrgContext,
    principal: &Principal,
    params: &Params,
    issuer: &str,
) -> Result<Response, ApiError> {
    principal.authorize(&ctx.org.record.id, AdminScope::TokensIntrospect)?;
    let token = params.require("token")?;
    let now = now_ms() / 1000;
    let answer = if token.starts_with(PREFIX) {
        refresh_token(env, ctx, token, issuer, now).await?
    } else {
        match vouch(token, &ctx.org.own_jwks, &ctx.org.org_keys, issuer, now).await {
            Some(v) => {
                if shards::check(env, &ctx.org.record.id, v.facts, None).await? {
                    active(&v.claims, "Bearer")
                } else {
                    inactive()
                }
            }
            None => inactive(),
        }
    };
    Ok(http::json(200, answer.to_string(), Caching::NoStore))
}

/// A refresh token is active while its session lives, is not revoked, and it is the newest of its
/// family (a rotated-out one is spent).
async fn refresh_token(
    env: &Env,
    ctx: &OrgContext,
    token: &str,
    issuer: &str,
    now: u64,
) -> Result<Value, ApiError> {
    let Ok(session) = sessions::open(ctx, token).await else {
        return Ok(inactive());
    };
    let usable = session.check(&ctx.org.record.id, now).is_ok()
        && session
            .check_idle(now, ctx.org.record.settings.session_idle_ttl_secs)
            .is_ok();
    if !usable {
        return Ok(inactive());
    }
    let facts = TokenFacts {
        sub: session.sub.clone(),
        sid: Some(session.sid.clone()),
        issued_at: session.auth_time,
        ..TokenFacts::default()
    };
    if !shards::check(env, &ctx.org.record.id, facts, Some(session.generation)).await? {
        return Ok(inactive());
    }
    Ok(active(&refresh_claims(&session, issuer), "refresh_token"))
}

fn refresh_claims(session: &RefreshPayload, issuer: &str) -> Map<String, Value> {
    let mut claims = json!({
        "iss": issuer, "sub": session.sub, "sid": session.sid, "scope": session.scope,
        "iat": session.iat, "exp": session.exp, "auth_time": session.auth_time,
    });
    if let Some(ex) = &session.exchanged {
        claims["client_id"] = ex.client_id.clone().into();
        claims["idp"] = ex.idp.clone().into();
    } else {
        claims["client_id"] = crate::session::ANONYMOUS_CLIENT_ID.into();
    }
    claims.as_object().cloned().unwrap_or_default()
}

/// [`crate::introspection::vouch`], with the signature checked through WebCrypto.
pub async fn vouch(
    token: &str,
    own: &Jwks,
    org_keys: &[OrgKeyRecord],
    issuer: &str,
    now: u64,
) -> Option<Vouched> {
    let candidate = Candidate::parse(token, own, org_keys)?;
    let valid = webcrypto::verify_ed25519(
        &candidate.public_key,
        candidate.signature(),
        candidate.signing_input().as_bytes(),
    )
    .await
    .ok()?;
    if !valid {
        return None;
    }
    candidate.vouch_verified(org_keys, issuer, now)
}
