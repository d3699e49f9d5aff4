//! Which tokens introspection (RFC 7662) can vouch for, before revocation state is consulted: an
//! access token this worker issued for the org (signed by a published signing key, `iss` the
//! org's issuer), or a token an org's server minted with an active org key (within the key's
//! audience conditions). Anything else, expired or malformed, is simply inactive: the answer never
//! says why.

use serde_json::{json, Map, Value};

use crate::jose::claims::Audience;
use crate::jose::ed25519::Ed25519VerifyingKey;
use crate::jose::jwk::Jwks;
use crate::jose::jws::{self, ParseOptions};
use crate::org_key::OrgKeyRecord;
use crate::revocation::TokenFacts;

/// Clock skew tolerated on token times.
const LEEWAY_SECS: u64 = 30;

/// A token whose signature and times hold: its claims, and the facts revocation is checked on.
#[derive(Debug, Clone, PartialEq)]
pub struct Vouched {
    pub claims: Map<String, Value>,
    pub facts: TokenFacts,
}

fn num(claims: &Map<String, Value>, name: &str) -> Option<u64> {
    claims.get(name).and_then(Value::as_u64)
}

fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// Verifies `token` for introspection; `None` when it is not one we vouch for.
pub fn vouch(
    token: &str,
    own: &Jwks,
    org_keys: &[OrgKeyRecord],
    issuer: &str,
    now: u64,
) -> Option<Vouched> {
    let candidate = Candidate::parse(token, own, org_keys)?;
    let key = Ed25519VerifyingKey::from_bytes(&candidate.public_key).ok()?;
    jws::verify_ed25519(&candidate.parsed, &key).ok()?;
    candidate.vouch_verified(org_keys, issuer, now)
}

/// A token that may be one we vouch for, with the public key that must have signed it. The caller
/// checks the signature (natively, or through WebCrypto in the worker), then
/// [`Candidate::vouch_verified`] checks the rest.
pub struct Candidate {
    parsed: jws::ParsedJws,
    pub public_key: [u8; 32],
    org_key: bool,
}

impl Candidate {
    /// An EdDSA compact JWS whose `kid` names an active org key or a published signing key.
    pub fn parse(token: &str, own: &Jwks, org_keys: &[OrgKeyRecord]) -> Option<Self> {
        let parsed = jws::parse(token, &ParseOptions::eddsa_only()).ok()?;
        if parsed.signature().len() != 64 {
            return None;
        }
        let kid = parsed.header().kid.as_str();
        let org_key = org_keys.iter().find(|k| k.id == kid && k.is_active());
        let public_key: [u8; 32] = match org_key {
            Some(k) => k.public_key_bytes()?.as_slice().try_into().ok()?,
            None => own.public_key(kid).ok()?,
        };
        Some(Self {
            org_key: org_key.is_some(),
            parsed,
            public_key,
        })
    }

    pub fn signing_input(&self) -> &str {
        self.parsed.signing_input()
    }

    pub fn signature(&self) -> &[u8] {
        self.parsed.signature()
    }

    /// The signature verified: times, subject, issuer (our tokens) or audience conditions (org
    /// keys' tokens); `None` when the token is not one we vouch for.
    pub fn vouch_verified(
        self,
        org_keys: &[OrgKeyRecord],
        issuer: &str,
        now: u64,
    ) -> Option<Vouched> {
        let kid = self.parsed.header().kid.clone();
        let org_key = if self.org_key {
            Some(org_keys.iter().find(|k| k.id == kid && k.is_active())?)
        } else {
            None
        };
        let claims = self.parsed.into_payload();
        let exp = num(&claims, "exp")?;
        if now >= exp.saturating_add(LEEWAY_SECS)
            || num(&claims, "nbf").is_some_and(|nbf| nbf > now + LEEWAY_SECS)
            || num(&claims, "iat").is_some_and(|iat| iat > now + LEEWAY_SECS)
        {
            return None;
        }
        let sub = text(&claims, "sub").filter(|s| !s.is_empty())?;
        match org_key {
            None if text(&claims, "iss").as_deref() != Some(issuer) => return None,
            Some(k) => {
                let aud: Audience = serde_json::from_value(claims.get("aud")?.clone()).ok()?;
                if !k.conditions.allows_audiences(aud.iter()) {
                    return None;
                }
            }
            None => {}
        }
        let facts = TokenFacts {
            sub,
            sid: text(&claims, "sid"),
            jti: text(&claims, "jti"),
            kid: Some(kid),
            issued_at: num(&claims, "iat").unwrap_or(0),
        };
        Some(Vouched { claims, facts })
    }
}

/// The answer for an active token: every claim, then `active` and `token_type`, which no claim of
/// the token can override.
pub fn active(claims: &Map<String, Value>, token_type: &str) -> Value {
    let mut out = claims.clone();
    out.insert("active".into(), Value::Bool(true));
    out.insert("token_type".into(), token_type.into());
    Value::Object(out)
}

/// The claims introspection answers for a live refresh token: its session's.
pub fn refresh_claims(
    session: &crate::refresh_token::RefreshPayload,
    issuer: &str,
) -> Map<String, Value> {
    let mut claims = json!({
        "iss": issuer, "sub": session.sub, "sid": session.sid, "scope": session.scope,
        "iat": session.iat, "exp": session.exp, "auth_time": session.auth_time,
    });
    if let Some(ex) = &session.exchanged {
        claims["client_id"] = ex.client_id.clone().into();
        claims["idp"] = ex.idp.clone().into();
    } else {
        claims["client_id"] = crate::session::ANONYMOUS_CLIENT_ID.into();
    }
    claims.as_object().cloned().unwrap_or_default()
}

