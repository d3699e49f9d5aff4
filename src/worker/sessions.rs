//! Session starts (for the token exchange) and the refresh-token grant on the workers-rs path:
//! the decisions are `crate::issuance`'s; here the WebCrypto and Durable Object calls.

use worker::{Env, Response};

use super::http::{self, Caching};
use super::org_cache::{now_ms, OrgContext};
use super::{shards, webcrypto};
use crate::api_error::ApiError;
use crate::body::Params;
use crate::issuance::{
    plan_refresh, prepare_start, refresh_outcome, token_body, Issued, SessionStart, RANDOM_LEN,
};
use crate::jose::jws;
use crate::refresh_token::{self, ExchangedSession, RefreshPayload};

/// Starts a session: its ids, its first refresh token and an access token, in one draw of
/// randomness. `subject` `None` is a new anonymous identity; `exchanged` what an exchange
/// established.
pub async fn start(
    ctx: &OrgContext,
    issuer: &str,
    subject: Option<&str>,
    scope: &str,
    device_id: Option<&str>,
    exchanged: Option<ExchangedSession>,
) -> Result<(Issued, RefreshPayload), ApiError> {
    let random: [u8; RANDOM_LEN] = webcrypto::random()?;
    let start = SessionStart {
        subject,
        scope,
        device_id,
        exchanged,
    };
    let prepared = prepare_start(&ctx.org, issuer, start, now_ms() / 1000, &random)?;
    let signature =
        webcrypto::sign_ed25519(signing_key(ctx)?, prepared.signing_input.as_bytes()).await?;
    let seal_key = ctx.refresh_keys.first().ok_or(ApiError::Internal)?;
    let sealed =
        webcrypto::aes_gcm_seal(seal_key, &prepared.iv, &prepared.aad, &prepared.plaintext).await?;
    Ok(prepared.finish(&signature, &sealed))
}

/// `POST /orgs/{org}/token` with `grant_type=refresh_token`: same subject and session, new access
/// token, rotated refresh token. The scope may be narrowed, never widened (RFC 6749 §6).
pub async fn refresh(
    env: &Env,
    ctx: &OrgContext,
    params: &Params,
    issuer: &str,
) -> Result<Response, ApiError> {
    let old = open(ctx, params.require("refresh_token")?).await?;
    let random: [u8; RANDOM_LEN] = webcrypto::random()?;
    let plan = plan_refresh(&ctx.org, params, old, now_ms() / 1000, &random)?;
    let seal_key = ctx.refresh_keys.first().ok_or(ApiError::Internal)?;
    let sealed = webcrypto::aes_gcm_seal(seal_key, &plan.iv, &plan.aad, &plan.plaintext).await?;
    let call = plan.call(&ctx.org, &sealed);
    // The one Durable Object call: the family's shard rotates, repeats a recent child, or
    // detects reuse.
    let decision = shards::refresh(env, &ctx.org.record.id, &call).await?;
    let refresh_token = refresh_outcome(call, decision)?;
    let (input, expires_in) = plan.access_signing_input(&ctx.org, issuer)?;
    let signature = webcrypto::sign_ed25519(signing_key(ctx)?, input.as_bytes()).await?;
    let issued = Issued {
        access_token: jws::assemble(&input, &signature),
        expires_in,
        refresh_token,
    };
    Ok(token_response(&issued, &plan.next, &plan.granted))
}

/// Opens a refresh token with the current master key's refresh key, or during a rotation the
/// previous one's.
pub async fn open(ctx: &OrgContext, token: &str) -> Result<RefreshPayload, ApiError> {
    let (iv, ciphertext) = refresh_token::decode(token)?;
    let aad = refresh_token::aad(&ctx.org.record.id);
    for key in &ctx.refresh_keys {
        if let Some(plaintext) = webcrypto::aes_gcm_open(key, &iv, &aad, &ciphertext).await? {
            return RefreshPayload::from_json(&plaintext);
        }
    }
    Err(ApiError::invalid_grant("refresh token is invalid"))
}

fn token_response(issued: &Issued, session: &RefreshPayload, scope: &str) -> Response {
    http::json(
        200,
        token_body(issued, session, scope, None),
        Caching::NoStore,
    )
}

/// The org's imported signing key: present whenever `org.signing` is (checked first, so a
/// missing key is the 503 naming the misconfiguration).
pub fn signing_key(ctx: &OrgContext) -> Result<&web_sys::CryptoKey, ApiError> {
    crate::issuance::signing_header(&ctx.org)?;
    ctx.signing_key.as_ref().ok_or(ApiError::Internal)
}
