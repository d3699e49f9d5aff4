//! Ed25519 public keys as JWK (RFC 8037 §2), their RFC 7638 thumbprint, and the JWK Set.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::base64url;
use super::ed25519::{Ed25519VerifyingKey, PUBLIC_KEY_BYTES};
use super::error::JoseError;
use super::header::MAX_KID_BYTES;

/// RFC 7638 thumbprint of an Ed25519 public key: base64url(SHA-256) of the required members in
/// lexicographic order, without whitespace (RFC 8037 §2 and Appendix A.3).
pub fn thumbprint(public_key: &[u8; PUBLIC_KEY_BYTES]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        base64url::encode(public_key)
    );
    base64url::encode(&Sha256::digest(canonical.as_bytes()))
}

/// A public Ed25519 signing key:
/// `{"kty":"OKP","crv":"Ed25519","x":…,"kid":…,"alg":"EdDSA","use":"sig"}`.
///
/// Deserializing checks `kty` and `crv`, that `x` is strict base64url of a valid public key,
/// that `alg`/`use` (optional) are `EdDSA`/`sig`, that `kid` (defaulting to the thumbprint) is
/// valid, and that no private member `d` is present; each failure is `InvalidKey` or
/// `InvalidKid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "JwkMembers", into = "JwkMembers")]
pub struct OkpJwk {
    public_key: [u8; PUBLIC_KEY_BYTES],
    kid: String,
}

impl OkpJwk {
    /// The JWK for `public_key`, with its RFC 7638 thumbprint as `kid`.
    pub fn from_public_key(public_key: &[u8; PUBLIC_KEY_BYTES]) -> Self {
        OkpJwk {
            public_key: *public_key,
            kid: thumbprint(public_key),
        }
    }

    /// The JWK for `public_key` under a chosen `kid` (`InvalidKid` if empty or too long).
    pub fn with_kid(public_key: &[u8; PUBLIC_KEY_BYTES], kid: &str) -> Result<Self, JoseError> {
        if kid.is_empty() || kid.len() > MAX_KID_BYTES {
            return Err(JoseError::InvalidKid);
        }
        Ok(OkpJwk {
            public_key: *public_key,
            kid: kid.to_owned(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_BYTES] {
        &self.public_key
    }

    /// The `x` member: base64url of the public key.
    pub fn x(&self) -> String {
        base64url::encode(&self.public_key)
    }

    /// `InvalidKey` if the bytes are not a usable public key (only possible for a JWK built
    /// from unchecked bytes; deserialized JWKs are already checked).
    pub fn verifying_key(&self) -> Result<Ed25519VerifyingKey, JoseError> {
        Ed25519VerifyingKey::from_bytes(&self.public_key)
    }
}

/// A JWK Set (RFC 7517 §5): `{"keys":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<OkpJwk>,
}

impl Jwks {
    pub fn find(&self, kid: &str) -> Option<&OkpJwk> {
        self.keys.iter().find(|jwk| jwk.kid == kid)
    }

    /// The verifying key published under `kid` (`UnknownKid` if none).
    pub fn verifying_key(&self, kid: &str) -> Result<Ed25519VerifyingKey, JoseError> {
        self.find(kid)
            .ok_or(JoseError::UnknownKid)
            .and_then(OkpJwk::verifying_key)
    }

    /// The raw public key published under `kid` (`UnknownKid` if none), without
    /// [`verifying_key`](Self::verifying_key)'s point validation, which costs about as much as a
    /// signature check. For the worker's own signing keys, which it generated itself, verified
    /// through WebCrypto; native verification goes through `verifying_key`.
    pub fn public_key(&self, kid: &str) -> Result<[u8; PUBLIC_KEY_BYTES], JoseError> {
        self.find(kid)
            .map(|jwk| *jwk.public_key())
            .ok_or(JoseError::UnknownKid)
    }
}

/// The JSON members, in the order we write them.
#[derive(Serialize, Deserialize)]
struct JwkMembers {
    kty: String,
    crv: String,
    x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    key_use: Option<String>,
    /// Only read, to refuse private keys.
    #[serde(default, skip_serializing)]
    d: Option<IgnoredAny>,
}

impl TryFrom<JwkMembers> for OkpJwk {
    type Error = JoseError;

    fn try_from(members: JwkMembers) -> Result<Self, JoseError> {
        let well_typed = members.kty == "OKP"
            && members.crv == "Ed25519"
            && members.alg.as_deref().is_none_or(|alg| alg == "EdDSA")
            && members
                .key_use
                .as_deref()
                .is_none_or(|key_use| key_use == "sig")
            && members.d.is_none();
        if !well_typed {
            return Err(JoseError::InvalidKey);
        }
        let x = base64url::decode(&members.x).map_err(|_| JoseError::InvalidKey)?;
        let key = Ed25519VerifyingKey::from_bytes(&x)?;
        let public_key = key.to_bytes();
        match members.kid {
            Some(kid) => OkpJwk::with_kid(&public_key, &kid),
            None => Ok(OkpJwk::from_public_key(&public_key)),
        }
    }
}

impl From<OkpJwk> for JwkMembers {
    fn from(jwk: OkpJwk) -> Self {
        JwkMembers {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: jwk.x(),
            kid: Some(jwk.kid),
            alg: Some("EdDSA".to_owned()),
            key_use: Some("sig".to_owned()),
            d: None,
        }
    }
}
