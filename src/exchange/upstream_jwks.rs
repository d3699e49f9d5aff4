//! An identity provider's JWKS as the exchange uses it: which keys it holds (RSA, EC P-256,
//! Ed25519 public keys for signing), which one verifies a token (by `kid` and by algorithm, so a
//! key is never used with an algorithm of another kind), and how long a fetched JWKS is kept.

use serde_json::{Map, Value};

use crate::jose::{Algorithm, JoseError};

/// Kept at least this long (a provider serving `max-age=0` is not refetched per request)…
pub const MIN_CACHE_SECS: u64 = 60;
/// …and at most this long.
pub const MAX_CACHE_SECS: u64 = 86_400;
/// When the response says nothing.
pub const DEFAULT_CACHE_SECS: u64 = 300;
/// Largest JWKS document accepted.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    EcP256,
    Ed25519,
}

impl KeyKind {
    /// The only kind of key an algorithm may be verified with (HS256 has no JWK here).
    pub fn for_alg(alg: Algorithm) -> Option<Self> {
        match alg {
            Algorithm::RS256 => Some(Self::Rsa),
            Algorithm::ES256 => Some(Self::EcP256),
            Algorithm::EdDSA => Some(Self::Ed25519),
            Algorithm::HS256 => None,
        }
    }
}

/// One usable public key: its public members only, ready for WebCrypto's `importKey("jwk")`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamJwk {
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// The JWK's `alg`, when it pins one.
    pub alg: Option<String>,
    pub public_jwk: Map<String, Value>,
}

/// Parses a JWKS document. Keys that are not signature keys of a supported kind (encryption keys,
/// other curves, symmetric keys) are skipped; a document that is not a JWKS is an error.
pub fn parse_jwks(bytes: &[u8]) -> Result<Vec<UpstreamJwk>, &'static str> {
    if bytes.len() > MAX_JWKS_BYTES {
        return Err("JWKS document too large");
    }
    let doc: Value = serde_json::from_slice(bytes).map_err(|_| "JWKS is not JSON")?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("JWKS has no keys array")?;
    Ok(keys.iter().filter_map(parse_key).collect())
}

fn parse_key(key: &Value) -> Option<UpstreamJwk> {
    let s = |name: &str| key.get(name).and_then(Value::as_str);
    if s("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let (kind, members): (KeyKind, &[&str]) = match (s("kty")?, s("crv")) {
        ("RSA", _) => (KeyKind::Rsa, &["n", "e"]),
        ("EC", Some("P-256")) => (KeyKind::EcP256, &["crv", "x", "y"]),
        ("OKP", Some("Ed25519")) => (KeyKind::Ed25519, &["crv", "x"]),
        _ => return None,
    };
    // RSA keys under 2048 bits are not trusted (n is 342+ base64url characters from 2048 bits).
    if kind == KeyKind::Rsa && s("n")?.len() < 342 {
        return None;
    }
    let mut public_jwk = Map::new();
    public_jwk.insert("kty".into(), key.get("kty")?.clone());
    for m in members {
        public_jwk.insert((*m).into(), Value::String(s(m)?.to_owned()));
    }
    Some(UpstreamJwk {
        kid: s("kid").map(str::to_owned),
        kind,
        alg: s("alg").map(str::to_owned),
        public_jwk,
    })
}

/// The key that verifies a token with `alg` and `kid` (empty: the token names none).
/// `UnknownKid` when no key has the kid (or, without one, when the JWKS does not hold exactly one
/// key of the algorithm's kind); `AlgKeyMismatch` when the named key is of another kind or pins
/// another `alg`.
pub fn select(keys: &[UpstreamJwk], alg: Algorithm, kid: &str) -> Result<usize, JoseError> {
    let kind = KeyKind::for_alg(alg).ok_or(JoseError::AlgKeyMismatch)?;
    let index = if kid.is_empty() {
        let mut of_kind = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.kind == kind && k.alg.as_deref().is_none_or(|a| a == alg.name()));
        match (of_kind.next(), of_kind.next()) {
            (Some((i, _)), None) => i,
            _ => return Err(JoseError::UnknownKid),
        }
    } else {
        keys.iter()
            .position(|k| k.kid.as_deref() == Some(kid))
            .ok_or(JoseError::UnknownKid)?
    };
    let key = &keys[index];
    if key.kind != kind || key.alg.as_deref().is_some_and(|a| a != alg.name()) {
        return Err(JoseError::AlgKeyMismatch);
    }
    Ok(index)
}

