//! The `actor_token` of an exchange: an access token this worker issued for the same org. An
//! anonymous session token means an upgrade (the new identity records the anonymous subject it
//! came from); any other means delegation (`act`, RFC 8693 §4.1).

use serde_json::{json, Value};

use crate::api_error::ApiError;
use crate::jose::claims::{decode_claims, Claims};
use crate::jose::ed25519::Ed25519VerifyingKey;
use crate::jose::jwk::Jwks;
use crate::jose::jws::{self, ParseOptions, ParsedJws};
use crate::jose::JoseError;
use crate::revocation::TokenFacts;

/// Leeway on our own tokens' times: the same clocks issued them.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, PartialEq)]
pub enum ActorLink {
    /// The actor token was an anonymous session's: the new token carries `anonymous_sub`.
    Upgrade { anonymous_sub: String },
    /// Delegation: the new token carries `act`.
    Delegation { act: Value },
}

fn rejected(why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_request(format!("actor_token rejected: {why}"))
}

/// Verifies `token` as one of our access tokens for `issuer`, signed by a key of `jwks` (the
/// org's published signing keys), and says what it links, with the facts its revocation state is
/// then checked on.
pub fn verify(
    token: &str,
    jwks: &Jwks,
    issuer: &str,
    now: u64,
) -> Result<(ActorLink, TokenFacts), ApiError> {
    let actor = PresentedActor::parse(token, jwks)?;
    let key = Ed25519VerifyingKey::from_bytes(&actor.public_key).map_err(rejected)?;
    jws::verify_ed25519(&actor.parsed, &key).map_err(rejected)?;
    actor.link(issuer, now)
}

/// An actor token parsed, with the public key (of the org's published signing keys) that must
/// have signed it. The caller checks the signature (natively in [`verify`], through WebCrypto in
/// the worker), then [`PresentedActor::link`] checks the rest.
pub struct PresentedActor {
    parsed: ParsedJws,
    pub public_key: [u8; 32],
}

impl PresentedActor {
    pub fn parse(token: &str, jwks: &Jwks) -> Result<Self, ApiError> {
        let parsed = jws::parse(
            token,
            &ParseOptions::eddsa_only().with_expected_typ("at+jwt"),
        )
        .map_err(rejected)?;
        let public_key = jwks.public_key(&parsed.header().kid).map_err(rejected)?;
        Ok(Self { parsed, public_key })
    }

    pub fn signing_input(&self) -> &str {
        self.parsed.signing_input()
    }

    pub fn signature(&self) -> &[u8] {
        self.parsed.signature()
    }

    /// The signature verified: issuer and expiry, and what the token links.
    pub fn link(self, issuer: &str, now: u64) -> Result<(ActorLink, TokenFacts), ApiError> {
        let claims: Claims = decode_claims(&self.parsed).map_err(rejected)?;
        if claims.iss != issuer {
            return Err(rejected(JoseError::InvalidIssuer));
        }
        if now >= claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(rejected(JoseError::Expired));
        }
        let facts = TokenFacts {
            sub: claims.sub.clone(),
            sid: claims.sid.clone(),
            jti: Some(claims.jti.clone()),
            kid: Some(self.parsed.header().kid.clone()),
            issued_at: claims.iat,
        };
        if claims.extra.get("anonymous") == Some(&Value::Bool(true)) {
            let link = ActorLink::Upgrade {
                anonymous_sub: claims.sub,
            };
            return Ok((link, facts));
        }
        let mut act = json!({ "sub": claims.sub });
        if let Some(inner) = claims.extra.get("act") {
            act["act"] = inner.clone();
        }
        Ok((ActorLink::Delegation { act }, facts))
    }
}

/// The error for an actor token whose signature does not verify.
pub fn bad_signature() -> ApiError {
    rejected(JoseError::InvalidSignature)
}

/// The error for an actor token that verified but has been revoked.
pub fn revoked() -> ApiError {
    rejected("the token has been revoked")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::ed25519::Ed25519SigningKey;
    use crate::jose::header::encode_ed25519_header;
    use crate::jose::jwk::OkpJwk;

    const ISS: &str = "https://auth.test/orgs/acme";
    const NOW: u64 = 1_800_000_000;

    fn key() -> Ed25519SigningKey {
        Ed25519SigningKey::from_seed(&[4; 32]).unwrap()
    }

    fn jwks() -> Jwks {
        Jwks {
            keys: vec![OkpJwk::from_public_key(&key().public_key())],
        }
    }

    fn token(claims: Value, typ: &str) -> String {
        let kid = jwks().keys[0].kid().to_owned();
        jws::sign_ed25519(
            &encode_ed25519_header(&kid, typ),
            claims.to_string().as_bytes(),
            &key(),
        )
    }

    fn claims(extra: Value) -> Value {
        let mut c = json!({"iss": ISS, "sub": "anon_1", "aud": ISS, "iat": NOW, "exp": NOW + 600, "jti": "j"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    #[test]
    fn an_anonymous_token_upgrades() {
        let t = token(claims(json!({"anonymous": true})), "at+jwt");
        let (link, facts) = verify(&t, &jwks(), ISS, NOW).unwrap();
        assert_eq!(
            link,
            ActorLink::Upgrade {
                anonymous_sub: "anon_1".into()
            }
        );
        assert_eq!(facts.sub, "anon_1");
        assert_eq!(facts.jti.as_deref(), Some("j"));
        assert_eq!(facts.issued_at, NOW);
    }

    #[test]
    fn any_other_delegates_and_nests_act() {
        let t = token(
            claims(json!({"sub": "p|u1", "act": {"sub": "svc"}})),
            "at+jwt",
        );
        assert_eq!(
            verify(&t, &jwks(), ISS, NOW).unwrap().0,
            ActorLink::Delegation {
                act: json!({"sub": "p|u1", "act": {"sub": "svc"}})
            }
        );
    }

    #[test]
    fn foreign_expired_or_mistyped_tokens_are_refused() {
        let other = "https://auth.test/orgs/other";
        for (t, why) in [
            (
                token(claims(json!({"iss": other})), "at+jwt"),
                "unexpected issuer",
            ),
            (token(claims(json!({"exp": NOW - 10})), "at+jwt"), "expired"),
            (token(claims(json!({})), "JWT"), "typ"),
            ("x.y.z".to_string(), "base64url"),
        ] {
            let e = verify(&t, &jwks(), ISS, NOW).unwrap_err();
            assert_eq!(e.code(), "invalid_request");
            assert!(e.description().contains(why), "{e}");
        }
        let stranger = Ed25519SigningKey::from_seed(&[5; 32]).unwrap();
        let strangers = Jwks {
            keys: vec![OkpJwk::from_public_key(&stranger.public_key())],
        };
        let t = token(claims(json!({})), "at+jwt");
        assert!(verify(&t, &strangers, ISS, NOW).is_err());
    }
}
