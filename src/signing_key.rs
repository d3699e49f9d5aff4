//! An org's Ed25519 signing keys as KV stores them: the public half in clear, the 32-byte seed
//! sealed with AES-256-GCM under a key derived from the master secret. Which key signs, and which
//! keys are published, are decided here.

use serde::{Deserialize, Serialize};

use crate::jose::jwk::{thumbprint, OkpJwk};
use crate::jose::{base64url, JoseError};
use crate::org::{OrgId, MAX_ACCESS_TOKEN_TTL_SECS};

/// A retired key stays in the JWKS this long after retirement: every token it signed has expired
/// by then (longest access-token lifetime plus the verifiers' clock leeway).
pub const RETIRED_KEY_PUBLISH_SECS: u64 = MAX_ACCESS_TOKEN_TTL_SECS + 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Retired,
    /// Revoked (a compromise): never signs, never published, every token it signed refused.
    Revoked,
}

/// The seed, encrypted: `iv` and `ciphertext` base64url, `master_key_id` names the key that sealed it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSeed {
    pub master_key_id: String,
    pub iv: String,
    pub ciphertext: String,
}

impl std::fmt::Debug for SealedSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSeed")
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    pub org: OrgId,
    /// base64url of the 32-byte Ed25519 public key.
    pub public_key: String,
    pub sealed_seed: SealedSeed,
    pub status: KeyStatus,
    pub created_at: u64,
    /// The creation time in milliseconds: orders keys created within the same second.
    #[serde(default)]
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<u64>,
}

/// What may be shown about a key to anyone, including list responses: never the seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigningKeyInfo<'a> {
    pub kid: &'a str,
    pub status: KeyStatus,
    pub created_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<u64>,
    pub public_jwk: OkpJwk,
}

impl SigningKeyRecord {
    pub fn kv_key(org: &OrgId, kid: &str) -> String {
        format!("{}{kid}", Self::kv_prefix(org))
    }

    pub fn kv_prefix(org: &OrgId) -> String {
        format!("org/{}/signing-key/", org.as_str())
    }

    pub fn public_key_bytes(&self) -> Result<[u8; 32], JoseError> {
        base64url::decode(&self.public_key)?
            .try_into()
            .map_err(|_| JoseError::InvalidKey)
    }

    pub fn public_jwk(&self) -> Result<OkpJwk, JoseError> {
        Ok(OkpJwk::from_public_key(&self.public_key_bytes()?))
    }

    pub fn info(&self) -> Result<SigningKeyInfo<'_>, JoseError> {
        Ok(SigningKeyInfo {
            kid: &self.kid,
            status: self.status,
            created_at: self.created_at,
            retired_at: self.retired_at,
            public_jwk: self.public_jwk()?,
        })
    }

    /// Published in the JWKS: active keys, and retired ones until their tokens have all expired.
    pub fn is_published(&self, now: u64) -> bool {
        match (self.status, self.retired_at) {
            (KeyStatus::Active, _) => true,
            (KeyStatus::Retired, Some(at)) => now < at.saturating_add(RETIRED_KEY_PUBLISH_SECS),
            (KeyStatus::Retired, None) | (KeyStatus::Revoked, _) => false,
        }
    }

    /// When a retired key leaves the JWKS (`None` while active).
    pub fn unpublished_at(&self) -> Option<u64> {
        match (self.status, self.retired_at) {
            (KeyStatus::Retired | KeyStatus::Revoked, Some(at)) => {
                Some(at.saturating_add(RETIRED_KEY_PUBLISH_SECS))
            }
            _ => None,
        }
    }

    /// Whether the key may sign at `now`: active, or retired by a rotation that has not yet
    /// reached its retirement time.
    pub fn signs_at(&self, now: u64) -> bool {
        match (self.status, self.retired_at) {
            (KeyStatus::Active, _) => true,
            (KeyStatus::Retired, Some(at)) => now < at,
            (KeyStatus::Retired, None) | (KeyStatus::Revoked, _) => false,
        }
    }

    /// Creation order: newest last. Milliseconds when the record has them, then the kid, so every
    /// isolate agrees.
    pub fn creation_order(&self) -> (u64, &str) {
        (
            self.created_at_ms.max(self.created_at.saturating_mul(1000)),
            &self.kid,
        )
    }

    /// A record is consistent when its kid is the thumbprint of its public key.
    pub fn is_consistent(&self) -> bool {
        self.public_key_bytes()
            .map(|pk| thumbprint(&pk) == self.kid)
            .unwrap_or(false)
    }
}

/// A new key is published in the JWKS this long before it signs, so verifiers holding a cached JWKS
/// (served with `max-age` of the same length) already know it when its first token reaches them.
pub const PREPUBLISH_SECS: u64 = 300;

/// When a rotation retires the keys it replaces: as the new key starts signing.
pub fn rotation_retire_at(new: &SigningKeyRecord) -> u64 {
    new.created_at.saturating_add(PREPUBLISH_SECS)
}

/// The key that signs at `now`: the newest key that may sign ([`SigningKeyRecord::signs_at`])
/// and has been published for `PREPUBLISH_SECS`; when none has (a new org, or an emergency
/// rotation that retired every older key), the newest that may sign. Ties are broken by kid, so
/// every isolate agrees.
pub fn signing_key(keys: &[SigningKeyRecord], now: u64) -> Option<&SigningKeyRecord> {
    let newest = |ready: bool| {
        keys.iter()
            .filter(|k| k.signs_at(now))
            .filter(|k| !ready || k.created_at.saturating_add(PREPUBLISH_SECS) <= now)
            .max_by(|a, b| a.creation_order().cmp(&b.creation_order()))
    };
    newest(true).or_else(|| newest(false))
}

