//! Secrets and settings from the environment, read and imported once per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use web_sys::CryptoKey;
use worker::Env;

use super::webcrypto;
use crate::api_error::ApiError;
use crate::deploy_config::{Environment, ENVIRONMENT_VAR};
use crate::request_url::RequestUrl;
use crate::secret::{
    MasterKey, MASTER_KEY_SECRET, MIN_OPERATOR_TOKEN_LEN, OPERATOR_TOKEN_SECRET,
    SIGNING_KEY_SEAL_INFO,
};

/// The KV namespace binding holding orgs and their signing keys.
pub const ORGS_KV: &str = "ORGS";
/// The Durable Object namespace binding of the session shards.
pub const SESSIONS_BINDING: &str = "SESSIONS";
/// The Durable Object namespace binding of the usage objects.
pub const USAGE_BINDING: &str = "USAGE";
/// Optional var: the public origin of the worker (e.g. `https://auth.example.com`). When unset, the
/// request's own origin is used.
pub const ISSUER_ORIGIN_VAR: &str = "ISSUER_ORIGIN";

/// Keys derived from the master secret.
pub struct MasterKeys {
    pub id: String,
    pub hkdf: CryptoKey,
    /// Seals org signing-key seeds at rest.
    pub seed_seal: CryptoKey,
}

/// The master keys held: the current one seals; during a rotation the previous one still opens.
pub struct Keyring {
    pub current: Rc<MasterKeys>,
    pub previous: Option<Rc<MasterKeys>>,
}

/// The optional secret holding the master key being rotated out.
pub const MASTER_KEY_PREVIOUS_SECRET: &str = "MASTER_KEY_PREVIOUS";

thread_local! {
    static MASTER: RefCell<Option<Rc<Keyring>>> = const { RefCell::new(None) };
    /// The environment, once the configuration passed `validate` in this isolate: a deployment's
    /// vars, secrets and bindings do not change while an isolate lives.
    static VALIDATED: std::cell::Cell<Option<Environment>> = const { std::cell::Cell::new(None) };
    static CONFIGURED_ORIGIN: std::cell::OnceCell<Option<String>> = const { std::cell::OnceCell::new() };
}

fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name).ok().map(|s| s.to_string())
}

/// `MASTER_KEY` (required) and `MASTER_KEY_PREVIOUS` (optional), imported once per isolate.
pub async fn keyring(env: &Env) -> Result<Rc<Keyring>, ApiError> {
    if let Some(ring) = MASTER.with(|m| m.borrow().clone()) {
        return Ok(ring);
    }
    let current = import_master(env, MASTER_KEY_SECRET)
        .await?
        .ok_or_else(|| {
            ApiError::Misconfigured(format!(
                "secret {MASTER_KEY_SECRET} is missing or is not 32 bytes of base64"
            ))
        })?;
    let previous = import_master(env, MASTER_KEY_PREVIOUS_SECRET).await?;
    let ring = Rc::new(Keyring {
        current: Rc::new(current),
        previous: previous.map(Rc::new),
    });
    MASTER.with(|m| *m.borrow_mut() = Some(ring.clone()));
    Ok(ring)
}

/// A master-key secret: `None` when absent, 503 naming it when malformed.
async fn import_master(env: &Env, name: &str) -> Result<Option<MasterKeys>, ApiError> {
    let Some(text) = secret(env, name) else {
        return Ok(None);
    };
    let master = MasterKey::parse(&text).ok_or_else(|| {
        ApiError::Misconfigured(format!("secret {name} is not 32 bytes of base64"))
    })?;
    let hkdf = webcrypto::import_hkdf_key(master.bytes()).await?;
    let seed_seal = webcrypto::derive_aes_key(&hkdf, SIGNING_KEY_SEAL_INFO).await?;
    Ok(Some(MasterKeys {
        id: master.id(),
        hkdf,
        seed_seal,
    }))
}

