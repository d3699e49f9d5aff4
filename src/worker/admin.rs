//! The admin API (`/admin/v1/orgs/{org}/...`): orgs, signing keys, org keys and the audit log.
//! Every call is authenticated (operator token or org-key credential), authorized against the
//! endpoint's scope (`Endpoint::required_scope`), and every change is written to the audit log.

use serde_json::json;
use worker::{Context, Env, Request, Response};

use super::admin_call::{json_body, ok_json, optional_json_body, AdminCall};
use super::clock::now_ms;
use super::org_cache;
use super::{auth, config, kv, org_keys, providers, revocations, sealing, shards, webcrypto};
use crate::api_error::ApiError;
use crate::body::json_object;
use crate::family::PurgeCall;
use crate::jose::base64url;
use crate::jose::jwk::thumbprint;
use crate::org::{OrgRecord, OrgSettings};
use crate::principal::Principal;
use crate::request_url::RequestUrl;
use crate::route::{Endpoint, Route};
use crate::signing_key::{rotation_retire_at, seed_aad, KeyStatus, SigningKeyRecord};

pub async fn handle(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    route: &Route,
    url: &RequestUrl<'_>,
) -> Result<Response, ApiError> {
    let principal = auth::authenticate(req, env, ctx, &config::own_origins(env, url)).await?;
    let method = req.method().to_string();
    if let Some(scope) = route.endpoint.required_scope(&method) {
        principal.authorize(&route.org, scope)?;
    }
    let call = AdminCall {
        env,
        store: config::orgs_kv(env)?,
        org: &route.org,
        principal,
    };
    match (&route.endpoint, method.as_str()) {
        (Endpoint::AdminOrg, "GET") => Ok(ok_json(200, &call.require_org().await?)),
        (Endpoint::AdminOrg, _) => put_org(req, &call).await,
        (Endpoint::AdminSigningKeys, "GET") => list_signing_keys(&call).await,
        (Endpoint::AdminSigningKeys, _) => {
            call.require_org().await?;
            create_signing_key(&call, None).await
        }
        (Endpoint::AdminRotateSigningKeys, _) => rotate_signing_keys(req, &call).await,
        (Endpoint::AdminRetireSigningKey(kid), _) => retire_signing_key(&call, kid).await,
        (Endpoint::AdminOrgKeys, "GET") => org_keys::list(&call).await,
        (Endpoint::AdminOrgKeys, _) => org_keys::create(req, &call).await,
        (Endpoint::AdminOrgKey(id), "GET") => org_keys::get(&call, id).await,
        (Endpoint::AdminOrgKey(id), _) => org_keys::revoke(&call, id).await,
        (Endpoint::AdminAudit, _) => list_audit(&call, url).await,
        (Endpoint::AdminProviders, _) => providers::list(&call).await,
        (Endpoint::AdminSessionStore, _) => session_store(&call, None).await,
        (Endpoint::AdminSessionStorePurge, _) => purge_session_store(req, &call).await,
        (Endpoint::AdminRevocations, _) => revocations::revoke_admin(req, &call).await,
        (Endpoint::AdminReseal, _) => reseal(&call).await,
        (Endpoint::AdminProvider(id), "GET") => providers::get(&call, id).await,
        (Endpoint::AdminProvider(id), "PUT") => providers::put(req, &call, id).await,
        (Endpoint::AdminProvider(id), _) => providers::delete(&call, id).await,
        _ => Err(ApiError::NotFound),
    }
}

