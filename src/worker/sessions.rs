//! Refresh-token opening on the workers-rs path (introspection, RFC 7009 revocation).

use super::org_cache::OrgContext;
use super::webcrypto;
use crate::api_error::ApiError;
use crate::refresh_token::{self, RefreshPayload};

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
