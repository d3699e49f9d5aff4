//! The one error type of the JOSE core: a distinct variant per failure, each with a stable code.

use std::fmt;

/// Which of the three segments of a compact JWS a failure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPart {
    Header,
    Payload,
    Signature,
}

impl TokenPart {
    /// Lower-case name, as used in messages.
    pub fn name(self) -> &'static str {
        match self {
            TokenPart::Header => "header",
            TokenPart::Payload => "payload",
            TokenPart::Signature => "signature",
        }
    }
}

/// Every way parsing, verifying or validating a token (or a key) can fail.
///
/// Messages never include attacker-controlled text, so they are safe to log and to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoseError {
    /// The token is longer than the configured maximum (checked before any decoding).
    TokenTooLarge,
    /// The token is not exactly three non-empty, dot-separated segments.
    MalformedToken,
    /// Not strict unpadded base64url: bad alphabet, padding, impossible length or non-zero
    /// trailing bits. Carries the token segment when the input was one.
    InvalidBase64(Option<TokenPart>),
    /// Not valid JSON (syntax, encoding, nesting too deep, or trailing data).
    InvalidJson,
    /// A JSON object has the same member name twice (at any depth).
    DuplicateJsonMember,
    /// A JSON document that must be an object is another JSON type.
    JsonNotObject,
    /// The protected header is valid JSON but not an object.
    HeaderNotObject,
    /// The payload is valid JSON but not an object.
    PayloadNotObject,
    /// The header has no `alg`.
    MissingAlg,
    /// `alg` is not a string, is `none`, or names an algorithm we do not know.
    UnsupportedAlg,
    /// `alg` is a known algorithm that the caller did not allow.
    AlgNotAllowed,
    /// The header's `alg` does not match the kind of key used to verify.
    AlgKeyMismatch,
    /// The header has no `kid`.
    MissingKid,
    /// `kid` is not a string, is empty, or is too long.
    InvalidKid,
    /// No key is known under the token's `kid`.
    UnknownKid,
    /// `crit` is malformed: not an array, empty, has a non-string, duplicate or registered name,
    /// or lists a name that is absent from the header (RFC 7515 §4.1.11).
    InvalidCrit,
    /// `crit` lists an extension that the caller does not understand.
    UnsupportedCrit,
    /// `typ` is missing, not a string, or not the expected media type.
    UnexpectedTyp,
    /// The signature does not verify.
    InvalidSignature,
    /// The signature has the wrong length for its algorithm.
    InvalidSignatureLength,
    /// A key is malformed (wrong length, not a canonical point, small order, all-zero seed, or a
    /// JWK with the wrong `kty`/`crv`/`alg`/`use` or with private members).
    InvalidKey,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not the expected issuer.
    InvalidIssuer,
    /// `aud` does not contain the expected audience.
    InvalidAudience,
    /// A required claim is absent.
    MissingClaim(&'static str),
    /// A claim has the wrong type or an invalid value.
    InvalidClaim(&'static str),
    /// The token was issued longer ago than the maximum age allows.
    TooOld,
    /// The requested clock leeway exceeds the allowed maximum.
    LeewayTooLarge,
}

impl JoseError {
    /// A stable, short, snake_case code for this failure (for logs, metrics and API errors).
    pub fn code(&self) -> &'static str {
        match self {
            JoseError::TokenTooLarge => "token_too_large",
            JoseError::MalformedToken => "malformed_token",
            JoseError::InvalidBase64(_) => "invalid_base64",
            JoseError::InvalidJson => "invalid_json",
            JoseError::DuplicateJsonMember => "duplicate_json_member",
            JoseError::JsonNotObject => "json_not_object",
            JoseError::HeaderNotObject => "header_not_object",
            JoseError::PayloadNotObject => "payload_not_object",
            JoseError::MissingAlg => "missing_alg",
            JoseError::UnsupportedAlg => "unsupported_alg",
            JoseError::AlgNotAllowed => "alg_not_allowed",
            JoseError::AlgKeyMismatch => "alg_key_mismatch",
            JoseError::MissingKid => "missing_kid",
            JoseError::InvalidKid => "invalid_kid",
            JoseError::UnknownKid => "unknown_kid",
            JoseError::InvalidCrit => "invalid_crit",
            JoseError::UnsupportedCrit => "unsupported_crit",
            JoseError::UnexpectedTyp => "unexpected_typ",
            JoseError::InvalidSignature => "invalid_signature",
            JoseError::InvalidSignatureLength => "invalid_signature_length",
            JoseError::InvalidKey => "invalid_key",
            JoseError::Expired => "expired",
            JoseError::NotYetValid => "not_yet_valid",
            JoseError::IssuedInFuture => "issued_in_future",
            JoseError::InvalidIssuer => "invalid_issuer",
            JoseError::InvalidAudience => "invalid_audience",
            JoseError::MissingClaim(_) => "missing_claim",
            JoseError::InvalidClaim(_) => "invalid_claim",
            JoseError::TooOld => "too_old",
            JoseError::LeewayTooLarge => "leeway_too_large",
        }
    }
}

impl fmt::Display for JoseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoseError::TokenTooLarge => f.write_str("token is too large"),
            JoseError::MalformedToken => {
                f.write_str("token is not three non-empty dot-separated segments")
            }
            JoseError::InvalidBase64(Some(part)) => {
                write!(f, "token {} is not strict unpadded base64url", part.name())
            }
            JoseError::InvalidBase64(None) => f.write_str("value is not strict unpadded base64url"),
            JoseError::InvalidJson => f.write_str("invalid JSON"),
            JoseError::DuplicateJsonMember => f.write_str("duplicate JSON object member name"),
            JoseError::JsonNotObject => f.write_str("JSON document is not an object"),
            JoseError::HeaderNotObject => f.write_str("token header is not a JSON object"),
            JoseError::PayloadNotObject => f.write_str("token payload is not a JSON object"),
            JoseError::MissingAlg => f.write_str("token header has no alg"),
            JoseError::UnsupportedAlg => f.write_str("unsupported alg"),
            JoseError::AlgNotAllowed => f.write_str("alg is not allowed"),
            JoseError::AlgKeyMismatch => f.write_str("alg does not match the key type"),
            JoseError::MissingKid => f.write_str("token header has no kid"),
            JoseError::InvalidKid => f.write_str("kid is not a non-empty string of bounded length"),
            JoseError::UnknownKid => f.write_str("no key is known for this kid"),
            JoseError::InvalidCrit => f.write_str("crit header parameter is malformed"),
            JoseError::UnsupportedCrit => f.write_str("crit lists an unsupported extension"),
            JoseError::UnexpectedTyp => f.write_str("typ is not the expected type"),
            JoseError::InvalidSignature => f.write_str("signature does not verify"),
            JoseError::InvalidSignatureLength => f.write_str("signature has the wrong length"),
            JoseError::InvalidKey => f.write_str("invalid key"),
            JoseError::Expired => f.write_str("token has expired"),
            JoseError::NotYetValid => f.write_str("token is not yet valid"),
            JoseError::IssuedInFuture => f.write_str("token is issued in the future"),
            JoseError::InvalidIssuer => f.write_str("unexpected issuer"),
            JoseError::InvalidAudience => f.write_str("token is not for this audience"),
            JoseError::MissingClaim(name) => write!(f, "missing required claim {name}"),
            JoseError::InvalidClaim(name) => write!(f, "invalid claim {name}"),
            JoseError::TooOld => f.write_str("token is older than the maximum age"),
            JoseError::LeewayTooLarge => f.write_str("clock leeway is larger than allowed"),
        }
    }
}

impl std::error::Error for JoseError {}