/// How long to keep a fetched JWKS, from its `Cache-Control` (`max-age`, clamped).
pub fn cache_secs(cache_control: Option<&str>) -> u64 {
    let max_age = cache_control.and_then(|cc| {
        cc.split(',').find_map(|d| {
            let (name, value) = d.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
    });
    max_age
        .unwrap_or(DEFAULT_CACHE_SECS)
        .clamp(MIN_CACHE_SECS, MAX_CACHE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwks() -> Vec<UpstreamJwk> {
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "r1", "n": "n".repeat(342), "e": "AQAB", "alg": "RS256", "use": "sig"},
            {"kty": "RSA", "kid": "enc", "n": "n".repeat(342), "e": "AQAB", "use": "enc"},
            {"kty": "RSA", "kid": "weak", "n": "n".repeat(171), "e": "AQAB"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "xx", "y": "yy", "d": "private!"},
            {"kty": "EC", "kid": "e384", "crv": "P-384", "x": "xx", "y": "yy"},
            {"kty": "OKP", "kid": "o1", "crv": "Ed25519", "x": "xx"},
            {"kty": "oct", "kid": "s", "k": "secret"},
            {"kty": "RSA", "kid": "broken"}
        ]});
        parse_jwks(doc.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn only_signature_keys_of_supported_kinds_and_only_public_members() {
        let keys = jwks();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!(kids, ["r1", "e1", "o1"]);
        assert!(
            !keys[1].public_jwk.contains_key("d"),
            "private members are dropped"
        );
        assert!(parse_jwks(b"[]").is_err());
        assert!(parse_jwks(b"nope").is_err());
        assert!(parse_jwks(br#"{"keys":[]}"#).unwrap().is_empty());
    }

    #[test]
    fn selection_by_kid_and_kind() {
        let keys = jwks();
        assert_eq!(select(&keys, Algorithm::RS256, "r1"), Ok(0));
        assert_eq!(select(&keys, Algorithm::ES256, "e1"), Ok(1));
        assert_eq!(select(&keys, Algorithm::EdDSA, "o1"), Ok(2));
        assert_eq!(
            select(&keys, Algorithm::RS256, "nope"),
            Err(JoseError::UnknownKid)
        );
        // Algorithm confusion: a key used with an algorithm of another kind.
        assert_eq!(
            select(&keys, Algorithm::ES256, "r1"),
            Err(JoseError::AlgKeyMismatch)
        );
        assert_eq!(
            select(&keys, Algorithm::HS256, "r1"),
            Err(JoseError::AlgKeyMismatch)
        );
    }

    #[test]
    fn without_kid_exactly_one_key_of_the_kind() {
        let keys = jwks();
        assert_eq!(select(&keys, Algorithm::EdDSA, ""), Ok(2));
        let mut two = keys.clone();
        two.push(keys[2].clone());
        assert_eq!(
            select(&two, Algorithm::EdDSA, ""),
            Err(JoseError::UnknownKid)
        );
    }

    #[test]
    fn a_key_pinned_to_another_alg_is_refused() {
        let doc = json!({"keys": [{"kty": "RSA", "kid": "r", "n": "n".repeat(342), "e": "e", "alg": "RS512"}]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(
            select(&keys, Algorithm::RS256, "r"),
            Err(JoseError::AlgKeyMismatch)
        );
    }

    #[test]
    fn cache_lifetimes() {
        assert_eq!(cache_secs(None), 300);
        assert_eq!(cache_secs(Some("public, max-age=3600")), 3600);
        assert_eq!(cache_secs(Some("max-age=0")), 60);
        assert_eq!(cache_secs(Some("max-age=99999999")), 86_400);
        assert_eq!(cache_secs(Some("no-cache")), 300);
    }
}
