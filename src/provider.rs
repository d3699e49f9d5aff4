//! Identity providers of an org: the upstream OIDC issuers whose tokens the token-exchange grant
//! accepts. This module is the record, its validation and its public view; verifying upstream
//! tokens with it is the token-exchange issue's.
//!
//! Keys come from exactly one source: a `jwks_uri`, an inline `jwks`, or an HS256 shared secret
//! (write-only: sealed at rest like signing keys, never shown again).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api_error::ApiError;
use crate::jose::claims::is_valid_scope_token;
use crate::signing_key::SealedSeed;

pub const ALGORITHMS: [&str; 4] = ["RS256", "ES256", "EdDSA", "HS256"];
/// Claims an exchanged token sets itself: never copied from upstream, never a mapping target.
pub const RESERVED_CLAIMS: [&str; 19] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "scope",
    "sid",
    "act",
    "may_act",
    "client_id",
    "anonymous",
    "azp",
    "cnf",
    "auth_time",
    "idp",
    "anonymous_sub",
    "device_id",
];
pub const MAX_LEEWAY_SECS: u64 = 300;
const DEFAULT_LEEWAY_SECS: u64 = 60;
const MAX_MAPPINGS: usize = 32;
const MAX_SCOPES: usize = 64;
const MAX_LIST: usize = 16;
const MAX_URL_LEN: usize = 512;
const MIN_HS256_SECRET_BYTES: usize = 32;

/// `[a-z0-9-]`, 1 to 32 characters, not starting or ending with `-`.
pub fn is_provider_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// The body of `PUT …/providers/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    pub issuer: String,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub jwks: Option<Value>,
    /// Write-only. Absent on an update of an HS256 provider: the stored secret is kept.
    #[serde(default)]
    pub hs256_secret: Option<String>,
    pub algorithms: Vec<String>,
    pub audiences: Vec<String>,
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    #[serde(default)]
    pub max_token_age_secs: Option<u64>,
    #[serde(default)]
    pub claim_mapping: BTreeMap<String, String>,
    #[serde(default)]
    pub subject_prefix: Option<String>,
    #[serde(default)]
    pub allowed_scopes: Vec<String>,
    #[serde(default)]
    pub default_scopes: Vec<String>,
    #[serde(default)]
    pub allowed_audiences: Vec<String>,
}

fn default_leeway() -> u64 {
    DEFAULT_LEEWAY_SECS
}

/// Everything about a provider except its secret, as stored and as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSettings {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    pub algorithms: Vec<String>,
    pub audiences: Vec<String>,
    pub leeway_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_age_secs: Option<u64>,
    pub claim_mapping: BTreeMap<String, String>,
    /// Prepended to the upstream `sub`, so two providers' subjects never collide.
    pub subject_prefix: String,
    pub allowed_scopes: Vec<String>,
    pub default_scopes: Vec<String>,
    pub allowed_audiences: Vec<String>,
}

/// What KV holds under `org/{org}/provider/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRecord {
    pub id: String,
    #[serde(flatten)]
    pub settings: ProviderSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_hs256_secret: Option<SealedSeed>,
    pub created_at: u64,
    pub updated_at: u64,
}

/// A validated input: the settings, and the HS256 secret when one was given.
pub struct ValidProvider {
    pub settings: ProviderSettings,
    pub hs256_secret: Option<Vec<u8>>,
}

fn field(name: &str, why: &str) -> ApiError {
    ApiError::invalid_request(format!("{name}: {why}"))
}

/// `https://…`, or with `loopback_http` (the dev environment only) `http://` on a loopback host.
/// Never with userinfo (`user:pass@`): `http://localhost:1@host/` is a request to `host`.
fn valid_url(s: &str, loopback_http: bool) -> bool {
    let authority = |r: &str| r.split(['/', '?', '#']).next().unwrap_or("").to_owned();
    let rest = if let Some(r) = s.strip_prefix("https://") {
        r
    } else if let Some(r) = s.strip_prefix("http://").filter(|_| loopback_http) {
        let host = authority(r);
        let host = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        if !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            return false;
        }
        r
    } else {
        return false;
    };
    !rest.is_empty()
        && !rest.starts_with('/')
        && !authority(rest).contains('@')
        && s.len() <= MAX_URL_LEN
        && !s.contains(|c: char| c.is_whitespace() || c.is_control())
}

