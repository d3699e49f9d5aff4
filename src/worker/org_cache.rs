//! Everything a hot request needs about an org, loaded from KV once and kept in the isolate:
//! settings, the imported signing key with its encoded JWS header, the serialized JWKS, and the
//! refresh-token sealing key. A warm request touches no KV and decrypts nothing.

use std::cell::RefCell;
use std::rc::Rc;

use web_sys::CryptoKey;
use worker::Env;

use super::clock::now_ms;
use super::config::Keyring;
use super::{config, kv, sealing, webcrypto};
use crate::api_error::ApiError;
use crate::bounded_map::BoundedMap;
use crate::org::OrgId;
use crate::org_state::OrgState;
use crate::secret::REFRESH_TOKEN_INFO_PREFIX;
use crate::signing_key::{pkcs8_from_seed, seed_aad, SigningKeyRecord};

/// How long an isolate trusts what it loaded. Changes made through this isolate apply at once;
/// other isolates see them within this time.
const TTL_MS: u64 = 30_000;
/// Unknown orgs are remembered briefly, so a flood of requests for one costs one KV read.
const MISSING_TTL_MS: u64 = 5_000;
/// Bound on cached orgs per isolate.
const MAX_ENTRIES: usize = 1024;

/// An org as a request sees it: its state (pure data, shared with the flows) and the WebCrypto
/// keys imported for it.
pub struct OrgContext {
    pub org: Rc<OrgState>,
    /// The active signing key (`org.signing`), imported for signing.
    pub signing_key: Option<CryptoKey>,
    /// Refresh-token keys: the current master key's first (it seals), then during a rotation the
    /// previous one's (it still opens).
    pub refresh_keys: Vec<CryptoKey>,
}

enum Entry {
    Found(Rc<OrgContext>),
    Missing,
}

thread_local! {
    static CACHE: RefCell<BoundedMap<OrgId, (u64, Rc<Entry>)>> =
        RefCell::new(BoundedMap::new(MAX_ENTRIES));
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
    let providers = kv::list_providers(&store, org).await?;
    let state = OrgState::new(record, &keys, org_keys, providers, now_ms() / 1000);
    let signing_key = match &state.signing {
        Some(header) => match keys.iter().find(|k| k.kid == header.kid) {
            Some(k) => Some(import_signing_key(&ring, k).await?),
            None => None,
        },
        None => None,
    };
    let info = format!("{REFRESH_TOKEN_INFO_PREFIX}{}", org.as_str());
    let mut refresh_keys = vec![webcrypto::derive_aes_key(&ring.current.hkdf, &info).await?];
    if let Some(previous) = &ring.previous {
        refresh_keys.push(webcrypto::derive_aes_key(&previous.hkdf, &info).await?);
    }
    Ok(Some(OrgContext {
        org: Rc::new(state),
        signing_key,
        refresh_keys,
    }))
}

async fn import_signing_key(ring: &Keyring, k: &SigningKeyRecord) -> Result<CryptoKey, ApiError> {
    let what = format!("signing key {}", k.kid);
    let seed = sealing::open(ring, &k.sealed_seed, &seed_aad(&k.org, &k.kid), &what).await?;
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| ApiError::Misconfigured(format!("{what} is damaged")))?;
    webcrypto::import_ed25519_signing_key(&pkcs8_from_seed(&seed)).await
}