/// `PUT /admin/v1/orgs/{org}`: creates the org (201, operator only) or replaces its settings (200).
async fn put_org(req: &mut Request, call: &AdminCall<'_>) -> Result<Response, ApiError> {
    let body: serde_json::Map<String, serde_json::Value> = json_body(req, "org settings").await?;
    let names_plan = body.contains_key("tier") || body.contains_key("monthly_quota");
    let mut settings: OrgSettings = json_object(
        serde_json::Value::Object(body).to_string().as_bytes(),
        "org settings",
    )?;
    settings.validate()?;
    let now = now_ms() / 1000;
    let existing = kv::get_org(&call.store, call.org).await?;
    let before = existing
        .as_ref()
        .map(|e| e.settings.clone())
        .unwrap_or_default();
    if call.principal != Principal::Operator {
        // The plan is the operator's: an org key that names it must not change it, and one
        // that leaves it out keeps it.
        if names_plan && settings.changes_plan(&before) {
            return Err(ApiError::AccessDenied(
                "only the platform operator changes tier and monthly_quota".into(),
            ));
        }
        settings.tier = before.tier;
        settings.monthly_quota = before.monthly_quota;
    }
    let (record, status, action) = match existing {
        Some(existing) => (
            OrgRecord {
                settings,
                updated_at: now,
                ..existing
            },
            200,
            "org.update",
        ),
        None if call.principal != Principal::Operator => return Err(ApiError::NotFound),
        None => (
            OrgRecord {
                id: call.org.clone(),
                settings,
                created_at: now,
                updated_at: now,
            },
            201,
            "org.create",
        ),
    };
    kv::put_org(&call.store, &record).await?;
    org_cache::invalidate(call.org);
    call.audit(action, call.org.as_str(), serde_json::Value::Null)
        .await?;
    Ok(ok_json(status, &record))
}

async fn list_signing_keys(call: &AdminCall<'_>) -> Result<Response, ApiError> {
    call.require_org().await?;
    let keys = kv::list_signing_keys(&call.store, call.org).await?;
    let infos: Vec<_> = keys.iter().filter_map(|k| k.info().ok()).collect();
    Ok(ok_json(200, &json!({ "keys": infos })))
}

/// `POST …/signing-keys`: a new active key. Its private part is in this response and nowhere
/// else, ever: KV keeps it sealed under the master key. `retiring` is the rotation's note of
/// which keys it retires, for the response.
async fn create_signing_key(
    call: &AdminCall<'_>,
    retiring: Option<(Vec<SigningKeyRecord>, Retire)>,
) -> Result<Response, ApiError> {
    let ring = config::keyring(call.env).await?;
    let seed: [u8; 32] = webcrypto::random()?;
    let public_key = webcrypto::ed25519_public_key(&seed).await?;
    let kid = thumbprint(&public_key);
    let now_ms = now_ms();
    let sealed_seed = sealing::seal(&ring, &seed, &seed_aad(call.org, &kid)).await?;
    let record = SigningKeyRecord {
        kid: kid.clone(),
        org: call.org.clone(),
        public_key: base64url::encode(&public_key),
        sealed_seed,
        status: KeyStatus::Active,
        created_at: now_ms / 1000,
        created_at_ms: now_ms,
        retired_at: None,
    };
    kv::put_signing_key(&call.store, &record).await?;
    let rotation = retiring.is_some();
    let retired = match retiring {
        Some(old) => retire_for_rotation(call, old, &record).await?,
        None => Vec::new(),
    };
    org_cache::invalidate(call.org);
    let action = if rotation {
        "signing_key.rotate"
    } else {
        "signing_key.create"
    };
    let detail = if rotation {
        json!({ "retiring": retired })
    } else {
        serde_json::Value::Null
    };
    call.audit(action, &kid, detail).await?;
    let info = record.info().map_err(|_| ApiError::Internal)?;
    let mut body = serde_json::to_value(&info).map_err(|_| ApiError::Internal)?;
    let mut private_jwk = serde_json::to_value(&info.public_jwk).map_err(|_| ApiError::Internal)?;
    private_jwk["d"] = base64url::encode(&seed).into();
    body["private_jwk"] = private_jwk;
    if rotation {
        body["retiring"] = json!(retired);
    }
    Ok(ok_json(201, &body))
}

/// The optional body of a rotation.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// Emergency (a key leaked): the old keys stop signing now instead of at the handover.
    #[serde(default)]
    immediate: bool,
}

