//! Strict unpadded base64url (RFC 7515 §2, RFC 4648 §5).
//!
//! `URL_SAFE_NO_PAD` of the `base64` crate decodes with `DecodePaddingMode::RequireNone` (any `=`
//! is an error) and without `decode_allow_trailing_bits` (non-zero unused bits are an error), so
//! every byte string has exactly one accepted encoding. The tests pin that behaviour.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::error::{JoseError, TokenPart};

/// Encodes without padding.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes canonical unpadded base64url; anything else is `InvalidBase64(None)`.
pub fn decode(s: &str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JoseError::InvalidBase64(None))
}

/// Like [`decode`], with the failing token segment named in the error.
pub fn decode_part(s: &str, part: TokenPart) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JoseError::InvalidBase64(Some(part)))
}
