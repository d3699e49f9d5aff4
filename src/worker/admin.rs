//! The platform operator's API (`/admin/v1/...`), authorized by the `OPERATOR_TOKEN` secret:
//! create and read orgs, create, list and retire their signing keys.

use serde_json::json;
use worker::{Env, Request, Response};

use super::http::{self, Caching};
use super::org_cache::{self, now_ms};
use super::{config, kv, webcrypto};
use crate::api_error::ApiError;
use crate::body::{media_type, MediaType};
use crate::jose::base64url;
use crate::jose::ed25519::Ed25519SigningKey;
use crate::jose::jwk::thumbprint;
use crate::org::{OrgId, OrgRecord, OrgSettings};
use crate::route::Endpoint;
use crate::secret::{bearer_token, secrets_equal};
use crate::signing_key::{seed_aad, KeyStatus, SealedSeed, SigningKeyRecord};

pub async fn handle(
    req: &mut Request,
    env: &Env,
    org: &OrgId,
    endpoint: &Endpoint,
) -> Result<Response, ApiError> {
    authorize(req, env)?;
    let store = config::orgs_kv(env)?;
    let method = req.method().to_string();
    match (endpoint, method.as_str()) {
        (Endpoint::AdminOrg, "GET") => {
            let record = kv::get_org(&store, org).await?.ok_or(ApiError::NotFound)?;
            Ok(ok_json(200, &record))
        }
        (Endpoint::AdminOrg, _) => put_org(req, &store, org).await,
        (Endpoint::AdminSigningKeys, "GET") => list_keys(&store, org).await,
        (Endpoint::AdminSigningKeys, _) => create_key(env, &store, org).await,
        (Endpoint::AdminRetireSigningKey(kid), _) => retire_key(&store, org, kid).await,
        _ => Err(ApiError::NotFound),
    }
}

fn authorize(req: &Request, env: &Env) -> Result<(), ApiError> {
    let expected = config::operator_token(env)?;
    let presented = http::header(req, "Authorization")
        .ok_or_else(|| ApiError::InvalidToken("missing operator credential".into()))?;
    let token = bearer_token(&presented).ok_or_else(|| {
        ApiError::InvalidToken("use Authorization: Bearer <operator token>".into())
    })?;
    if secrets_equal(token, &expected) {
        Ok(())
    } else {
        Err(ApiError::InvalidToken("invalid operator credential".into()))
    }
}

fn ok_json(status: u16, value: &impl serde::Serialize) -> Response {
    http::json(
        status,
        serde_json::to_string(value).unwrap_or_default(),
        Caching::NoStore,
    )
}

/// `PUT /admin/v1/orgs/{org}`: creates the org (201) or replaces its settings (200).
async fn put_org(
    req: &mut Request,
    store: &worker::kv::KvStore,
    org: &OrgId,
) -> Result<Response, ApiError> {
    let body = http::read_body(req).await?;
    let content_type = http::header(req, "Content-Type");
    if content_type.as_deref().and_then(media_type) != Some(MediaType::Json) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let settings = OrgSettings::from_json(&body)?;
    let now = now_ms() / 1000;
    let (record, status) = match kv::get_org(store, org).await? {
        Some(existing) => (
            OrgRecord {
                settings,
                updated_at: now,
                ..existing
            },
            200,
        ),
        None => (
            OrgRecord {
                id: org.clone(),
                settings,
                created_at: now,
                updated_at: now,
            },
            201,
        ),
    };
    kv::put_org(store, &record).await?;
    org_cache::invalidate(org);
    Ok(ok_json(status, &record))
}

async fn require_org(store: &worker::kv::KvStore, org: &OrgId) -> Result<(), ApiError> {
    kv::get_org(store, org)
        .await?
        .map(|_| ())
        .ok_or(ApiError::NotFound)
}

async fn list_keys(store: &worker::kv::KvStore, org: &OrgId) -> Result<Response, ApiError> {
    require_org(store, org).await?;
    let keys = kv::list_signing_keys(store, org).await?;
    let infos: Vec<_> = keys.iter().filter_map(|k| k.info().ok()).collect();
    Ok(ok_json(200, &json!({ "keys": infos })))
}

/// `POST /admin/v1/orgs/{org}/signing-keys`: a new active key. Its private part is in this
/// response and nowhere else, ever: KV keeps it sealed under the master key.
async fn create_key(
    env: &Env,
    store: &worker::kv::KvStore,
    org: &OrgId,
) -> Result<Response, ApiError> {
    require_org(store, org).await?;
    let master = config::master_keys(env).await?;
    let random: [u8; 44] = webcrypto::random()?;
    let (seed_part, iv_part) = random.split_at(32);
    let seed: [u8; 32] = seed_part.try_into().map_err(|_| ApiError::Internal)?;
    let iv: [u8; 12] = iv_part.try_into().map_err(|_| ApiError::Internal)?;
    let public_key = Ed25519SigningKey::from_seed(&seed)
        .map_err(|_| ApiError::Internal)?
        .public_key();
    let kid = thumbprint(&public_key);
    let now_ms = now_ms();
    let ciphertext =
        webcrypto::aes_gcm_seal(&master.seed_seal, &iv, &seed_aad(org, &kid), &seed).await?;
    let record = SigningKeyRecord {
        kid: kid.clone(),
        org: org.clone(),
        public_key: base64url::encode(&public_key),
        sealed_seed: SealedSeed {
            master_key_id: master.id.clone(),
            iv: base64url::encode(&iv),
            ciphertext: base64url::encode(&ciphertext),
        },
        status: KeyStatus::Active,
        created_at: now_ms / 1000,
        created_at_ms: now_ms,
        retired_at: None,
    };
    kv::put_signing_key(store, &record).await?;
    org_cache::invalidate(org);
    let info = record.info().map_err(|_| ApiError::Internal)?;
    let mut body = serde_json::to_value(&info).map_err(|_| ApiError::Internal)?;
    let mut private_jwk = serde_json::to_value(&info.public_jwk).map_err(|_| ApiError::Internal)?;
    private_jwk["d"] = base64url::encode(&seed).into();
    body["private_jwk"] = private_jwk;
    Ok(ok_json(201, &body))
}

/// `POST /admin/v1/orgs/{org}/signing-keys/{kid}/retire`: the key stops signing at once and stays
/// in the JWKS until every token it signed has expired. The last active key cannot be retired.
async fn retire_key(
    store: &worker::kv::KvStore,
    org: &OrgId,
    kid: &str,
) -> Result<Response, ApiError> {
    require_org(store, org).await?;
    let mut record = kv::get_signing_key(store, org, kid)
        .await?
        .ok_or(ApiError::NotFound)?;
    if record.status == KeyStatus::Active {
        let keys = kv::list_signing_keys(store, org).await?;
        let others_active = keys
            .iter()
            .filter(|k| k.kid != kid && k.status == KeyStatus::Active);
        if others_active.count() == 0 {
            return Err(ApiError::Conflict(
                "this is the org's only active signing key; create another before retiring it"
                    .into(),
            ));
        }
        record.status = KeyStatus::Retired;
        record.retired_at = Some(now_ms() / 1000);
        kv::put_signing_key(store, &record).await?;
        org_cache::invalidate(org);
    }
    Ok(ok_json(
        200,
        &record.info().map_err(|_| ApiError::Internal)?,
    ))
}