/// `POST …/signing-keys/rotate`: one call for a safe rotation. A new key is created (published
/// at once); every other active key keeps signing until the new one takes over, then retires,
/// staying published until its last token has expired. `{"immediate": true}` retires them now.
async fn rotate_signing_keys(
    req: &mut Request,
    call: &AdminCall<'_>,
) -> Result<Response, ApiError> {
    let rotation: Rotation = optional_json_body(req, "rotation").await?;
    call.require_org().await?;
    let now = now_ms() / 1000;
    let old: Vec<SigningKeyRecord> = kv::list_signing_keys(&call.store, call.org)
        .await?
        .into_iter()
        .filter(|k| k.signs_at(now))
        .collect();
    let retire = if rotation.immediate {
        Retire::Now
    } else {
        Retire::AtHandover
    };
    create_signing_key(call, Some((old, retire))).await
}

#[derive(Clone, Copy)]
enum Retire {
    Now,
    AtHandover,
}

async fn retire_for_rotation(
    call: &AdminCall<'_>,
    (old, retire): (Vec<SigningKeyRecord>, Retire),
    new: &SigningKeyRecord,
) -> Result<Vec<String>, ApiError> {
    let retire_at = match retire {
        Retire::Now => new.created_at,
        Retire::AtHandover => rotation_retire_at(new),
    };
    let mut kids = Vec::new();
    for mut key in old {
        key.status = KeyStatus::Retired;
        key.retired_at = Some(retire_at);
        kv::put_signing_key(&call.store, &key).await?;
        kids.push(key.kid);
    }
    Ok(kids)
}

/// `POST …/signing-keys/{kid}/retire`: the key stops signing at once and stays in the JWKS
/// until every token it signed has expired. The last active key cannot be retired.
async fn retire_signing_key(call: &AdminCall<'_>, kid: &str) -> Result<Response, ApiError> {
    call.require_org().await?;
    let mut record = kv::get_signing_key(&call.store, call.org, kid)
        .await?
        .ok_or(ApiError::NotFound)?;
    let now = now_ms() / 1000;
    if record.signs_at(now) {
        let keys = kv::list_signing_keys(&call.store, call.org).await?;
        let others_active = keys.iter().filter(|k| k.kid != kid && k.signs_at(now));
        if others_active.count() == 0 {
            return Err(ApiError::Conflict(
                "this is the org's only active signing key; create another before retiring it"
                    .into(),
            ));
        }
        record.status = KeyStatus::Retired;
        record.retired_at = Some(now);
        kv::put_signing_key(&call.store, &record).await?;
        org_cache::invalidate(call.org);
        call.audit("signing_key.retire", kid, serde_json::Value::Null)
            .await?;
    }
    Ok(ok_json(
        200,
        &record.info().map_err(|_| ApiError::Internal)?,
    ))
}

/// `POST …/session-store/purge`: runs every shard's purge now. `{"as_of": t}` simulates a later
/// time and is accepted only in development (`DEV_MODE`).
async fn purge_session_store(
    req: &mut Request,
    call: &AdminCall<'_>,
) -> Result<Response, ApiError> {
    let purge: PurgeCall = optional_json_body(req, "purge").await?;
    if purge.as_of.is_some() && !config::dev_mode(call.env) {
        return Err(ApiError::invalid_request(
            "as_of (a simulated time) is accepted only in development (DEV_MODE)",
        ));
    }
    call.require_org().await?;
    session_store(call, Some(purge.as_of)).await
}

/// `GET …/session-store`: per shard, the families held and the calls served. With `purge`, every
/// shard purges first (as of the time given, or now).
async fn session_store(
    call: &AdminCall<'_>,
    purge: Option<Option<u64>>,
) -> Result<Response, ApiError> {
    call.require_org().await?;
    let shards = match purge {
        Some(as_of) => shards::purge(call.env, call.org, as_of).await?,
        None => shards::stats(call.env, call.org).await?,
    };
    let total = |f: fn(&crate::family::ShardStats) -> u64| shards.iter().map(f).sum::<u64>();
    Ok(ok_json(
        200,
        &json!({
            "shards": shards,
            "totals": {
                "families": total(|s| s.families),
                "revoked_families": total(|s| s.revoked_families),
                "revocations": total(|s| s.revocations),
                "calls": total(|s| s.calls),
            }
        }),
    ))
}

