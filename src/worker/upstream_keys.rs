//! Identity providers' verification keys, kept in the isolate: a `jwks_uri` is fetched (5 s
//! deadline) and kept for its `Cache-Control: max-age` (clamped); an inline JWKS or an HS256
//! secret is prepared once per provider version. A token naming an unknown `kid` triggers one
//! refetch, at most once per [`UNKNOWN_KID_COOLDOWN_MS`] per provider. When a refetch fails, the
//! keys already held keep serving (stale-if-error); with none held, the exchange answers 503.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use web_sys::CryptoKey;
use worker::Env;

use super::clock::now_ms;
use super::{config, sealing, webcrypto};
use crate::api_error::ApiError;
use crate::bounded_map::BoundedMap;
use crate::exchange::subject_token::rejected;
use crate::exchange::upstream_jwks::{cache_secs, parse_jwks, select, UpstreamJwk, MAX_JWKS_BYTES};
use crate::jose::{Algorithm, JoseError};
use crate::org::OrgId;
use crate::provider::{secret_aad, ProviderRecord};

pub const FETCH_TIMEOUT_MS: u32 = 5_000;
pub const UNKNOWN_KID_COOLDOWN_MS: u64 = 10_000;
const MAX_ENTRIES: usize = 256;

struct Entry {
    keys: Vec<UpstreamJwk>,
    /// WebCrypto keys imported so far, by index in `keys`.
    imported: RefCell<HashMap<usize, CryptoKey>>,
    /// `u64::MAX` for keys that never expire (inline JWKS).
    expires_ms: u64,
}

thread_local! {
    static KEYS: RefCell<BoundedMap<String, Rc<Entry>>> = RefCell::new(BoundedMap::new(MAX_ENTRIES));
    static HMAC: RefCell<BoundedMap<String, CryptoKey>> = RefCell::new(BoundedMap::new(MAX_ENTRIES));
    static LAST_UNKNOWN_KID_REFETCH: RefCell<BoundedMap<String, u64>> =
        RefCell::new(BoundedMap::new(MAX_ENTRIES));
}

/// One cache slot per provider version: a changed provider never sees its old keys.
fn slot(org: &OrgId, provider: &ProviderRecord) -> String {
    format!("{}/{}@{}", org.as_str(), provider.id, provider.updated_at)
}

fn provider_slot(org: &OrgId, provider: &ProviderRecord) -> String {
    format!("{}/{}", org.as_str(), provider.id)
}

/// The imported WebCrypto key that verifies `provider`'s tokens of `alg` and `kid`, if this
/// isolate holds it fresh (never fetches or imports).
pub fn cached_key(
    org: &OrgId,
    provider: &ProviderRecord,
    alg: Algorithm,
    kid: &str,
) -> Option<CryptoKey> {
    if alg == Algorithm::HS256 {
        return HMAC.with(|c| c.borrow().get(&slot(org, provider)).cloned());
    }
    let entry = KEYS.with(|c| c.borrow().get(&slot(org, provider)).cloned())?;
    if now_ms() >= entry.expires_ms {
        return None;
    }
    let index = select(&entry.keys, alg, kid).ok()?;
    let key = entry.imported.borrow().get(&index).cloned();
    key
}

/// The key that verifies `provider`'s tokens of `alg` and `kid`: its HS256 secret, or the JWK
/// its JWKS has for them (fetched when not held or stale; refetched once for an unknown `kid`),
/// imported once.
pub async fn verify_key(
    env: &Env,
    org: &OrgId,
    provider: &ProviderRecord,
    alg: Algorithm,
    kid: &str,
) -> Result<CryptoKey, ApiError> {
    if alg == Algorithm::HS256 {
        return hmac_key(env, org, provider).await;
    }
    let mut entry = keys(org, provider, false).await?;
    let index = match select(&entry.keys, alg, kid) {
        Ok(i) => i,
        Err(JoseError::UnknownKid) if may_refetch(org, provider) => {
            entry = keys(org, provider, true).await?;
            select(&entry.keys, alg, kid).map_err(rejected)?
        }
        Err(e) => return Err(rejected(e)),
    };
    let jwk = &entry.keys[index];
    let cached = entry.imported.borrow().get(&index).cloned();
    match cached {
        Some(k) => Ok(k),
        None => {
            let k = webcrypto::import_verify_jwk(&jwk.public_jwk, alg)
                .await
                .map_err(|_| rejected(JoseError::InvalidKey))?;
            entry.imported.borrow_mut().insert(index, k.clone());
            Ok(k)
        }
    }
}