fn valid_list(values: &[String]) -> bool {
    values.len() <= MAX_LIST
        && values
            .iter()
            .all(|v| !v.is_empty() && v.len() <= 256 && !v.contains(char::is_whitespace))
}

fn valid_claim_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && !s.contains(|c: char| c.is_whitespace() || c.is_control())
}

impl ProviderInput {
    /// Checks every rule, naming the field; `id` gives the default subject prefix.
    /// `loopback_http` admits `http://localhost` URLs: the dev environment's convenience.
    pub fn validate(self, id: &str, loopback_http: bool) -> Result<ValidProvider, ApiError> {
        let url_rule = if loopback_http {
            "an https URL (http only on localhost, in development), at most 512 characters, without user info"
        } else {
            "an https URL, at most 512 characters, without user info"
        };
        if !valid_url(&self.issuer, loopback_http) {
            return Err(field("issuer", url_rule));
        }
        self.validate_algorithms()?;
        let hs256 = self.algorithms.iter().any(|a| a == "HS256");
        let sources = [
            self.jwks_uri.is_some(),
            self.jwks.is_some(),
            self.hs256_secret.is_some(),
        ];
        let asymmetric = self.algorithms.iter().any(|a| a != "HS256");
        match (hs256, asymmetric) {
            (true, true) => {
                return Err(field(
                    "algorithms",
                    "HS256 cannot be combined with public-key algorithms",
                ))
            }
            (false, _) if self.hs256_secret.is_some() => {
                return Err(field("hs256_secret", "only for an HS256 provider"))
            }
            (false, _) if sources.iter().filter(|s| **s).count() != 1 => {
                return Err(field("jwks_uri", "give exactly one of jwks_uri or jwks"))
            }
            (true, _) if self.jwks_uri.is_some() || self.jwks.is_some() => {
                return Err(field(
                    "hs256_secret",
                    "an HS256 provider has a shared secret, not a JWKS",
                ))
            }
            _ => {}
        }
        if let Some(uri) = &self.jwks_uri {
            if !valid_url(uri, loopback_http) {
                return Err(field("jwks_uri", url_rule));
            }
        }
        if let Some(jwks) = &self.jwks {
            validate_jwks(jwks)?;
        }
        let secret = match &self.hs256_secret {
            Some(s) if s.len() < MIN_HS256_SECRET_BYTES || s.len() > 512 => {
                return Err(field("hs256_secret", "32 to 512 bytes"))
            }
            Some(s) => Some(s.as_bytes().to_vec()),
            None => None,
        };
        if self.audiences.is_empty() || !valid_list(&self.audiences) {
            return Err(field(
                "audiences",
                "1 to 16 values, none empty or with spaces: the upstream token's aud must contain one",
            ));
        }
        if self.leeway_secs > MAX_LEEWAY_SECS {
            return Err(field("leeway_secs", "at most 300"));
        }
        if self
            .max_token_age_secs
            .is_some_and(|a| a == 0 || a > 86_400)
        {
            return Err(field("max_token_age_secs", "1 to 86400"));
        }
        self.validate_mapping()?;
        let subject_prefix = self.subject_prefix.unwrap_or_else(|| format!("{id}|"));
        if subject_prefix.len() > 64 || subject_prefix.contains(char::is_control) {
            return Err(field("subject_prefix", "at most 64 characters"));
        }
        validate_scopes(&self.allowed_scopes, &self.default_scopes)?;
        if !valid_list(&self.allowed_audiences) {
            return Err(field(
                "allowed_audiences",
                "at most 16 values, none empty or with spaces",
            ));
        }
        Ok(ValidProvider {
            settings: ProviderSettings {
                issuer: self.issuer,
                jwks_uri: self.jwks_uri,
                jwks: self.jwks,
                algorithms: self.algorithms,
                audiences: self.audiences,
                leeway_secs: self.leeway_secs,
                max_token_age_secs: self.max_token_age_secs,
                claim_mapping: self.claim_mapping,
                subject_prefix,
                allowed_scopes: self.allowed_scopes,
                default_scopes: self.default_scopes,
                allowed_audiences: self.allowed_audiences,
            },
            hs256_secret: secret,
        })
    }

