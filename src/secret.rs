//! Worker secrets: the master key (parsed, never printed) and constant-time credential checks.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::jose::base64url;

/// Name of the Worker secret holding the 32-byte master key, base64url (or standard base64).
pub const MASTER_KEY_SECRET: &str = "MASTER_KEY";
/// Name of the Worker secret holding the platform operator's bearer token.
pub const OPERATOR_TOKEN_SECRET: &str = "OPERATOR_TOKEN";
/// An operator token shorter than this is refused as a misconfiguration.
pub const MIN_OPERATOR_TOKEN_LEN: usize = 32;

/// HKDF `info` labels: one derived key per purpose, so no key ever serves two.
pub const SIGNING_KEY_SEAL_INFO: &str = "token-exchange/v1/signing-key-seal";
pub const REFRESH_TOKEN_INFO_PREFIX: &str = "token-exchange/v1/refresh-token/";

pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Accepts 32 bytes as base64url or standard base64, with or without padding.
    pub fn parse(text: &str) -> Option<Self> {
        let normalized: String = text
            .trim()
            .trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        let bytes = base64url::decode(&normalized).ok()?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(arr))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short public id of the key (8 base64url characters of a SHA-256), stored beside every
    /// record sealed with it, so a rotation can tell which key opens which record.
    pub fn id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"token-exchange master key id\0")
            .chain_update(self.0)
            .finalize();
        base64url::encode(&digest[..6])
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Compares a presented secret with the expected one in time independent of where they differ
/// (both are hashed first, so the length of the expected secret does not leak either).
pub fn secrets_equal(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_key_accepts_both_base64_alphabets_and_32_bytes_only() {
        let url = base64url::encode(&[0xfb; 32]);
        let std_b64 = url.replace('-', "+").replace('_', "/") + "=";
        assert_eq!(MasterKey::parse(&url).unwrap().bytes(), &[0xfb; 32]);
        assert_eq!(MasterKey::parse(&std_b64).unwrap().bytes(), &[0xfb; 32]);
        assert!(MasterKey::parse(&base64url::encode(&[1; 31])).is_none());
        assert!(MasterKey::parse("not base64!").is_none());
        assert!(MasterKey::parse("").is_none());
    }

    #[test]
    fn master_key_never_prints() {
        let k = MasterKey::parse(&base64url::encode(&[9; 32])).unwrap();
        assert_eq!(format!("{k:?}"), "MasterKey(<redacted>)");
        assert_eq!(k.id().len(), 8);
        assert_ne!(
            k.id(),
            MasterKey::parse(&base64url::encode(&[8; 32])).unwrap().id()
        );
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("", "abc"));
    }

    #[test]
    fn bearer() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
