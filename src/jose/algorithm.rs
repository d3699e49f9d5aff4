//! JWS algorithm names (RFC 7518 §3.1, RFC 8037 §3.1) that may appear on an allow-list.
//!
//! Only `EdDSA` (over Ed25519) is implemented for signing and verification; the others are named
//! so that an allow-list for tokens from other issuers can mention them.

use std::fmt;

use super::error::JoseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    EdDSA,
    RS256,
    ES256,
    HS256,
}

impl Algorithm {
    /// Parses an `alg` value; names are case-sensitive. `none` and every other name is
    /// `UnsupportedAlg`.
    pub fn from_name(name: &str) -> Result<Self, JoseError> {
        match name {
            "EdDSA" => Ok(Algorithm::EdDSA),
            "RS256" => Ok(Algorithm::RS256),
            "ES256" => Ok(Algorithm::ES256),
            "HS256" => Ok(Algorithm::HS256),
            _ => Err(JoseError::UnsupportedAlg),
        }
    }

    /// The registered `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            Algorithm::HS256 => "HS256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
