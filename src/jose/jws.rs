//! Compact JWS (RFC 7515 §7.1): strict parsing, EdDSA verification, and signing.

use serde_json::{Map, Value};

use super::algorithm::Algorithm;
use super::base64url;
use super::ed25519::{Ed25519SigningKey, Ed25519VerifyingKey, SIGNATURE_BYTES};
use super::error::{JoseError, TokenPart};
use super::header::Header;
use super::strict_json;

/// Default upper bound on a token's length, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// What [`parse`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions<'a> {
    /// Accepted `alg` values.
    pub allowed_algs: &'a [Algorithm],
    /// If set, `typ` must be present and equal to this media type (see
    /// [`super::header::same_media_type`]).
    pub expected_typ: Option<&'a str>,
    /// `crit` extension names we implement (none today).
    pub understood_crit: &'a [&'a str],
    /// Longer tokens are refused before any decoding.
    pub max_token_bytes: usize,
    /// Refuse a header without `kid` (`MissingKid`). Our own tokens always carry one.
    pub require_kid: bool,
}

impl ParseOptions<'static> {
    /// EdDSA only, any `typ`, no `crit` extensions, [`MAX_TOKEN_BYTES`].
    pub const fn eddsa_only() -> Self {
        ParseOptions {
            allowed_algs: &[Algorithm::EdDSA],
            expected_typ: None,
            understood_crit: &[],
            max_token_bytes: MAX_TOKEN_BYTES,
            require_kid: true,
        }
    }
}

impl<'a> ParseOptions<'a> {
    /// The same options, requiring `typ` to be `typ`.
    pub const fn with_expected_typ(self, typ: &'a str) -> Self {
        ParseOptions {
            expected_typ: Some(typ),
            ..self
        }
    }
}

impl Default for ParseOptions<'static> {
    fn default() -> Self {
        Self::eddsa_only()
    }
}

/// A structurally valid compact JWS whose signature has NOT been checked yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedJws {
    header: Header,
    payload: Map<String, Value>,
    payload_bytes: Vec<u8>,
    signing_input: String,
    signature: Vec<u8>,
}

impl ParsedJws {
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The payload object (duplicate member names were refused).
    pub fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }

    /// The decoded payload bytes exactly as signed.
    pub fn payload_bytes(&self) -> &[u8] {
        &self.payload_bytes
    }

    /// `<header>.<payload>` exactly as it appears in the token: the bytes the signature covers.
    pub fn signing_input(&self) -> &str {
        &self.signing_input
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Takes the payload object out, e.g. to build claims without a copy.
    pub fn into_payload(self) -> Map<String, Value> {
        self.payload
    }
}

/// Parses a compact JWS. In order: length (`TokenTooLarge`, before any decoding), three
/// non-empty segments (`MalformedToken`), each segment strict base64url (`InvalidBase64`), the
/// header strict JSON object (`InvalidJson`, `DuplicateJsonMember`, `HeaderNotObject`) obeying
/// the header rules ([`Header::from_object`]), the payload a strict JSON object (…,
/// `PayloadNotObject`). The signature is only decoded: call a `verify_*` function next.
pub fn parse(token: &str, opts: &ParseOptions) -> Result<ParsedJws, JoseError> {
    if token.len() > opts.max_token_bytes {
        return Err(JoseError::TokenTooLarge);
    }
    let (encoded_header, encoded_payload, encoded_signature) = split_segments(token)?;

    let header_bytes = base64url::decode_part(encoded_header, TokenPart::Header)?;
    let payload_bytes = base64url::decode_part(encoded_payload, TokenPart::Payload)?;
    let signature = base64url::decode_part(encoded_signature, TokenPart::Signature)?;

    let Value::Object(header_params) = strict_json::parse_value(&header_bytes)? else {
        return Err(JoseError::HeaderNotObject);
    };
    let header = Header::validate(
        header_params,
        opts.allowed_algs,
        opts.expected_typ,
        opts.understood_crit,
        opts.require_kid,
    )?;
    let Value::Object(payload) = strict_json::parse_value(&payload_bytes)? else {
        return Err(JoseError::PayloadNotObject);
    };

    Ok(ParsedJws {
        header,
        payload,
        payload_bytes,
        signing_input: format!("{encoded_header}.{encoded_payload}"),
        signature,
    })
}

/// Exactly three dot-separated segments, none empty.
fn split_segments(token: &str) -> Result<(&str, &str, &str), JoseError> {
    let mut segments = token.split('.');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(header), Some(payload), Some(signature), None)
            if !header.is_empty() && !payload.is_empty() && !signature.is_empty() =>
        {
            Ok((header, payload, signature))
        }
        _ => Err(JoseError::MalformedToken),
    }
}

/// Checks an EdDSA token's signature: `AlgKeyMismatch` unless its `alg` is EdDSA,
/// `InvalidSignatureLength` unless the signature is 64 bytes, `InvalidSignature` unless it
/// verifies over the signing input.
pub fn verify_ed25519(parsed: &ParsedJws, key: &Ed25519VerifyingKey) -> Result<(), JoseError> {
    if parsed.header.alg != Algorithm::EdDSA {
        return Err(JoseError::AlgKeyMismatch);
    }
    if parsed.signature.len() != SIGNATURE_BYTES {
        return Err(JoseError::InvalidSignatureLength);
    }
    key.verify(parsed.signing_input.as_bytes(), &parsed.signature)
}

/// `<encoded_header>.<base64url(payload_json)>`.
pub fn signing_input(encoded_header: &str, payload_json: &[u8]) -> String {
    format!("{encoded_header}.{}", base64url::encode(payload_json))
}

/// `<signing_input>.<base64url(signature)>`.
pub fn assemble(signing_input: &str, signature: &[u8; SIGNATURE_BYTES]) -> String {
    format!("{signing_input}.{}", base64url::encode(signature))
}

/// A compact EdDSA JWS of `payload_json` under an already encoded header (see
/// [`super::header::encode_ed25519_header`]).
pub fn sign_ed25519(encoded_header: &str, payload_json: &[u8], key: &Ed25519SigningKey) -> String {
    let input = signing_input(encoded_header, payload_json);
    let signature = key.sign(input.as_bytes());
    assemble(&input, &signature)
}