/// The answer for anything else: nothing but `active: false` (RFC 7662 §2.2).
pub fn inactive() -> Value {
    json!({ "active": false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_scope::KeyUse;
    use crate::jose::base64url;
    use crate::jose::ed25519::Ed25519SigningKey;
    use crate::jose::header::encode_ed25519_header;
    use crate::jose::jwk::OkpJwk;
    use crate::org::OrgId;
    use crate::org_key::{KeyConditions, OrgKeyStatus};
    use crate::signing_key::SealedSeed;

    const ISS: &str = "https://auth.test/orgs/acme";
    const NOW: u64 = 1_800_000_000;

    fn signing() -> Ed25519SigningKey {
        Ed25519SigningKey::from_seed(&[1; 32]).unwrap()
    }

    fn own() -> Jwks {
        Jwks {
            keys: vec![OkpJwk::from_public_key(&signing().public_key())],
        }
    }

    fn org_key(status: OrgKeyStatus, audiences: &[&str]) -> OrgKeyRecord {
        let pk = Ed25519SigningKey::from_seed(&[2; 32]).unwrap().public_key();
        OrgKeyRecord {
            id: "key_AAAAAAAAAAAAAAAAAAAAAA".into(),
            org: OrgId::parse("acme").unwrap(),
            name: "server".into(),
            scopes: KeyUse::Production.scopes(),
            conditions: KeyConditions {
                audiences: audiences.iter().map(|s| s.to_string()).collect(),
            },
            public_key: base64url::encode(&pk),
            sealed_seed: SealedSeed {
                master_key_id: "m".into(),
                iv: "i".into(),
                ciphertext: "c".into(),
            },
            status,
            created_at: 0,
            created_by: "operator".into(),
            revoked_at: None,
        }
    }

    fn ours(claims: Value) -> String {
        let kid = own().keys[0].kid().to_owned();
        jws::sign_ed25519(
            &encode_ed25519_header(&kid, "at+jwt"),
            claims.to_string().as_bytes(),
            &signing(),
        )
    }

    fn minted(claims: Value) -> String {
        jws::sign_ed25519(
            &encode_ed25519_header("key_AAAAAAAAAAAAAAAAAAAAAA", "JWT"),
            claims.to_string().as_bytes(),
            &Ed25519SigningKey::from_seed(&[2; 32]).unwrap(),
        )
    }

    fn base() -> Value {
        json!({"iss": ISS, "sub": "anon_1", "aud": ISS, "iat": NOW, "exp": NOW + 600,
               "jti": "j1", "sid": "sid_1", "scope": "session"})
    }

    #[test]
    fn our_tokens_are_vouched_for_with_their_facts() {
        let v = vouch(&ours(base()), &own(), &[], ISS, NOW + 10).unwrap();
        assert_eq!(v.facts.sub, "anon_1");
        assert_eq!(v.facts.sid.as_deref(), Some("sid_1"));
        assert_eq!(v.facts.jti.as_deref(), Some("j1"));
        assert_eq!(v.facts.issued_at, NOW);
        let a = active(&v.claims, "Bearer");
        assert_eq!(a["active"], true);
        let mut sneaky = v.claims.clone();
        sneaky.insert("active".into(), json!(false));
        sneaky.insert("token_type".into(), json!("x"));
        let a2 = active(&sneaky, "Bearer");
        assert_eq!(
            (a2["active"].clone(), a2["token_type"].clone()),
            (json!(true), json!("Bearer"))
        );
        assert_eq!(a["scope"], "session");
    }

    #[test]
    fn expired_foreign_or_malformed_tokens_are_not() {
        let mut expired = base();
        expired["exp"] = json!(NOW - 100);
        let mut other_iss = base();
        other_iss["iss"] = json!("https://auth.test/orgs/other");
        for t in [
            ours(expired),
            ours(other_iss),
            "x.y.z".into(),
            String::new(),
        ] {
            assert!(vouch(&t, &own(), &[], ISS, NOW).is_none(), "{t}");
        }
        let stranger = Jwks { keys: vec![] };
        assert!(vouch(&ours(base()), &stranger, &[], ISS, NOW).is_none());
        assert_eq!(inactive(), json!({"active": false}));
    }

    #[test]
    fn org_key_tokens_within_their_conditions() {
        let t =
            minted(json!({"iss": "backend", "sub": "svc", "aud": "factory-1", "exp": NOW + 60}));
        let open = org_key(OrgKeyStatus::Active, &[]);
        assert!(vouch(&t, &own(), std::slice::from_ref(&open), ISS, NOW).is_some());
        let limited = org_key(OrgKeyStatus::Active, &["factory-1", "factory-2"]);
        assert!(vouch(&t, &own(), std::slice::from_ref(&limited), ISS, NOW).is_some());
        let elsewhere = org_key(OrgKeyStatus::Active, &["factory-2"]);
        assert!(vouch(&t, &own(), &[elsewhere], ISS, NOW).is_none());
        let revoked = org_key(OrgKeyStatus::Revoked, &[]);
        assert!(vouch(&t, &own(), &[revoked], ISS, NOW).is_none());
    }
}
