//! Shared test fixtures.

use crate::jose::base64url;
use crate::jose::ed25519::Ed25519SigningKey;
use crate::jose::jws;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// RFC 8037 Appendix A.1 private key `d` and public key `x`.
pub const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
pub const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

pub const TEST_KID: &str = "test-key";

/// Lower-case hex to bytes.
pub fn hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd hex length {}", s.len()));
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|digits| u8::from_str_radix(digits, 16).ok())
                .ok_or_else(|| format!("bad hex {pair:?}"))
        })
        .collect()
}

pub fn array<const N: usize>(bytes: Vec<u8>) -> Result<[u8; N], String> {
    <[u8; N]>::try_from(bytes).map_err(|bytes| format!("expected {N} bytes, got {}", bytes.len()))
}

/// The RFC 8037 A.1 key, used as "our" signing key in tests.
pub fn signing_key() -> Result<Ed25519SigningKey, Box<dyn std::error::Error>> {
    let seed = array::<32>(base64url::decode(RFC8037_D)?)?;
    Ok(Ed25519SigningKey::from_seed(&seed)?)
}

/// A correctly signed token over arbitrary header and payload JSON text.
pub fn signed_token(
    header_json: &str,
    payload_json: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let encoded_header = base64url::encode(header_json.as_bytes());
    Ok(jws::sign_ed25519(
        &encoded_header,
        payload_json.as_bytes(),
        &signing_key()?,
    ))
}

/// Header JSON with our kid and the given alg.
pub fn header_json(alg: &str) -> String {
    format!(r#"{{"alg":"{alg}","kid":"{TEST_KID}"}}"#)
}

pub const PAYLOAD_JSON: &str = r#"{"sub":"user-1"}"#;

/// Segments of a compact token, joined with dots.
pub fn join(segments: &[&str]) -> String {
    segments.join(".")
}

/// base64url of a JSON text.
pub fn b64(text: &str) -> String {
    base64url::encode(text.as_bytes())
}
