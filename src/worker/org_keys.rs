//! Org keys through the admin API: create (the secret is in that response only), list, get,
//! revoke. A caller can only create or revoke keys whose scopes it holds itself.

use serde_json::json;
use worker::{Request, Response};

use super::admin_call::{json_body, ok_json, AdminCall};
use super::clock::now_ms;
use super::org_cache;
use super::{config, kv, sealing, shards, webcrypto};
use crate::api_error::ApiError;
use crate::ids::random_id;
use crate::jose::base64url;
use crate::org_key::{
    encode_secret, seed_aad, CreateOrgKey, OrgKeyRecord, OrgKeyStatus, KEY_ID_PREFIX,
};
use crate::revocation::Revocation;

/// `POST …/keys` → 201 with the key and, this once, its `secret`.
pub async fn create(req: &mut Request, call: &AdminCall<'_>) -> Result<Response, ApiError> {
    let new = json_body::<CreateOrgKey>(req, "key").await?.validate()?;
    call.principal.may_delegate(&new.scopes)?;
    call.require_org().await?;
    let ring = config::keyring(call.env).await?;
    let random: [u8; 48] = webcrypto::random()?;
    let id_bytes: [u8; 16] = random[..16].try_into().map_err(|_| ApiError::Internal)?;
    let seed: [u8; 32] = random[16..].try_into().map_err(|_| ApiError::Internal)?;
    let id = random_id(KEY_ID_PREFIX, &id_bytes);
    let public_key = webcrypto::ed25519_public_key(&seed).await?;
    let sealed_seed = sealing::seal(&ring, &seed, &seed_aad(call.org, &id)).await?;
    let record = OrgKeyRecord {
        id: id.clone(),
        org: call.org.clone(),
        name: new.name,
        scopes: new.scopes,
        conditions: new.conditions,
        public_key: base64url::encode(&public_key),
        sealed_seed,
        status: OrgKeyStatus::Active,
        created_at: now_ms() / 1000,
        created_by: call.principal.actor().to_owned(),
        revoked_at: None,
    };
    kv::put_org_key(&call.store, &record).await?;
    org_cache::invalidate(call.org);
    call.audit(
        "key.create",
        &id,
        json!({ "name": record.name, "scopes": record.scopes.names() }),
    )
    .await?;
    let mut body = info_json(&record, None)?;
    body["secret"] = encode_secret(&seed).into();
    Ok(ok_json(201, &body))
}

/// `GET …/keys`: every key of the org, revoked ones included, never a secret.
pub async fn list(call: &AdminCall<'_>) -> Result<Response, ApiError> {
    call.require_org().await?;
    let keys = kv::list_org_keys(&call.store, call.org).await?;
    let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    let used = kv::keys_last_used(&call.store, &ids).await?;
    let infos = keys
        .iter()
        .zip(used)
        .map(|(k, u)| info_json(k, u))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok_json(200, &json!({ "keys": infos })))
}

/// `GET …/keys/{id}`.
pub async fn get(call: &AdminCall<'_>, id: &str) -> Result<Response, ApiError> {
    let key = find(call, id).await?;
    let used = kv::keys_last_used(&call.store, &[id]).await?;
    Ok(ok_json(
        200,
        &info_json(&key, used.into_iter().next().flatten())?,
    ))
}

/// `DELETE …/keys/{id}`: revokes the key at once; it leaves the JWKS, and every token it signed
/// (admin credentials included) is refused from the next request on, in every shard of the org.
/// The record stays, as `revoked`, for the audit trail. Idempotent.
pub async fn revoke(call: &AdminCall<'_>, id: &str) -> Result<Response, ApiError> {
    let key = revoke_record(call, id).await?;
    let revocation = Revocation::key(id, key.revoked_at.unwrap_or(now_ms() / 1000));
    shards::revoke(call.env, call.org, None, revocation).await?;
    let used = kv::keys_last_used(&call.store, &[id]).await?;
    Ok(ok_json(
        200,
        &info_json(&key, used.into_iter().next().flatten())?,
    ))
}

/// Marks the key revoked in KV (and audits it), if it is not already; the caller fans the
/// revocation out to the shards.
pub async fn revoke_record(call: &AdminCall<'_>, id: &str) -> Result<OrgKeyRecord, ApiError> {
    let mut key = find(call, id).await?;
    call.principal.may_delegate(&key.scopes)?;
    if key.is_active() {
        key.status = OrgKeyStatus::Revoked;
        key.revoked_at = Some(now_ms() / 1000);
        kv::put_org_key(&call.store, &key).await?;
        org_cache::invalidate(call.org);
        call.audit("key.revoke", id, json!({ "name": key.name }))
            .await?;
    }
    Ok(key)
}

/// The key, if it belongs to the org addressed; 404 otherwise (never says it exists elsewhere).
async fn find(call: &AdminCall<'_>, id: &str) -> Result<OrgKeyRecord, ApiError> {
    kv::get_org_key(&call.store, id)
        .await?
        .filter(|k| &k.org == call.org)
        .ok_or(ApiError::NotFound)
}

fn info_json(key: &OrgKeyRecord, last_used_at: Option<u64>) -> Result<serde_json::Value, ApiError> {
    let info = key.info(last_used_at).ok_or(ApiError::Internal)?;
    serde_json::to_value(info).map_err(|_| ApiError::Internal)
}