/// Unknown-kid refetches of a provider are spaced by the cooldown; the first is allowed.
fn may_refetch(org: &OrgId, provider: &ProviderRecord) -> bool {
    if provider.settings.jwks_uri.is_none() {
        return false;
    }
    let now = now_ms();
    LAST_UNKNOWN_KID_REFETCH.with(|m| {
        let mut m = m.borrow_mut();
        let key = provider_slot(org, provider);
        let due = m
            .get(&key)
            .is_none_or(|last| now.saturating_sub(*last) >= UNKNOWN_KID_COOLDOWN_MS);
        if due {
            m.insert(key, now);
        }
        due
    })
}

/// The provider's keys: cached, or fetched/parsed now. `refetch` skips a fresh cache.
async fn keys(
    org: &OrgId,
    provider: &ProviderRecord,
    refetch: bool,
) -> Result<Rc<Entry>, ApiError> {
    let slot = slot(org, provider);
    let cached = KEYS.with(|c| c.borrow().get(&slot).cloned());
    let now = now_ms();
    if let Some(entry) = &cached {
        if !refetch && now < entry.expires_ms {
            return Ok(entry.clone());
        }
    }
    let loaded = match (&provider.settings.jwks_uri, &provider.settings.jwks) {
        (Some(uri), _) => fetch(uri)
            .await
            .map(|(keys, secs)| (keys, now + secs * 1000)),
        (None, Some(inline)) => parse_jwks(inline.to_string().as_bytes())
            .map(|keys| (keys, u64::MAX))
            .map_err(str::to_owned),
        (None, None) => Err("the provider has no JWKS".to_owned()),
    };
    match (loaded, cached) {
        (Ok((keys, expires_ms)), _) => {
            let entry = Rc::new(Entry {
                keys,
                imported: RefCell::new(HashMap::new()),
                expires_ms,
            });
            KEYS.with(|c| c.borrow_mut().insert(slot, entry.clone()));
            Ok(entry)
        }
        // Stale-if-error: the keys already held keep serving while the provider is down.
        (Err(_), Some(stale)) => Ok(stale),
        (Err(why), None) => Err(ApiError::Unavailable(format!(
            "identity provider {}: keys unavailable ({why})",
            provider.id
        ))),
    }
}

async fn fetch(uri: &str) -> Result<(Vec<UpstreamJwk>, u64), String> {
    let (status, cache_control, body) =
        webcrypto::fetch_with_timeout(uri, FETCH_TIMEOUT_MS, MAX_JWKS_BYTES).await?;
    if status != 200 {
        return Err(format!("JWKS endpoint answered {status}"));
    }
    let keys = parse_jwks(&body).map_err(str::to_owned)?;
    Ok((keys, cache_secs(cache_control.as_deref())))
}

/// The provider's HS256 key: its sealed secret opened with the master key, imported once.
async fn hmac_key(
    env: &Env,
    org: &OrgId,
    provider: &ProviderRecord,
) -> Result<CryptoKey, ApiError> {
    let slot = slot(org, provider);
    if let Some(key) = HMAC.with(|c| c.borrow().get(&slot).cloned()) {
        return Ok(key);
    }
    let sealed = provider.sealed_hs256_secret.as_ref().ok_or_else(|| {
        ApiError::Misconfigured(format!("provider {} has no HS256 secret", provider.id))
    })?;
    let ring = config::keyring(env).await?;
    let what = format!("the HS256 secret of provider {}", provider.id);
    let secret = sealing::open(&ring, sealed, &secret_aad(org, &provider.id), &what).await?;
    let key = webcrypto::import_hmac_key(&secret).await?;
    HMAC.with(|c| c.borrow_mut().insert(slot, key.clone()));
    Ok(key)
}
