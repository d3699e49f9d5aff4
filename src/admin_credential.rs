//! The admin API's credential: a short-lived EdDSA JWT signed by the holder of an org key, so the
//! secret itself never travels. Minted by the CLI (or any JOSE library), verified by the worker.
//!
//! Header `{"alg":"EdDSA","kid":"key_…"}`; claims `iss` = `sub` = the key id, `aud` = the admin
//! API's base URL (`{origin}/admin/v1`), `iat`, `exp` at most [`MAX_LIFETIME_SECS`] after `iat`,
//! and a unique `jti`.

use serde_json::json;

use crate::api_error::ApiError;
use crate::jose::claims::{decode_claims, validate, Claims, ValidationOptions};
use crate::jose::ed25519::{Ed25519SigningKey, Ed25519VerifyingKey};
use crate::jose::header::encode_ed25519_header as encode_header;
use crate::jose::jws::{self, ParseOptions, ParsedJws};
use crate::jose::JoseError;
use crate::org_key::{is_key_id, OrgKeyRecord};

/// Longest accepted lifetime (`exp - iat`): a stolen credential is worth five minutes at most.
pub const MAX_LIFETIME_SECS: u64 = 300;
/// Clock skew tolerated between the holder and the worker.
pub const LEEWAY_SECS: u64 = 60;
/// Path of the admin API under the worker's origin; `{origin}{ADMIN_PATH}` is the audience.
pub const ADMIN_PATH: &str = "/admin/v1";

pub fn admin_audience(origin: &str) -> String {
    format!("{}{ADMIN_PATH}", origin.trim_end_matches('/'))
}

/// Signs a credential for the admin API at `audience` (see [`admin_audience`]).
pub fn mint(
    key_id: &str,
    seed: &[u8; 32],
    audience: &str,
    now: u64,
    lifetime_secs: u64,
    jti: &str,
) -> Result<String, JoseError> {
    let key = Ed25519SigningKey::from_seed(seed)?;
    let claims = json!({
        "iss": key_id, "sub": key_id, "aud": audience, "iat": now,
        "exp": now.saturating_add(lifetime_secs), "jti": jti,
    });
    let payload = serde_json::to_vec(&claims).map_err(|_| JoseError::InvalidJson)?;
    Ok(jws::sign_ed25519(
        &encode_header(key_id, "JWT"),
        &payload,
        &key,
    ))
}

/// A presented credential, parsed but not yet verified: its `kid` names the key to look up.
pub struct PresentedCredential {
    parsed: ParsedJws,
}

fn rejected(why: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidToken(format!("invalid credential: {why}"))
}

impl PresentedCredential {
    /// Strict JWS parsing (EdDSA only); the `kid` must be an org key id.
    pub fn parse(token: &str) -> Result<Self, ApiError> {
        let parsed = jws::parse(token, &ParseOptions::eddsa_only()).map_err(rejected)?;
        if !is_key_id(&parsed.header().kid) {
            return Err(rejected("kid is not an org key id (key_…)"));
        }
        Ok(Self { parsed })
    }

    pub fn key_id(&self) -> &str {
        &self.parsed.header().kid
    }

    /// Checks the credential against the key it names: the key is active, the signature
    /// verifies with it, `iss` and `sub` are its id, `aud` is one of `audiences`, and the
    /// times hold (with [`LEEWAY_SECS`]; lifetime at most [`MAX_LIFETIME_SECS`]).
    pub fn verify(
        &self,
        key: &OrgKeyRecord,
        audiences: &[String],
        now: u64,
    ) -> Result<Claims, ApiError> {
        let public_key = Ed25519VerifyingKey::from_bytes(&self.public_key(key)?)
            .map_err(|_| rejected("unknown key"))?;
        jws::verify_ed25519(&self.parsed, &public_key).map_err(rejected)?;
        self.verified_claims(key, audiences, now)
    }

    /// The public key the credential must be signed with: the active key it names.
    pub fn public_key(&self, key: &OrgKeyRecord) -> Result<[u8; 32], ApiError> {
        if key.id != self.key_id() {
            return Err(rejected("unknown key"));
        }
        if !key.is_active() {
            return Err(rejected("the key has been revoked"));
        }
        key.public_key_bytes()
            .and_then(|pk| pk.as_slice().try_into().ok())
            .ok_or_else(|| rejected("unknown key"))
    }

    pub fn signing_input(&self) -> &str {
        self.parsed.signing_input()
    }

    pub fn signature(&self) -> &[u8] {
        self.parsed.signature()
    }

