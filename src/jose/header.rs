//! The JWS protected header (RFC 7515 §4): validation of a decoded header object, and the
//! encoded header we put on our own EdDSA tokens.

use serde_json::{Map, Value};

use super::algorithm::Algorithm;
use super::base64url;
use super::error::JoseError;

/// Longest accepted `kid`, in bytes.
pub const MAX_KID_BYTES: usize = 256;

/// Header parameter names registered by RFC 7515 / RFC 7518 for JWS; they must never appear in
/// `crit` (RFC 7515 §4.1.11).
const REGISTERED_PARAMS: [&str; 11] = [
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
];

/// A validated protected header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// On the caller's allow-list.
    pub alg: Algorithm,
    /// Non-empty, at most [`MAX_KID_BYTES`] bytes.
    pub kid: String,
    /// As received (matching is done on a normalized form).
    pub typ: Option<String>,
    /// Only ever names that the caller said it understands.
    pub crit: Option<Vec<String>>,
    /// Every header parameter as received, including the ones above.
    pub params: Map<String, Value>,
}

impl Header {
    /// Validates a decoded header object:
    /// - `alg` present (`MissingAlg`), a known name other than `none` (`UnsupportedAlg`) and in
    ///   `allowed_algs` (`AlgNotAllowed`);
    /// - `kid` present (`MissingKid`), a non-empty string of at most [`MAX_KID_BYTES`]
    ///   (`InvalidKid`);
    /// - `crit`, if present, well-formed (`InvalidCrit`) and listing only `understood_crit`
    ///   names (`UnsupportedCrit`);
    /// - `typ`, if `expected_typ` is given, present and equal to it as a media type
    ///   (`UnexpectedTyp`); if present at all, a string.
    pub fn from_object(
        params: Map<String, Value>,
        allowed_algs: &[Algorithm],
        expected_typ: Option<&str>,
        understood_crit: &[&str],
    ) -> Result<Self, JoseError> {
        Self::validate(params, allowed_algs, expected_typ, understood_crit, true)
    }

    /// As [`Header::from_object`], but with `require_kid` false a header without `kid` is
    /// accepted and `kid` is then empty (tokens of other issuers, whose single key needs none).
    pub fn validate(
        params: Map<String, Value>,
        allowed_algs: &[Algorithm],
        expected_typ: Option<&str>,
        understood_crit: &[&str],
        require_kid: bool,
    ) -> Result<Self, JoseError> {
        let alg = parse_alg(&params, allowed_algs)?;
        let kid = match parse_kid(&params) {
            Err(JoseError::MissingKid) if !require_kid => String::new(),
            other => other?,
        };
        let crit = parse_crit(&params, understood_crit)?;
        let typ = parse_typ(&params, expected_typ)?;
        Ok(Header {
            alg,
            kid,
            typ,
            crit,
            params,
        })
    }
}

fn parse_alg(params: &Map<String, Value>, allowed: &[Algorithm]) -> Result<Algorithm, JoseError> {
    let name = match params.get("alg") {
        None => return Err(JoseError::MissingAlg),
        Some(Value::String(name)) => name,
        Some(_) => return Err(JoseError::UnsupportedAlg),
    };
    let alg = Algorithm::from_name(name)?;
    if allowed.contains(&alg) {
        Ok(alg)
    } else {
        Err(JoseError::AlgNotAllowed)
    }
}

fn parse_kid(params: &Map<String, Value>) -> Result<String, JoseError> {
    match params.get("kid") {
        None => Err(JoseError::MissingKid),
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_BYTES => {
            Ok(kid.clone())
        }
        Some(_) => Err(JoseError::InvalidKid),
    }
}

/// RFC 7515 §4.1.11: a non-empty array of distinct strings, none registered by the JWS/JWA
/// specifications, each naming a parameter present in the header; then every name understood.
fn parse_crit(
    params: &Map<String, Value>,
    understood: &[&str],
) -> Result<Option<Vec<String>>, JoseError> {
    let entries = match params.get("crit") {
        None => return Ok(None),
        Some(Value::Array(entries)) if !entries.is_empty() => entries,
        Some(_) => return Err(JoseError::InvalidCrit),
    };
    let mut names: Vec<String> = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::String(name) = entry else {
            return Err(JoseError::InvalidCrit);
        };
        let malformed = REGISTERED_PARAMS.contains(&name.as_str())
            || names.contains(name)
            || !params.contains_key(name);
        if malformed {
            return Err(JoseError::InvalidCrit);
        }
        names.push(name.clone());
    }
    if names.iter().all(|name| understood.contains(&name.as_str())) {
        Ok(Some(names))
    } else {
        Err(JoseError::UnsupportedCrit)
    }
}

fn parse_typ(
    params: &Map<String, Value>,
    expected: Option<&str>,
) -> Result<Option<String>, JoseError> {
    let typ = match params.get("typ") {
        None => None,
        Some(Value::String(typ)) => Some(typ),
        Some(_) => return Err(JoseError::UnexpectedTyp),
    };
    match (expected, typ) {
        (None, _) => Ok(typ.cloned()),
        (Some(expected), Some(typ)) if same_media_type(typ, expected) => Ok(Some(typ.clone())),
        (Some(_), _) => Err(JoseError::UnexpectedTyp),
    }
}

/// RFC 7515 §4.1.9: a `typ` without '/' means `application/<typ>`; media types compare
/// case-insensitively (RFC 2045 §5.1).
pub fn same_media_type(a: &str, b: &str) -> bool {
    normalized_media_type(a) == normalized_media_type(b)
}

fn normalized_media_type(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    if lower.contains('/') {
        lower
    } else {
        format!("application/{lower}")
    }
}

/// The base64url-encoded protected header `{"alg":"EdDSA","typ":<typ>,"kid":<kid>}` for our own
/// tokens. Compute it once per key and reuse it. The caller supplies a valid `kid` (non-empty,
/// at most [`MAX_KID_BYTES`]), e.g. the key's RFC 7638 thumbprint.
pub fn encode_ed25519_header(kid: &str, typ: &str) -> String {
    let json = format!(
        r#"{{"alg":"EdDSA","typ":{},"kid":{}}}"#,
        json_string(typ),
        json_string(kid)
    );
    base64url::encode(json.as_bytes())
}

/// A JSON string literal (quoted and escaped) for `value`.
fn json_string(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}
