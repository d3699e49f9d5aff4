//! Ed25519 (RFC 8032) signing and verification through `ed25519-compact`.
//!
//! Signing is deterministic (no noise), so signatures equal RFC 8032 / WebCrypto output byte for
//! byte. Verifying keys are checked once, at construction: canonical encoding of a point that is
//! not of small order.

use std::fmt;

use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};

use super::base64url;
use super::error::JoseError;

/// Length of a seed (the RFC 8032 private key), a public key, and a signature.
pub const SEED_BYTES: usize = 32;
pub const PUBLIC_KEY_BYTES: usize = 32;
pub const SIGNATURE_BYTES: usize = 64;

/// A private signing key. Its `Debug` output never shows the seed.
#[derive(Clone)]
pub struct Ed25519SigningKey {
    key_pair: KeyPair,
}

impl Ed25519SigningKey {
    /// Derives the key pair from a 32-byte seed. The all-zero seed is refused (`InvalidKey`):
    /// it is what an unset secret looks like, never a generated one.
    pub fn from_seed(seed: &[u8; SEED_BYTES]) -> Result<Self, JoseError> {
        let key_pair =
            KeyPair::try_from_seed(Seed::new(*seed)).map_err(|_| JoseError::InvalidKey)?;
        Ok(Ed25519SigningKey { key_pair })
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_BYTES] {
        *self.key_pair.pk
    }

    /// The matching verifying key.
    pub fn verifying_key(&self) -> Ed25519VerifyingKey {
        Ed25519VerifyingKey {
            public_key: self.key_pair.pk,
        }
    }

    /// Deterministic RFC 8032 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_BYTES] {
        *self.key_pair.sk.sign(message, None)
    }
}

impl fmt::Debug for Ed25519SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519SigningKey")
            .field("public_key", &base64url::encode(&self.public_key()))
            .field("seed", &"<redacted>")
            .finish()
    }
}

/// A validated public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ed25519VerifyingKey {
    public_key: PublicKey,
}

impl Ed25519VerifyingKey {
    /// Accepts exactly 32 bytes that encode a curve point canonically and not of small order;
    /// anything else is `InvalidKey`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, JoseError> {
        let public_key = PublicKey::from_slice(bytes).map_err(|_| JoseError::InvalidKey)?;
        public_key.validate().map_err(|_| JoseError::InvalidKey)?;
        Ok(Ed25519VerifyingKey { public_key })
    }

    /// The raw public key.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_BYTES] {
        *self.public_key
    }

    /// `InvalidSignatureLength` unless `signature` is 64 bytes; `InvalidSignature` unless it is
    /// a valid (canonical) signature of `message` under this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), JoseError> {
        let signature =
            Signature::from_slice(signature).map_err(|_| JoseError::InvalidSignatureLength)?;
        self.public_key
            .verify(message, &signature)
            .map_err(|_| JoseError::InvalidSignature)
    }
}

impl fmt::Debug for Ed25519VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ed25519VerifyingKey")
            .field(&base64url::encode(&self.to_bytes()))
            .finish()
    }
}