/// The additional authenticated data of a sealed seed: it cannot be moved to another org or key.
pub fn seed_aad(org: &OrgId, kid: &str) -> Vec<u8> {
    format!("token-exchange/signing-key/v1/{}/{kid}", org.as_str()).into_bytes()
}

/// PKCS #8 (RFC 8410) wrapping of an Ed25519 seed, the form WebCrypto imports private keys in.
pub fn pkcs8_from_seed(seed: &[u8; 32]) -> [u8; 48] {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut out = [0u8; 48];
    out[..16].copy_from_slice(&PREFIX);
    out[16..].copy_from_slice(seed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::ed25519::Ed25519SigningKey;

    fn record(
        kid_seed: u8,
        status: KeyStatus,
        created_at: u64,
        retired_at: Option<u64>,
    ) -> SigningKeyRecord {
        let pk = Ed25519SigningKey::from_seed(&[kid_seed; 32])
            .unwrap()
            .public_key();
        SigningKeyRecord {
            kid: thumbprint(&pk),
            org: OrgId::parse("acme").unwrap(),
            public_key: base64url::encode(&pk),
            sealed_seed: SealedSeed {
                master_key_id: "m".into(),
                iv: "i".into(),
                ciphertext: "secret-ciphertext".into(),
            },
            status,
            created_at,
            created_at_ms: created_at * 1000,
            retired_at,
        }
    }

    #[test]
    fn newest_active_key_signs() {
        let keys = vec![
            record(1, KeyStatus::Active, 10, None),
            record(2, KeyStatus::Active, 20, None),
            record(3, KeyStatus::Retired, 30, Some(40)),
        ];
        let later = 20 + PREPUBLISH_SECS;
        assert_eq!(signing_key(&keys, later).unwrap().kid, keys[1].kid);
        assert!(signing_key(&keys[2..], later).is_none());
        assert!(signing_key(&[], later).is_none());
    }

    #[test]
    fn within_one_second_the_later_millisecond_signs() {
        let mut first = record(9, KeyStatus::Active, 1000, None);
        let mut second = record(1, KeyStatus::Active, 1000, None);
        first.created_at_ms = 1_000_100;
        second.created_at_ms = 1_000_900;
        let keys = vec![second.clone(), first.clone()];
        assert_eq!(signing_key(&keys, 1000).unwrap().kid, second.kid);
        first.created_at_ms = 1_000_950;
        let keys = vec![second, first.clone()];
        assert_eq!(signing_key(&keys, 1000).unwrap().kid, first.kid);
    }

    #[test]
    fn a_new_key_is_published_before_it_signs() {
        let keys = vec![
            record(1, KeyStatus::Active, 1000, None),
            record(2, KeyStatus::Active, 5000, None),
        ];
        assert_eq!(signing_key(&keys, 5000).unwrap().kid, keys[0].kid);
        assert_eq!(
            signing_key(&keys, 5000 + PREPUBLISH_SECS - 1).unwrap().kid,
            keys[0].kid
        );
        assert_eq!(
            signing_key(&keys, 5000 + PREPUBLISH_SECS).unwrap().kid,
            keys[1].kid
        );
        // The only active key signs at once: a new org, or an emergency rotation.
        assert_eq!(signing_key(&keys[1..], 5000).unwrap().kid, keys[1].kid);
    }

    #[test]
    fn a_rotation_hands_over_when_the_new_key_is_published_long_enough() {
        let new = record(2, KeyStatus::Active, 5000, None);
        let at = rotation_retire_at(&new);
        assert_eq!(at, 5000 + PREPUBLISH_SECS);
        let old = record(1, KeyStatus::Retired, 1000, Some(at));
        let keys = vec![old.clone(), new.clone()];
        assert_eq!(signing_key(&keys, 5000).unwrap().kid, old.kid);
        assert_eq!(signing_key(&keys, at - 1).unwrap().kid, old.kid);
        assert_eq!(signing_key(&keys, at).unwrap().kid, new.kid);
        assert!(old.is_published(at + RETIRED_KEY_PUBLISH_SECS - 1));
        assert!(old.signs_at(at - 1) && !old.signs_at(at));
    }

    #[test]
    fn retired_keys_stay_published_until_their_tokens_expired() {
        let k = record(1, KeyStatus::Retired, 0, Some(1000));
        assert!(k.is_published(1000 + RETIRED_KEY_PUBLISH_SECS - 1));
        assert!(!k.is_published(1000 + RETIRED_KEY_PUBLISH_SECS));
        assert!(record(1, KeyStatus::Active, 0, None).is_published(u64::MAX));
    }

    #[test]
    fn info_and_debug_never_show_the_sealed_seed() {
        let k = record(1, KeyStatus::Active, 0, None);
        let info = serde_json::to_string(&k.info().unwrap()).unwrap();
        assert!(!info.contains("secret-ciphertext"));
        assert!(info.contains(&k.kid));
        assert!(!format!("{k:?}").contains("secret-ciphertext"));
        assert!(k.is_consistent());
        let mut wrong = k.clone();
        wrong.kid = "x".into();
        assert!(!wrong.is_consistent());
    }

    #[test]
    fn pkcs8_layout() {
        let der = pkcs8_from_seed(&[0xab; 32]);
        assert_eq!(der[0], 0x30);
        assert_eq!(usize::from(der[1]), der.len() - 2);
        assert_eq!(&der[16..], &[0xab; 32]);
    }

    #[test]
    fn aad_binds_org_and_kid() {
        let acme = OrgId::parse("acme").unwrap();
        assert_ne!(seed_aad(&acme, "a"), seed_aad(&acme, "b"));
        assert_ne!(
            seed_aad(&acme, "a"),
            seed_aad(&OrgId::parse("acme2").unwrap(), "a")
        );
    }
}