    fn validate_algorithms(&self) -> Result<(), ApiError> {
        let known = self
            .algorithms
            .iter()
            .all(|a| ALGORITHMS.contains(&a.as_str()));
        let repeated =
            (1..self.algorithms.len()).any(|i| self.algorithms[..i].contains(&self.algorithms[i]));
        if self.algorithms.is_empty() || !known || repeated {
            return Err(field(
                "algorithms",
                "one or more of RS256, ES256, EdDSA, HS256, without repeats",
            ));
        }
        Ok(())
    }

    fn validate_mapping(&self) -> Result<(), ApiError> {
        if self.claim_mapping.len() > MAX_MAPPINGS {
            return Err(field("claim_mapping", "at most 32 claims"));
        }
        for (from, to) in &self.claim_mapping {
            if !valid_claim_name(from) || !valid_claim_name(to) {
                return Err(field("claim_mapping", "claim names of 1 to 64 characters"));
            }
            if let Some(r) = [from, to]
                .into_iter()
                .find(|n| RESERVED_CLAIMS.contains(&n.as_str()))
            {
                return Err(field(
                    "claim_mapping",
                    &format!("{r} is set by the exchange itself and cannot be mapped"),
                ));
            }
        }
        let targets: std::collections::BTreeSet<&String> = self.claim_mapping.values().collect();
        if targets.len() != self.claim_mapping.len() {
            return Err(field("claim_mapping", "two claims are mapped to one name"));
        }
        Ok(())
    }
}

fn validate_scopes(allowed: &[String], default: &[String]) -> Result<(), ApiError> {
    let valid = |list: &[String]| {
        list.len() <= MAX_SCOPES
            && list
                .iter()
                .all(|s| s.len() <= 128 && is_valid_scope_token(s))
    };
    if !valid(allowed) {
        return Err(field("allowed_scopes", "at most 64 RFC 6749 scope tokens"));
    }
    if !valid(default) {
        return Err(field("default_scopes", "at most 64 RFC 6749 scope tokens"));
    }
    if let Some(extra) = default.iter().find(|d| !allowed.contains(d)) {
        return Err(field(
            "default_scopes",
            &format!("{extra} is not in allowed_scopes"),
        ));
    }
    Ok(())
}

/// An inline JWKS: 1 to 16 public keys of the kinds the algorithms need (RSA, EC P-256, OKP
/// Ed25519), each with a `kid`, none with a private member. Key material itself is checked when
/// the exchange imports it.
fn validate_jwks(jwks: &Value) -> Result<(), ApiError> {
    let bad = |why: &str| field("jwks", why);
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty() && k.len() <= MAX_LIST)
        .ok_or_else(|| bad("an object with 1 to 16 keys"))?;
    for key in keys {
        let member = |name: &str| key.get(name).and_then(Value::as_str);
        if member("kid").is_none_or(str::is_empty) {
            return Err(bad("every key needs a kid"));
        }
        const PRIVATE: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];
        if PRIVATE.iter().any(|p| key.get(p).is_some()) || key.get("k").is_some() {
            return Err(bad("public keys only: no private or symmetric members"));
        }
        let complete = match (member("kty"), member("crv")) {
            (Some("RSA"), _) => {
                member("n").is_some_and(|n| n.len() >= 342) && member("e").is_some()
            }
            (Some("EC"), Some("P-256")) => member("x").is_some() && member("y").is_some(),
            (Some("OKP"), Some("Ed25519")) => member("x").is_some(),
            _ => false,
        };
        if !complete {
            return Err(bad(
                "each key RSA (n of 2048 bits or more, e), EC P-256 (x, y) or OKP Ed25519 (x)",
            ));
        }
    }
    Ok(())
}