/// `POST …/reseal`: re-seals every secret of the org stored under a master key other than the
/// current one (signing-key and org-key seeds, providers' HS256 secrets), after a master-key
/// rotation. Idempotent: records already under the current key are left alone.
async fn reseal(call: &AdminCall<'_>) -> Result<Response, ApiError> {
    call.require_org().await?;
    let ring = config::keyring(call.env).await?;
    let mut counts = (0u32, 0u32, 0u32);
    for mut key in kv::list_signing_keys(&call.store, call.org).await? {
        let what = format!("signing key {}", key.kid);
        let aad = seed_aad(call.org, &key.kid);
        if let Some(sealed) = sealing::reseal(&ring, &key.sealed_seed, &aad, &what).await? {
            key.sealed_seed = sealed;
            kv::put_signing_key(&call.store, &key).await?;
            counts.0 += 1;
        }
    }
    for mut key in kv::list_org_keys(&call.store, call.org).await? {
        let what = format!("org key {}", key.id);
        let aad = crate::org_key::seed_aad(call.org, &key.id);
        if let Some(sealed) = sealing::reseal(&ring, &key.sealed_seed, &aad, &what).await? {
            key.sealed_seed = sealed;
            kv::put_org_key(&call.store, &key).await?;
            counts.1 += 1;
        }
    }
    for mut provider in kv::list_providers(&call.store, call.org).await? {
        let Some(old) = &provider.sealed_hs256_secret else {
            continue;
        };
        let what = format!("the HS256 secret of provider {}", provider.id);
        let aad = crate::provider::secret_aad(call.org, &provider.id);
        if let Some(sealed) = sealing::reseal(&ring, old, &aad, &what).await? {
            provider.sealed_hs256_secret = Some(sealed);
            kv::put_provider(&call.store, call.org, &provider).await?;
            counts.2 += 1;
        }
    }
    org_cache::invalidate(call.org);
    let resealed = json!({ "signing_keys": counts.0, "org_keys": counts.1, "providers": counts.2 });
    call.audit("org.reseal", call.org.as_str(), resealed.clone())
        .await?;
    Ok(ok_json(
        200,
        &json!({ "resealed": resealed, "master_key_id": ring.current.id }),
    ))
}

/// `GET /admin/v1/orgs` (operator only): every org's id.
pub async fn list_orgs(
    req: &Request,
    env: &Env,
    ctx: &Context,
    url: &RequestUrl<'_>,
) -> Result<Response, ApiError> {
    let principal = auth::authenticate(req, env, ctx, &config::own_origins(env, url)).await?;
    if principal != Principal::Operator {
        return Err(ApiError::NotFound);
    }
    let ids = kv::list_org_ids(&config::orgs_kv(env)?).await?;
    Ok(ok_json(200, &json!({ "orgs": ids })))
}

/// `GET …/audit?limit=N&cursor=C`: newest first.
async fn list_audit(call: &AdminCall<'_>, url: &RequestUrl<'_>) -> Result<Response, ApiError> {
    call.require_org().await?;
    let mut limit = 50;
    let mut cursor = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=crate::audit::MAX_PAGE).contains(n))
                    .ok_or_else(|| ApiError::invalid_request("limit: 1 to 100"))?
            }
            "cursor" if !v.is_empty() && v.len() <= 1024 => cursor = Some(v.into_owned()),
            "cursor" => return Err(ApiError::invalid_request("cursor: malformed")),
            other => {
                return Err(ApiError::invalid_request(format!(
                    "unknown query parameter: {other}"
                )))
            }
        }
    }
    let (entries, next) = kv::list_audit(&call.store, call.org, limit, cursor).await?;
    Ok(ok_json(
        200,
        &json!({ "entries": entries, "next_cursor": next }),
    ))
}
