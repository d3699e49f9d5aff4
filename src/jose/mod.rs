//! The pure JOSE core: strict compact JWS parsing, EdDSA (Ed25519) signing and verification,
//! Ed25519 JWKs, and JWT claims validation. No I/O, no clock, no randomness: time comes in as
//! `now` (Unix seconds) and keys as bytes.
//!
//! Verifying a token: [`jws::parse`] → look up the key by `header().kid` →
//! [`jws::verify_ed25519`] → [`claims::decode_claims`] → [`claims::validate`].

pub mod algorithm;
pub mod base64url;
pub mod claims;
pub mod ed25519;
pub mod error;
pub mod header;
pub mod jwk;
pub mod jws;
pub mod strict_json;

#[cfg(test)]
mod tests;

pub use algorithm::Algorithm;
pub use claims::{decode_claims, validate, Audience, Claims, ValidationOptions, MAX_LEEWAY_SECS};
pub use ed25519::{Ed25519SigningKey, Ed25519VerifyingKey};
pub use error::{JoseError, TokenPart};
pub use header::{encode_ed25519_header, Header};
pub use jwk::{thumbprint, Jwks, OkpJwk};
pub use jws::{
    assemble, parse, sign_ed25519, signing_input, verify_ed25519, ParseOptions, ParsedJws,
    MAX_TOKEN_BYTES,
};
