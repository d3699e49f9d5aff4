//! Session starts (for the token exchange) and refresh-token opening (introspection, RFC 7009) on
//! the workers-rs path: the decisions are `crate::issuance`'s; here the WebCrypto calls.

use super::org_cache::{now_ms, OrgContext};
use super::webcrypto;
use crate::api_error::ApiError;
use crate::issuance::{prepare_start, Issued, SessionStart, RANDOM_LEN};
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

/// The org's imported signing key: present whenever `org.signing` is (checked first, so a
/// missing key is the 503 naming the misconfiguration).
pub fn signing_key(ctx: &OrgContext) -> Result<&web_sys::CryptoKey, ApiError> {
    crate::issuance::signing_header(&ctx.org)?;
    ctx.signing_key.as_ref().ok_or(ApiError::Internal)
}