impl ProviderRecord {
    pub fn kv_key(org: &crate::org::OrgId, id: &str) -> String {
        format!("{}{id}", Self::kv_prefix(org))
    }

    pub fn kv_prefix(org: &crate::org::OrgId) -> String {
        format!("org/{}/provider/", org.as_str())
    }

    /// The public view: everything but the sealed secret, which is only said to be set.
    pub fn view(&self) -> Value {
        let mut v = serde_json::to_value(&self.settings).unwrap_or_default();
        v["id"] = self.id.clone().into();
        v["has_hs256_secret"] = self.sealed_hs256_secret.is_some().into();
        v["created_at"] = self.created_at.into();
        v["updated_at"] = self.updated_at.into();
        v
    }
}

/// The additional authenticated data of a provider's sealed HS256 secret.
pub fn secret_aad(org: &crate::org::OrgId, id: &str) -> Vec<u8> {
    format!("token-exchange/provider-secret/v1/{}/{id}", org.as_str()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::json_object;
    use serde_json::json;

    fn validate(v: Value) -> Result<ValidProvider, ApiError> {
        json_object::<ProviderInput>(v.to_string().as_bytes(), "provider")?.validate("google", true)
    }

    fn base() -> Value {
        json!({
            "issuer": "https://accounts.example.com",
            "jwks_uri": "https://accounts.example.com/jwks",
            "algorithms": ["RS256"],
            "audiences": ["client-123"],
        })
    }

    fn with(patch: Value) -> Value {
        let mut v = base();
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = val.clone();
            }
        }
        v
    }

    #[test]
    fn a_minimal_provider_gets_defaults() {
        let p = validate(base()).unwrap().settings;
        assert_eq!(p.subject_prefix, "google|");
        assert_eq!(p.leeway_secs, 60);
        assert!(p.claim_mapping.is_empty());
    }

    #[test]
    fn hs256_providers_take_a_secret_and_nothing_else() {
        let ok = validate(with(json!({
            "jwks_uri": null, "algorithms": ["HS256"], "hs256_secret": "s".repeat(32)
        })))
        .unwrap();
        assert_eq!(ok.hs256_secret.unwrap().len(), 32);
        // An update may omit the secret: the stored one is kept.
        assert!(validate(with(json!({"jwks_uri": null, "algorithms": ["HS256"]}))).is_ok());
    }

    #[test]
    fn every_rule_names_its_field() {
        let secret = "s".repeat(32);
        let big_n = "A".repeat(342);
        let cases = [
            (json!({"issuer": "http://evil.example"}), "issuer"),
            (json!({"issuer": "ftp://x"}), "issuer"),
            (json!({"jwks_uri": "http://evil.example/jwks"}), "jwks_uri"),
            (json!({"algorithms": []}), "algorithms"),
            (json!({"algorithms": ["none"]}), "algorithms"),
            (json!({"algorithms": ["RS256", "RS256"]}), "algorithms"),
            (json!({"algorithms": ["RS256", "HS256"]}), "algorithms"),
            (json!({"jwks_uri": null}), "jwks_uri"),
            (json!({"jwks": {"keys": []}}), "jwks_uri"),
            (json!({"hs256_secret": secret}), "hs256_secret"),
            (
                json!({"algorithms": ["HS256"], "hs256_secret": "short"}),
                "hs256_secret",
            ),
            (
                json!({"algorithms": ["HS256"], "hs256_secret": secret}),
                "hs256_secret",
            ),
            (json!({"audiences": []}), "audiences"),
            (json!({"audiences": ["a b"]}), "audiences"),
            (json!({"leeway_secs": 301}), "leeway_secs"),
            (json!({"max_token_age_secs": 0}), "max_token_age_secs"),
            (
                json!({"claim_mapping": {"email": "sub"}}),
                "claim_mapping: sub",
            ),
            (
                json!({"claim_mapping": {"exp": "upstream_exp"}}),
                "claim_mapping: exp",
            ),
            (
                json!({"claim_mapping": {"a": "x", "b": "x"}}),
                "claim_mapping",
            ),
            (json!({"allowed_scopes": ["a b"]}), "allowed_scopes"),
            (
                json!({"allowed_scopes": ["a"], "default_scopes": ["b"]}),
                "default_scopes: b",
            ),
            (json!({"allowed_audiences": [""]}), "allowed_audiences"),
            (json!({"colour": "red"}), "unknown field"),
        ];
        for (patch, name) in cases {
            let e = validate(with(patch.clone())).err().unwrap();
            assert_eq!(e.status(), 400, "{patch}");
            assert!(e.description().contains(name), "{patch}: {e}");
        }
        let jwks_cases = [
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]}),
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "1", "d": "AA"}]}),
            json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "1"}]}),
            json!({"keys": [{"kty": "oct", "k": "AA", "kid": "1"}]}),
            json!({"keys": [{"kty": "EC", "crv": "P-384", "x": "A", "y": "A", "kid": "1"}]}),
        ];
        for jwks in jwks_cases {
            let e = validate(with(json!({"jwks_uri": null, "jwks": jwks.clone()})))
                .err()
                .unwrap();
            assert!(e.description().starts_with("jwks"), "{jwks}: {e}");
        }
        let good = json!({"keys": [
            {"kty": "RSA", "n": big_n, "e": "AQAB", "kid": "r"},
            {"kty": "EC", "crv": "P-256", "x": "A", "y": "A", "kid": "e"},
            {"kty": "OKP", "crv": "Ed25519", "x": "A", "kid": "o"}
        ]});
        assert!(validate(with(
            json!({"jwks_uri": null, "jwks": good, "algorithms": ["RS256", "ES256", "EdDSA"]})
        ))
        .is_ok());
    }

    #[test]
    fn loopback_http_is_allowed_for_development() {
        for ok in [
            "http://127.0.0.1:9000",
            "http://localhost/x",
            "https://a.example",
        ] {
            assert!(valid_url(ok, true), "{ok}");
        }
        for bad in [
            "http://127.0.0.1.evil.example",
            "https://",
            "https:///x",
            "http://10.0.0.1",
            "http://localhost:1@evil.example/jwks",
            "http://127.0.0.1@evil.example/jwks",
            "https://user:pass@idp.example/jwks",
            "https://idp.example@evil.example/jwks",
        ] {
            assert!(!valid_url(bad, true), "{bad}");
        }
        assert!(
            valid_url("https://idp.example/jwks?who=a@b", false),
            "an @ after the authority is not userinfo"
        );
        assert!(
            !valid_url("http://127.0.0.1:9000", false),
            "outside development, https only"
        );
        assert!(valid_url("https://a.example", false));
    }

    #[test]
    fn the_view_never_shows_the_secret() {
        let record = ProviderRecord {
            id: "corp".into(),
            settings: validate(base()).unwrap().settings,
            sealed_hs256_secret: Some(SealedSeed {
                master_key_id: "m".into(),
                iv: "iv".into(),
                ciphertext: "sealed-secret-bytes".into(),
            }),
            created_at: 1,
            updated_at: 2,
        };
        let v = record.view();
        assert_eq!(v["has_hs256_secret"], true);
        assert!(!v.to_string().contains("sealed-secret-bytes"));
        let stored: ProviderRecord =
            serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(stored, record);
    }

    #[test]
    fn ids() {
        assert!(is_provider_id("google"));
        assert!(is_provider_id("corp-sso-2"));
        for bad in ["", "-a", "a-", "Google", "a_b", &"a".repeat(33)] {
            assert!(!is_provider_id(bad), "{bad}");
        }
    }
}
