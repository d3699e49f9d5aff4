//! Taking tokens back through the admin API (`POST /admin/v1/orgs/{org}/revocations`): a
//! session, a subject, a token, or a key (a signing key or an org key: every token it signed, in
//! every shard of the org). A client's own RFC 7009 revocation is a flow (`crate::flow::revocation`).

use serde_json::json;
use worker::{Request, Response};

use super::admin_call::{json_body, ok_json, AdminCall};
use super::clock::now_ms;
use super::org_cache;
use super::{kv, org_keys, shards};
use crate::admin_scope::AdminScope;
use crate::api_error::ApiError;
use crate::org_key::is_key_id;
use crate::revocation::{Revocation, RevocationRequest, Target};
use crate::signing_key::KeyStatus;

/// `POST /admin/v1/orgs/{org}/revocations`.
pub async fn revoke_admin(req: &mut Request, call: &AdminCall<'_>) -> Result<Response, ApiError> {
    let target = json_body::<RevocationRequest>(req, "revocation")
        .await?
        .target()?;
    call.require_org().await?;
    let now = now_ms() / 1000;
    let (sub, revocation) = match &target {
        Target::Session { sub, sid } => (Some(sub.as_str()), Revocation::session(sid, now, None)),
        Target::Subject { sub } => (Some(sub.as_str()), Revocation::subject(sub, now)),
        Target::Token { sub, jti, exp } => (Some(sub.as_str()), Revocation::token(jti, now, *exp)),
        Target::Key { kid } => {
            call.principal.authorize(call.org, AdminScope::KeysWrite)?;
            revoke_key_record(call, kid, now).await?;
            (None, Revocation::key(kid, now))
        }
    };
    shards::revoke(call.env, call.org, sub, revocation.clone()).await?;
    call.audit(
        "revocation.create",
        &revocation.value,
        json!({ "kind": revocation.kind, "sub": sub }),
    )
    .await?;
    Ok(ok_json(200, &json!({ "revocation": revocation })))
}

/// A key revocation also takes the key out of service: an org key is revoked, a signing key stops
/// signing and leaves the JWKS. The org's only signing key cannot be revoked (rotate first).
async fn revoke_key_record(call: &AdminCall<'_>, kid: &str, now: u64) -> Result<(), ApiError> {
    if is_key_id(kid) {
        return org_keys::revoke_record(call, kid).await.map(|_| ());
    }
    let mut key = kv::get_signing_key(&call.store, call.org, kid)
        .await?
        .ok_or(ApiError::NotFound)?;
    if key.status != KeyStatus::Revoked {
        let keys = kv::list_signing_keys(&call.store, call.org).await?;
        if !keys.iter().any(|k| k.kid != kid && k.signs_at(now)) {
            return Err(ApiError::Conflict(
                "this is the org's only signing key; rotate (immediate) before revoking it".into(),
            ));
        }
        key.status = KeyStatus::Revoked;
        key.retired_at = Some(now);
        kv::put_signing_key(&call.store, &key).await?;
        org_cache::invalidate(call.org);
    }
    Ok(())
}