/// The operator's bearer token; refused as misconfiguration when missing or short.
pub fn operator_token(env: &Env) -> Result<String, ApiError> {
    secret(env, OPERATOR_TOKEN_SECRET)
        .filter(|t| t.len() >= MIN_OPERATOR_TOKEN_LEN)
        .ok_or_else(|| {
            ApiError::Misconfigured(format!(
                "secret {OPERATOR_TOKEN_SECRET} is missing or shorter than {MIN_OPERATOR_TOKEN_LEN} characters"
            ))
        })
}

/// Checks the configuration before anything is served: the environment, that no development
/// setting is on outside development, the bindings, and the master key (imported once). Any
/// problem is a 503 naming it (a secret by name, never its value). Checked once per isolate: after
/// a success the answer is remembered, so warm requests pay nothing for it.
pub async fn validate(env: &Env) -> Result<Environment, ApiError> {
    if let Some(environment) = VALIDATED.with(|v| v.get()) {
        return Ok(environment);
    }
    let environment = check(env).await?;
    VALIDATED.with(|v| v.set(Some(environment)));
    Ok(environment)
}

/// Whether this isolate has validated its configuration: until it has, a flow's org is loaded
/// through [`validate`] (`driver`'s `perform`), never from the cache alone.
pub fn validated() -> bool {
    VALIDATED.with(|v| v.get()).is_some()
}

async fn check(env: &Env) -> Result<Environment, ApiError> {
    let name = env.var(ENVIRONMENT_VAR).ok().map(|v| v.to_string());
    let environment = Environment::parse(name.as_deref()).map_err(ApiError::Misconfigured)?;
    environment
        .check_dev_mode(dev_mode(env))
        .map_err(ApiError::Misconfigured)?;
    orgs_kv(env)?;
    for binding in [SESSIONS_BINDING, USAGE_BINDING] {
        env.durable_object(binding).map_err(|_| {
            ApiError::Misconfigured(format!("Durable Object binding {binding} is missing"))
        })?;
    }
    keyring(env).await?;
    Ok(environment)
}

/// The var that enables development conveniences (a simulated clock for purges). Never set it in
/// production.
pub const DEV_MODE_VAR: &str = "DEV_MODE";

pub fn dev_mode(env: &Env) -> bool {
    env.var(DEV_MODE_VAR)
        .map(|v| v.to_string() == "true")
        .unwrap_or(false)
}

/// The origin issuer URLs are built on: `ISSUER_ORIGIN`, or else the request's own origin
/// (`scheme://host[:port]`).
pub fn issuer_origin_of(env: &Env, request_origin: &str) -> String {
    configured_origin(env).unwrap_or_else(|| request_origin.to_owned())
}

/// `ISSUER_ORIGIN`, read once per isolate (a var cannot change under a running isolate; reading
/// it costs a binding lookup per request).
fn configured_origin(env: &Env) -> Option<String> {
    CONFIGURED_ORIGIN.with(|c| {
        c.get_or_init(|| {
            env.var(ISSUER_ORIGIN_VAR)
                .ok()
                .map(|v| v.to_string())
                .filter(|v| !v.is_empty())
        })
        .clone()
    })
}

/// The origins this worker answers as: the configured one (if any) and the request's own. An
/// admin credential's audience may name either.
pub fn own_origins(env: &Env, request_url: &RequestUrl<'_>) -> Vec<String> {
    own_origins_of(env, request_url.origin())
}

/// [`own_origins`] for a request whose origin (`scheme://host[:port]`) is already known.
pub fn own_origins_of(env: &Env, request_origin: &str) -> Vec<String> {
    let request = request_origin.to_owned();
    let configured = issuer_origin_of(env, request_origin);
    if configured == request {
        vec![request]
    } else {
        vec![configured, request]
    }
}

pub fn orgs_kv(env: &Env) -> Result<worker::kv::KvStore, ApiError> {
    env.kv(ORGS_KV)
        .map_err(|_| ApiError::Misconfigured(format!("KV binding {ORGS_KV} is missing")))
}
