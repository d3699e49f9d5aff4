//! Identity providers through the admin API: list, read, create or replace (`PUT`), delete.
//! An HS256 shared secret is write-only: sealed under the master key, never shown again.

use serde_json::json;
use worker::{Request, Response};

use super::admin_call::{json_body, ok_json, AdminCall};
use super::clock::now_ms;
use super::http;
use super::org_cache;
use super::{config, kv, sealing};
use crate::api_error::ApiError;
use crate::deploy_config::Environment;
use crate::provider::{secret_aad, ProviderInput, ProviderRecord};
use crate::signing_key::SealedSeed;

/// `GET …/providers`.
pub async fn list(call: &AdminCall<'_>) -> Result<Response, ApiError> {
    call.require_org().await?;
    let providers = kv::list_providers(&call.store, call.org).await?;
    let views: Vec<_> = providers.iter().map(ProviderRecord::view).collect();
    Ok(ok_json(200, &json!({ "providers": views })))
}

/// `GET …/providers/{id}`.
pub async fn get(call: &AdminCall<'_>, id: &str) -> Result<Response, ApiError> {
    call.require_org().await?;
    let record = kv::get_provider(&call.store, call.org, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ok_json(200, &record.view()))
}

/// `PUT …/providers/{id}`: creates (201) or replaces (200). Replacing an HS256 provider without
/// `hs256_secret` keeps the stored secret.
pub async fn put(req: &mut Request, call: &AdminCall<'_>, id: &str) -> Result<Response, ApiError> {
    let development = config::validate(call.env).await? == Environment::Dev;
    let valid = json_body::<ProviderInput>(req, "provider")
        .await?
        .validate(id, development)?;
    call.require_org().await?;
    let existing = kv::get_provider(&call.store, call.org, id).await?;
    let hs256 = valid.settings.algorithms.iter().any(|a| a == "HS256");
    let sealed = match (&valid.hs256_secret, &existing) {
        (Some(secret), _) => Some(seal(call, id, secret).await?),
        (None, Some(old)) if hs256 => old.sealed_hs256_secret.clone(),
        _ => None,
    };
    if hs256 && sealed.is_none() {
        return Err(ApiError::invalid_request(
            "hs256_secret: required for an HS256 provider",
        ));
    }
    let now = now_ms() / 1000;
    let record = ProviderRecord {
        id: id.to_owned(),
        settings: valid.settings,
        sealed_hs256_secret: sealed,
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
    };
    kv::put_provider(&call.store, call.org, &record).await?;
    org_cache::invalidate(call.org);
    let (status, action) = match existing {
        Some(_) => (200, "provider.update"),
        None => (201, "provider.create"),
    };
    call.audit(action, id, json!({ "issuer": record.settings.issuer }))
        .await?;
    Ok(ok_json(status, &record.view()))
}

/// `DELETE …/providers/{id}`: 204; 404 if there is none.
pub async fn delete(call: &AdminCall<'_>, id: &str) -> Result<Response, ApiError> {
    call.require_org().await?;
    kv::get_provider(&call.store, call.org, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    kv::delete_provider(&call.store, call.org, id).await?;
    org_cache::invalidate(call.org);
    call.audit("provider.delete", id, serde_json::Value::Null)
        .await?;
    Ok(http::no_content())
}

async fn seal(call: &AdminCall<'_>, id: &str, secret: &[u8]) -> Result<SealedSeed, ApiError> {
    let ring = config::keyring(call.env).await?;
    sealing::seal(&ring, secret, &secret_aad(call.org, id)).await
}
