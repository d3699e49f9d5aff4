//! What an exchange grants: the scope (a subset of what the provider allows, never silently cut),
//! the audiences (allowed targets only, RFC 8707), and the upstream claims copied over.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::api_error::ApiError;
use crate::provider::ProviderSettings;
use crate::scope_set::ScopeSet;

/// Largest upstream claim value (as JSON) copied into an issued token…
pub const MAX_MAPPED_CLAIM_BYTES: usize = 1024;
/// …and largest total of them, so tokens and refresh tokens stay small.
pub const MAX_MAPPED_TOTAL_BYTES: usize = 4096;

/// The requested scope if every token is allowed for the provider (`invalid_scope` naming the
/// first that is not); the provider's default scopes when none is requested.
pub fn granted_scope(
    requested: Option<&str>,
    provider: &ProviderSettings,
) -> Result<ScopeSet, ApiError> {
    let allowed = ScopeSet::parse(&provider.allowed_scopes.join(" ")).unwrap_or_default();
    let Some(requested) = requested else {
        return Ok(ScopeSet::parse(&provider.default_scopes.join(" ")).unwrap_or_default());
    };
    let requested = ScopeSet::parse(requested)
        .map_err(|_| ApiError::InvalidScope("scope: malformed scope string".into()))?;
    if let Some(missing) = requested.first_missing_from(&allowed) {
        return Err(ApiError::InvalidScope(format!(
            "scope {missing} is not allowed for this identity provider"
        )));
    }
    Ok(requested)
}

/// The issued token's audiences: the requested `audience` and `resource`, each of which must be
/// an allowed target (the provider's `allowed_audiences`, or the org's audiences when that list
/// is empty); the org's audiences when none is requested.
pub fn targets(
    audience: Option<&str>,
    resource: Option<&str>,
    provider: &ProviderSettings,
    org_audiences: &[String],
) -> Result<Vec<String>, ApiError> {
    if resource.is_some_and(|r| !is_absolute_uri(r)) {
        return Err(ApiError::InvalidTarget(
            "resource must be an absolute URI without a fragment (RFC 8707)".into(),
        ));
    }
    let allowed = if provider.allowed_audiences.is_empty() {
        org_audiences
    } else {
        &provider.allowed_audiences
    };
    let requested: Vec<&str> = audience.into_iter().chain(resource).collect();
    if requested.is_empty() {
        return Ok(org_audiences.to_vec());
    }
    let mut out: Vec<String> = Vec::new();
    for target in requested {
        if !allowed.iter().any(|a| a == target) {
            return Err(ApiError::InvalidTarget(format!(
                "{target} is not an allowed target for this identity provider"
            )));
        }
        if !out.iter().any(|o| o == target) {
            out.push(target.to_owned());
        }
    }
    Ok(out)
}

fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.contains('#')
        && !s.contains(char::is_whitespace)
}

/// The upstream claims named in the provider's mapping, under their new names. Absent claims are
/// skipped; a value over [`MAX_MAPPED_CLAIM_BYTES`] refuses the exchange rather than be cut.
pub fn mapped_claims(
    upstream: &Map<String, Value>,
    mapping: &BTreeMap<String, String>,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let mut total = 0;
    for (from, to) in mapping {
        if let Some(value) = upstream.get(from) {
            let len = value.to_string().len();
            total += len;
            if total > MAX_MAPPED_TOTAL_BYTES {
                return Err(ApiError::invalid_request(format!(
                    "subject_token: the mapped claims exceed {MAX_MAPPED_TOTAL_BYTES} bytes in all"
                )));
            }
            if len > MAX_MAPPED_CLAIM_BYTES {
                return Err(ApiError::invalid_request(format!(
                    "subject_token claim {from} is larger than {MAX_MAPPED_CLAIM_BYTES} bytes and cannot be copied"
                )));
            }
            out.insert(to.clone(), value.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn provider(allowed_audiences: &[&str]) -> ProviderSettings {
        ProviderSettings {
            issuer: "https://idp.test".into(),
            jwks_uri: None,
            jwks: None,
            algorithms: vec!["RS256".into()],
            audiences: vec!["c".into()],
            leeway_secs: 0,
            max_token_age_secs: None,
            claim_mapping: [("email".to_string(), "email".to_string())].into(),
            subject_prefix: "p|".into(),
            allowed_scopes: vec!["read".into(), "write".into()],
            default_scopes: vec!["read".into()],
            allowed_audiences: allowed_audiences.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn scope_is_a_subset_or_refused() {
        let p = provider(&[]);
        assert_eq!(granted_scope(None, &p).unwrap().to_scope_string(), "read");
        assert_eq!(
            granted_scope(Some("write read"), &p)
                .unwrap()
                .to_scope_string(),
            "write read"
        );
        let e = granted_scope(Some("read admin"), &p).unwrap_err();
        assert_eq!(e.code(), "invalid_scope");
        assert!(e.description().contains("admin"));
        assert_eq!(
            granted_scope(Some("a  b"), &p).unwrap_err().code(),
            "invalid_scope"
        );
    }

    #[test]
    fn targets_are_checked() {
        let org = vec!["https://org.test/orgs/acme".to_string()];
        let open = provider(&[]);
        assert_eq!(targets(None, None, &open, &org).unwrap(), org);
        assert_eq!(targets(None, Some(&org[0]), &open, &org).unwrap(), org);
        let e = targets(Some("billing"), None, &open, &org).unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "invalid_target"));
        let p = provider(&["billing", "https://api.test/v1"]);
        assert_eq!(
            targets(Some("billing"), Some("https://api.test/v1"), &p, &org).unwrap(),
            ["billing", "https://api.test/v1"]
        );
        assert!(targets(Some("other"), None, &p, &org).is_err());
        for bad in ["billing", "https://api.test/v1#frag", "://x"] {
            assert_eq!(
                targets(None, Some(bad), &p, &org).unwrap_err().code(),
                "invalid_target",
                "{bad}"
            );
        }
    }

    #[test]
    fn mapping_copies_present_claims_only_and_bounds_them() {
        let p = provider(&[]);
        let up = json!({"email": "a@b.test", "name": "A"})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            Value::Object(mapped_claims(&up, &p.claim_mapping).unwrap()),
            json!({"email": "a@b.test"})
        );
        assert!(mapped_claims(&Map::new(), &p.claim_mapping)
            .unwrap()
            .is_empty());
        let big = json!({"email": "x".repeat(2000)})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            mapped_claims(&big, &p.claim_mapping).unwrap_err().code(),
            "invalid_request"
        );
    }
}
