//! The JWT claims set of our access tokens, decoded strictly from a payload object.

mod audience;
mod scope;
mod validation;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::JoseError;
use super::jws::ParsedJws;
use super::strict_json;

pub use audience::Audience;
pub use scope::{is_valid_scope, is_valid_scope_token};
pub use validation::{validate, ValidationOptions, DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS};

const ISS: &str = "iss";
const SUB: &str = "sub";
const AUD: &str = "aud";
const EXP: &str = "exp";
const NBF: &str = "nbf";
const IAT: &str = "iat";
const JTI: &str = "jti";
const SCOPE: &str = "scope";
const SID: &str = "sid";

/// The claim names that have a field of their own in [`Claims`].
pub const NAMED_CLAIMS: [&str; 9] = [ISS, SUB, AUD, EXP, NBF, IAT, JTI, SCOPE, SID];

/// A claims set. Numeric dates are Unix seconds.
///
/// Deserializing (from a map) applies the same checks as [`Claims::from_object`]; note that a
/// plain `serde_json::from_slice` keeps the last of duplicate member names, so parse untrusted
/// JSON with [`Claims::from_json`] or [`decode_claims`] instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub iat: u64,
    pub jti: String,
    /// RFC 6749 §3.3 scope-tokens separated by single spaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Every other claim (e.g. `"anon": true`); must not repeat a name in [`NAMED_CLAIMS`].
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Claims {
    /// Decodes a payload object. Required: non-empty strings `iss`, `sub`, `jti`; `aud` a
    /// non-empty string or non-empty array of them; numeric dates `exp`, `iat` (non-negative
    /// integers). Optional: `nbf` (numeric date), `scope` (valid scope string), `sid` (string).
    /// Errors: `MissingClaim(name)` / `InvalidClaim(name)`.
    pub fn from_object(mut object: Map<String, Value>) -> Result<Self, JoseError> {
        let claims = Claims {
            iss: required_string(&mut object, ISS)?,
            sub: required_string(&mut object, SUB)?,
            aud: audience(&mut object)?,
            exp: required(numeric_date(&mut object, EXP)?, EXP)?,
            nbf: numeric_date(&mut object, NBF)?,
            iat: required(numeric_date(&mut object, IAT)?, IAT)?,
            jti: required_string(&mut object, JTI)?,
            scope: optional_string(&mut object, SCOPE)?,
            sid: optional_string(&mut object, SID)?,
            extra: object,
        };
        if claims.scope.as_deref().is_some_and(|s| !is_valid_scope(s)) {
            return Err(JoseError::InvalidClaim(SCOPE));
        }
        Ok(claims)
    }

    /// Strict JSON (no duplicate member names) then [`Claims::from_object`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, JoseError> {
        Self::from_object(strict_json::parse_object(bytes)?)
    }

    /// The JSON payload for a token. `InvalidClaim` if `extra` repeats a named claim, or if
    /// `aud`, `scope` or a required string is empty or malformed.
    pub fn to_json(&self) -> Result<Vec<u8>, JoseError> {
        if let Some(name) = NAMED_CLAIMS
            .into_iter()
            .find(|name| self.extra.contains_key(*name))
        {
            return Err(JoseError::InvalidClaim(name));
        }
        for (name, value) in [(ISS, &self.iss), (SUB, &self.sub), (JTI, &self.jti)] {
            if value.is_empty() {
                return Err(JoseError::InvalidClaim(name));
            }
        }
        if !self.aud.is_well_formed() {
            return Err(JoseError::InvalidClaim(AUD));
        }
        if self.scope.as_deref().is_some_and(|s| !is_valid_scope(s)) {
            return Err(JoseError::InvalidClaim(SCOPE));
        }
        serde_json::to_vec(self).map_err(|_| JoseError::InvalidJson)
    }

    /// The scope-tokens of `scope` (none if absent).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .as_deref()
            .into_iter()
            .flat_map(|scope| scope.split(' '))
            .filter(|token| !token.is_empty())
    }

    /// Whether `scope` lists `token`.
    pub fn has_scope(&self, token: &str) -> bool {
        self.scopes().any(|granted| granted == token)
    }
}

impl TryFrom<Map<String, Value>> for Claims {
    type Error = JoseError;

    fn try_from(object: Map<String, Value>) -> Result<Self, JoseError> {
        Claims::from_object(object)
    }
}

/// The claims of a parsed token (whose signature the caller has verified or will verify).
pub fn decode_claims(parsed: &ParsedJws) -> Result<Claims, JoseError> {
    Claims::from_object(parsed.payload().clone())
}

fn required<T>(value: Option<T>, name: &'static str) -> Result<T, JoseError> {
    value.ok_or(JoseError::MissingClaim(name))
}

fn required_string(
    object: &mut Map<String, Value>,
    name: &'static str,
) -> Result<String, JoseError> {
    match required(optional_string(object, name)?, name)? {
        value if value.is_empty() => Err(JoseError::InvalidClaim(name)),
        value => Ok(value),
    }
}

fn optional_string(
    object: &mut Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, JoseError> {
    match object.remove(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(JoseError::InvalidClaim(name)),
    }
}

/// RFC 7519 §2 NumericDate, restricted to non-negative integers: `1.0`, `1e3`, `-1`, `"1"`
/// and `null` are all `InvalidClaim`.
fn numeric_date(
    object: &mut Map<String, Value>,
    name: &'static str,
) -> Result<Option<u64>, JoseError> {
    match object.remove(name) {
        None => Ok(None),
        Some(Value::Number(number)) => number
            .as_u64()
            .map(Some)
            .ok_or(JoseError::InvalidClaim(name)),
        Some(_) => Err(JoseError::InvalidClaim(name)),
    }
}

fn audience(object: &mut Map<String, Value>) -> Result<Audience, JoseError> {
    let audience = match object.remove(AUD) {
        None => return Err(JoseError::MissingClaim(AUD)),
        Some(Value::String(one)) => Audience::One(one),
        Some(Value::Array(items)) => Audience::Many(
            items
                .into_iter()
                .map(|item| match item {
                    Value::String(one) => Ok(one),
                    _ => Err(JoseError::InvalidClaim(AUD)),
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => return Err(JoseError::InvalidClaim(AUD)),
    };
    if audience.is_well_formed() {
        Ok(audience)
    } else {
        Err(JoseError::InvalidClaim(AUD))
    }
}