    /// The checks of [`verify`](Self::verify) after the signature (which the worker checks
    /// through WebCrypto with [`public_key`](Self::public_key)).
    pub fn verified_claims(
        &self,
        key: &OrgKeyRecord,
        audiences: &[String],
        now: u64,
    ) -> Result<Claims, ApiError> {
        self.public_key(key)?;
        let claims = decode_claims(&self.parsed).map_err(rejected)?;
        if claims.sub != key.id {
            return Err(rejected("sub must be the key id"));
        }
        let audience = audiences
            .iter()
            .find(|a| claims.aud.contains(a))
            .ok_or_else(|| {
                rejected(format!(
                    "aud must be the admin API's base URL ({})",
                    audiences.first().map(String::as_str).unwrap_or("")
                ))
            })?;
        let opts = ValidationOptions {
            leeway_secs: LEEWAY_SECS,
            ..ValidationOptions::new(now, &key.id, audience)
        };
        validate(&claims, &opts).map_err(|e| match e {
            JoseError::InvalidIssuer => rejected("iss must be the key id"),
            other => rejected(other),
        })?;
        if claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME_SECS {
            return Err(rejected(format!(
                "lifetime (exp - iat) exceeds {MAX_LIFETIME_SECS} s"
            )));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_scope::KeyUse;
    use crate::jose::base64url;
    use crate::org::OrgId;
    use crate::org_key::{KeyConditions, OrgKeyStatus};
    use crate::signing_key::SealedSeed;

    const ID: &str = "key_AAAAAAAAAAAAAAAAAAAAAA";
    const SEED: [u8; 32] = [5; 32];
    const NOW: u64 = 1_800_000_000;

    fn aud() -> Vec<String> {
        vec![admin_audience("https://auth.test")]
    }

    fn record() -> OrgKeyRecord {
        let pk = Ed25519SigningKey::from_seed(&SEED).unwrap().public_key();
        OrgKeyRecord {
            id: ID.into(),
            org: OrgId::parse("acme").unwrap(),
            name: "admin".into(),
            scopes: KeyUse::Admin.scopes(),
            conditions: KeyConditions::default(),
            public_key: base64url::encode(&pk),
            sealed_seed: SealedSeed {
                master_key_id: "m".into(),
                iv: "i".into(),
                ciphertext: "c".into(),
            },
            status: OrgKeyStatus::Active,
            created_at: 0,
            created_by: "operator".into(),
            revoked_at: None,
        }
    }

    fn check(token: &str, key: &OrgKeyRecord, now: u64) -> Result<Claims, ApiError> {
        PresentedCredential::parse(token)?.verify(key, &aud(), now)
    }

    /// A credential with hand-made claims, signed by `seed` under `kid`.
    fn forge(kid: &str, seed: &[u8; 32], claims: serde_json::Value) -> String {
        let key = Ed25519SigningKey::from_seed(seed).unwrap();
        jws::sign_ed25519(
            &encode_header(kid, "JWT"),
            claims.to_string().as_bytes(),
            &key,
        )
    }

    fn claims(iat: u64, exp: u64) -> serde_json::Value {
        json!({"iss": ID, "sub": ID, "aud": aud()[0], "iat": iat, "exp": exp, "jti": "j"})
    }

    #[test]
    fn a_minted_credential_verifies() {
        let t = mint(ID, &SEED, &aud()[0], NOW, 120, "jti1").unwrap();
        let c = check(&t, &record(), NOW + 10).unwrap();
        assert_eq!(c.iss, ID);
        assert_eq!(PresentedCredential::parse(&t).unwrap().key_id(), ID);
    }

    #[test]
    fn every_failure_is_401_and_named() {
        let good = record();
        let mut revoked = record();
        revoked.status = OrgKeyStatus::Revoked;
        let other_seed = [6u8; 32];
        let cases: Vec<(String, OrgKeyRecord, &str)> = vec![
            ("garbage".into(), good.clone(), "three"),
            (
                forge("thumbprint-like-kid", &SEED, claims(NOW, NOW + 60)),
                good.clone(),
                "kid is not an org key id",
            ),
            (
                mint(ID, &SEED, &aud()[0], NOW, 60, "j").unwrap(),
                revoked,
                "revoked",
            ),
            (
                mint(ID, &other_seed, &aud()[0], NOW, 60, "j").unwrap(),
                good.clone(),
                "signature",
            ),
            (
                mint(ID, &SEED, "https://elsewhere.test/admin/v1", NOW, 60, "j").unwrap(),
                good.clone(),
                "aud must be",
            ),
            (
                mint(ID, &SEED, &aud()[0], NOW - 1000, 300, "j").unwrap(),
                good.clone(),
                "expired",
            ),
            (
                mint(ID, &SEED, &aud()[0], NOW, 301, "j").unwrap(),
                good.clone(),
                "lifetime",
            ),
            (
                mint(ID, &SEED, &aud()[0], NOW + 120, 60, "j").unwrap(),
                good.clone(),
                "future",
            ),
            (
                forge(
                    ID,
                    &SEED,
                    json!({"iss": "x", "sub": ID, "aud": aud()[0], "iat": NOW, "exp": NOW + 60, "jti": "j"}),
                ),
                good.clone(),
                "iss must be the key id",
            ),
            (
                forge(
                    ID,
                    &SEED,
                    json!({"iss": ID, "sub": "x", "aud": aud()[0], "iat": NOW, "exp": NOW + 60, "jti": "j"}),
                ),
                good.clone(),
                "sub must be the key id",
            ),
            (
                forge(
                    ID,
                    &SEED,
                    json!({"iss": ID, "sub": ID, "aud": aud()[0], "iat": NOW, "jti": "j"}),
                ),
                good.clone(),
                "missing required claim exp",
            ),
        ];
        for (token, key, why) in cases {
            let e = check(&token, &key, NOW).unwrap_err();
            assert_eq!(e.status(), 401, "{why}");
            assert_eq!(e.code(), "invalid_token", "{why}");
            assert!(e.description().contains(why), "{why}: {e}");
        }
    }

    #[test]
    fn a_credential_for_another_key_is_refused() {
        let t = mint(ID, &SEED, &aud()[0], NOW, 60, "j").unwrap();
        let mut other = record();
        other.id = "key_BBBBBBBBBBBBBBBBBBBBBB".into();
        assert!(check(&t, &other, NOW).is_err());
    }
}
