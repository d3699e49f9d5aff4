//! The identity provider's token presented as `subject_token`: which provider it claims to come
//! from, strict parsing under that provider's algorithms, and its claims checked against the
//! provider's settings. The signature is checked by the caller in between (WebCrypto or Ed25519).

use serde_json::{Map, Value};

use crate::api_error::ApiError;
use crate::jose::jws::{self, ParseOptions, ParsedJws, MAX_TOKEN_BYTES};
use crate::jose::{base64url, Algorithm, JoseError};
use crate::provider::ProviderSettings;

/// Longest upstream `sub` accepted.
const MAX_SUB_BYTES: usize = 256;

/// An invalid subject token: RFC 8693 §2.2.2 makes it `invalid_request`; the check is named.
pub fn rejected(why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_request(format!("subject_token rejected: {why}"))
}

/// The `iss` a token claims, read without verifying anything, to pick the provider whose keys
/// then verify it. Size is checked first.
pub fn claimed_issuer(token: &str) -> Result<String, ApiError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(rejected(JoseError::TokenTooLarge));
    }
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| rejected(JoseError::MalformedToken))?;
    let bytes = base64url::decode(payload).map_err(rejected)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| rejected("invalid JSON"))?;
    value
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| rejected("missing required claim iss"))
}

/// Strict parsing with the provider's algorithms; `kid` may be absent.
pub fn parse(token: &str, provider: &ProviderSettings) -> Result<ParsedJws, ApiError> {
    let algs: Vec<Algorithm> = provider
        .algorithms
        .iter()
        .filter_map(|a| Algorithm::from_name(a).ok())
        .collect();
    let opts = ParseOptions {
        allowed_algs: &algs,
        require_kid: false,
        ..ParseOptions::eddsa_only()
    };
    jws::parse(token, &opts).map_err(rejected)
}

/// What the exchange keeps of a verified upstream token.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamIdentity {
    pub sub: String,
    pub claims: Map<String, Value>,
}

/// RFC 7519 NumericDate: a non-negative number (fractions are cut); `InvalidClaim` otherwise.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, ApiError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| Some(f as u64))
            .ok_or_else(|| rejected(JoseError::InvalidClaim(name))),
        Some(_) => Err(rejected(JoseError::InvalidClaim(name))),
    }
}

/// Checks the claims of a token whose signature verified: `iss`, `aud`, `sub`, `exp`, `nbf`, `iat`
/// and the maximum age, with the provider's leeway.
pub fn validate(
    claims: Map<String, Value>,
    provider: &ProviderSettings,
    now: u64,
) -> Result<UpstreamIdentity, ApiError> {
    if claims.get("iss").and_then(Value::as_str) != Some(provider.issuer.as_str()) {
        return Err(rejected(JoseError::InvalidIssuer));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => provider.audiences.contains(a),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| provider.audiences.iter().any(|p| p == a)),
        None => return Err(rejected(JoseError::MissingClaim("aud"))),
        Some(_) => return Err(rejected(JoseError::InvalidClaim("aud"))),
    };
    if !aud_ok {
        return Err(rejected(JoseError::InvalidAudience));
    }
    let sub = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUB_BYTES => s.clone(),
        None => return Err(rejected(JoseError::MissingClaim("sub"))),
        Some(_) => return Err(rejected(JoseError::InvalidClaim("sub"))),
    };
    let leeway = provider.leeway_secs;
    let latest = now.saturating_add(leeway);
    let exp =
        numeric_date(&claims, "exp")?.ok_or_else(|| rejected(JoseError::MissingClaim("exp")))?;
    if now >= exp.saturating_add(leeway) {
        return Err(rejected(JoseError::Expired));
    }
    if numeric_date(&claims, "nbf")?.is_some_and(|nbf| nbf > latest) {
        return Err(rejected(JoseError::NotYetValid));
    }
    let iat = numeric_date(&claims, "iat")?;
    if iat.is_some_and(|iat| iat > latest) {
        return Err(rejected(JoseError::IssuedInFuture));
    }
    if let Some(max_age) = provider.max_token_age_secs {
        let iat = iat.ok_or_else(|| rejected(JoseError::MissingClaim("iat")))?;
        if now.saturating_sub(iat) > max_age.saturating_add(leeway) {
            return Err(rejected(JoseError::TooOld));
        }
    }
    Ok(UpstreamIdentity { sub, claims })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn provider() -> ProviderSettings {
        ProviderSettings {
            issuer: "https://idp.test".into(),
            jwks_uri: Some("https://idp.test/jwks".into()),
            jwks: None,
            algorithms: vec!["RS256".into()],
            audiences: vec!["client-1".into()],
            leeway_secs: 30,
            max_token_age_secs: Some(600),
            claim_mapping: Default::default(),
            subject_prefix: "idp|".into(),
            allowed_scopes: vec![],
            default_scopes: vec![],
            allowed_audiences: vec![],
        }
    }

    fn claims(patch: Value) -> Map<String, Value> {
        let mut c = json!({"iss": "https://idp.test", "aud": "client-1", "sub": "u1",
                           "iat": NOW - 10, "exp": NOW + 300})
        .as_object()
        .unwrap()
        .clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
        c
    }

    #[test]
    fn a_good_token_passes() {
        let id = validate(claims(json!({})), &provider(), NOW).unwrap();
        assert_eq!(id.sub, "u1");
        let many = claims(json!({"aud": ["other", "client-1"], "exp": (NOW + 300) as f64 + 0.5}));
        assert!(validate(many, &provider(), NOW).is_ok());
    }

    #[test]
    fn every_failure_is_invalid_request_naming_the_check() {
        let cases = [
            (json!({"iss": "https://evil.test"}), "unexpected issuer"),
            (json!({"aud": "client-2"}), "not for this audience"),
            (json!({"aud": null}), "missing required claim aud"),
            (json!({"sub": ""}), "invalid claim sub"),
            (json!({"sub": null}), "missing required claim sub"),
            (json!({"exp": null}), "missing required claim exp"),
            (json!({"exp": NOW - 31}), "expired"),
            (json!({"exp": "soon"}), "invalid claim exp"),
            (json!({"nbf": NOW + 31}), "not yet valid"),
            (json!({"iat": NOW + 31}), "issued in the future"),
            (json!({"iat": NOW - 631}), "older than the maximum age"),
            (json!({"iat": null}), "missing required claim iat"),
        ];
        for (patch, why) in cases {
            let e = validate(claims(patch.clone()), &provider(), NOW).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{patch}");
            assert!(e.description().contains(why), "{patch}: {e}");
        }
        // Within the leeway.
        assert!(validate(claims(json!({"exp": NOW - 29})), &provider(), NOW).is_ok());
    }

    #[test]
    fn the_claimed_issuer_is_read_before_verification() {
        let payload = base64url::encode(br#"{"iss":"https://idp.test"}"#);
        assert_eq!(
            claimed_issuer(&format!("e30.{payload}.sig")).unwrap(),
            "https://idp.test"
        );
        assert!(claimed_issuer("nodots").is_err());
        let big = format!("e30.{}.s", "A".repeat(MAX_TOKEN_BYTES));
        assert!(claimed_issuer(&big)
            .unwrap_err()
            .description()
            .contains("too large"));
    }
}
