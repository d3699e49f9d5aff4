//! Everything a hot request needs about an org, loaded from KV once and kept in the isolate:
//! settings, the imported signing key with its encoded JWS header, the serialized JWKS, and the
//! refresh-token sealing key. A warm request touches no KV and decrypts nothing.

use std::cell::RefCell;
use std::rc::Rc;

use web_sys::CryptoKey;
use worker::Env;

use super::config::Keyring;
use super::{config, kv, sealing, webcrypto};
use crate::api_error::ApiError;
use crate::bounded_map::BoundedMap;
use crate::jose::header::encode_ed25519_header;
use crate::jose::jwk::Jwks;
use crate::org::{OrgId, OrgRecord};
use crate::org_key::OrgKeyRecord;
use crate::provider::ProviderRecord;
use crate::secret::REFRESH_TOKEN_INFO_PREFIX;
use crate::signing_key::{pkcs8_from_seed, seed_aad, signing_key, SigningKeyRecord};

/// How long an isolate trusts what it loaded. Changes made through this isolate apply at once;
/// other isolates see them within this time.
const TTL_MS: u64 = 30_000;
/// Unknown orgs are remembered briefly, so a flood of requests for one costs one KV read.
const MISSING_TTL_MS: u64 = 5_000;
/// Bound on cached orgs per isolate.
const MAX_ENTRIES: usize = 1024;

pub struct Signer {
    /// base64url of `{"alg":"EdDSA","typ":"at+jwt","kid":...}`, computed once.
    pub encoded_header: String,
    pub key: CryptoKey,
}

pub struct OrgContext {
    pub record: OrgRecord,
    pub signer: Option<Signer>,
    pub jwks_json: String,
    /// The published signing keys alone: what verifies tokens this worker issued for the org.
    pub own_jwks: Jwks,
    /// Refresh-token keys: the current master key's first (it seals), then during a rotation the
    /// previous one's (it still opens).
    pub refresh_keys: Vec<CryptoKey>,
    /// Identity providers, by id.
    pub providers: Vec<ProviderRecord>,
    /// Active org keys: tokens an org's servers mint with them can be introspected.
    pub org_keys: Vec<OrgKeyRecord>,
}

impl OrgContext {
    pub fn provider(&self, id: &str) -> Option<&ProviderRecord> {
        self.providers.iter().find(|p| p.id == id)
    }

    pub fn provider_for_issuer(&self, issuer: &str) -> Option<&ProviderRecord> {
        self.providers.iter().find(|p| p.settings.issuer == issuer)
    }
}

enum Entry {
    Found(Rc<OrgContext>),
    Missing,
}

thread_local! {
    static CACHE: RefCell<BoundedMap<OrgId, (u64, Rc<Entry>)>> =
        RefCell::new(BoundedMap::new(MAX_ENTRIES));
}

pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// The org, or 404.
pub async fn get(env: &Env, org: &OrgId) -> Result<Rc<OrgContext>, ApiError> {
    let now = now_ms();
    let cached = CACHE.with(|c| c.borrow().get(org).cloned());
    let entry = match cached {
        Some((expires, entry)) if now < expires => entry,
        _ => {
            let entry = Rc::new(match load(env, org).await? {
                Some(ctx) => Entry::Found(Rc::new(ctx)),
                None => Entry::Missing,
            });
            let ttl = if matches!(*entry, Entry::Found(_)) {
                TTL_MS
            } else {
                MISSING_TTL_MS
            };
            CACHE.with(|c| {
                c.borrow_mut().insert_dropping(
                    org.clone(),
                    (now + ttl, entry.clone()),
                    |_, (expires, _)| *expires <= now,
                )
            });
            entry
        }
    };
    match &*entry {
        Entry::Found(ctx) => Ok(ctx.clone()),
        Entry::Missing => Err(ApiError::NotFound),
    }
}

/// The org if this isolate holds it and it is fresh; never reads KV.
pub fn peek(org: &OrgId) -> Option<Rc<OrgContext>> {
    let now = now_ms();
    CACHE.with(|c| match c.borrow().get(org) {
        Some((expires, entry)) if now < *expires => match &**entry {
            Entry::Found(ctx) => Some(ctx.clone()),
            Entry::Missing => None,
        },
        _ => None,
    })
}

/// Forgets an org after this isolate changed it.
pub fn invalidate(org: &OrgId) {
    CACHE.with(|c| c.borrow_mut().remove(org));
}

async fn load(env: &Env, org: &OrgId) -> Result<Option<OrgContext>, ApiError> {
    let store = config::orgs_kv(env)?;
    let Some(record) = kv::get_org(&store, org).await? else {
        return Ok(None);
    };
    let ring = config::keyring(env).await?;
    let keys = kv::list_signing_keys(&store, org).await?;
    let org_keys = kv::list_org_keys(&store, org).await?;
    let now = now_ms() / 1000;
    // Signing keys while they may have live tokens; org keys while active, so tokens an org's
    // servers mint with them verify against the same JWKS.
    let own_jwks = Jwks {
        keys: keys
            .iter()
            .filter(|k| k.is_published(now))
            .filter_map(|k| k.public_jwk().ok())
            .collect(),
    };
    let published: Vec<_> = own_jwks
        .keys
        .iter()
        .cloned()
        .chain(
            org_keys
                .iter()
                .filter(|k| k.is_active())
                .filter_map(|k| k.public_jwk()),
        )
        .collect();
    let jwks_json =
        serde_json::to_string(&Jwks { keys: published }).map_err(|_| ApiError::Internal)?;
    let providers = kv::list_providers(&store, org).await?;
    let signer = match signing_key(&keys, now) {
        Some(k) => Some(import_signer(&ring, k).await?),
        None => None,
    };
    let info = format!("{REFRESH_TOKEN_INFO_PREFIX}{}", org.as_str());
    let mut refresh_keys = vec![webcrypto::derive_aes_key(&ring.current.hkdf, &info).await?];
    if let Some(previous) = &ring.previous {
        refresh_keys.push(webcrypto::derive_aes_key(&previous.hkdf, &info).await?);
    }
    Ok(Some(OrgContext {
        record,
        signer,
        jwks_json,
        own_jwks,
        refresh_keys,
        providers,
        org_keys: org_keys.into_iter().filter(|k| k.is_active()).collect(),
    }))
}

async fn import_signer(ring: &Keyring, k: &SigningKeyRecord) -> Result<Signer, ApiError> {
    let what = format!("signing key {}", k.kid);
    let seed = sealing::open(ring, &k.sealed_seed, &seed_aad(&k.org, &k.kid), &what).await?;
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| ApiError::Misconfigured(format!("{what} is damaged")))?;
    let key = webcrypto::import_ed25519_signing_key(&pkcs8_from_seed(&seed)).await?;
    Ok(Signer {
        encoded_header: encode_ed25519_header(&k.kid, "at+jwt"),
        key,
    })
}
