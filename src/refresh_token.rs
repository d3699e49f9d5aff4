//! Self-contained refresh tokens: the session state, sealed with AES-256-GCM by the worker.
//!
//! Nothing is stored when a session is created or refreshed: the token carries the session
//! (org, session id, subject, generation, times, scope) and 128 bits of randomness, encrypted and
//! authenticated under a per-org key derived from the master secret. The generation counter is what
//! the Durable Object issue's reuse detection keys on (one family per `sid`, one child per generation).
//!
//! Wire format: `rt1.` + base64url(iv (12 bytes) || ciphertext-with-tag). The additional data binds
//! the token to its org, so a token of one org never opens under another's key.

use serde::{Deserialize, Serialize};

use crate::api_error::ApiError;
use crate::jose::base64url;
use crate::org::OrgId;

pub const PREFIX: &str = "rt1.";
pub const IV_LEN: usize = 12;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// Far above any real token (~400 bytes anonymous; an exchanged one carries at most 4 KiB of
/// mapped claims), far below anything that costs to decode.
pub const MAX_LEN: usize = 12 * 1024;
const VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshPayload {
    pub v: u8,
    pub org: String,
    pub sid: String,
    pub sub: String,
    /// 0 for the token issued with the session, +1 at every rotation.
    pub generation: u32,
    /// When the session started.
    pub auth_time: u64,
    /// When this token was minted.
    pub iat: u64,
    /// Absolute end of the session: no refresh after it.
    pub exp: u64,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// 128 random bits: every token is unique and unguessable even with equal fields.
    pub nonce: String,
    /// What an exchanged session's tokens repeat; absent for an anonymous session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchanged: Option<ExchangedSession>,
}

/// The identity an exchange established, carried by its session's refresh tokens so that every
/// refreshed access token says the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangedSession {
    /// The identity provider's id.
    pub idp: String,
    pub aud: Vec<String>,
    pub client_id: String,
    /// Upstream claims copied under their mapped names.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub claims: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

/// What a new session's first refresh token says.
pub struct NewSession<'a> {
    pub org: &'a OrgId,
    pub session_id: &'a str,
    pub subject: &'a str,
    pub scope: &'a str,
    pub device_id: Option<&'a str>,
    pub now: u64,
    pub session_ttl_secs: u64,
}

impl RefreshPayload {
    pub fn first(s: &NewSession<'_>, nonce: &[u8; 16]) -> Self {
        Self {
            v: VERSION,
            org: s.org.as_str().to_owned(),
            sid: s.session_id.to_owned(),
            sub: s.subject.to_owned(),
            generation: 0,
            auth_time: s.now,
            iat: s.now,
            exp: s.now.saturating_add(s.session_ttl_secs),
            scope: s.scope.to_owned(),
            device_id: s.device_id.map(str::to_owned),
            nonce: base64url::encode(nonce),
            exchanged: None,
        }
    }

    /// The token that replaces this one at a refresh.
    pub fn rotated(&self, now: u64, nonce: &[u8; 16]) -> Self {
        Self {
            generation: self.generation.saturating_add(1),
            iat: now,
            nonce: base64url::encode(nonce),
            ..self.clone()
        }
    }

    /// Checks what a decrypted payload must satisfy to be honoured for `org` at `now`.
    pub fn check(&self, org: &OrgId, now: u64) -> Result<(), ApiError> {
        if self.v != VERSION || self.org != org.as_str() {
            return Err(ApiError::invalid_grant(
                "refresh token is not valid for this org",
            ));
        }
        if now >= self.exp {
            return Err(ApiError::invalid_grant(
                "session has expired; start a new one",
            ));
        }
        Ok(())
    }

    /// A session not refreshed for `idle_ttl_secs` (0: no limit) has ended. This token was minted
    /// at the last refresh, so its `iat` is the session's last use.
    pub fn check_idle(&self, now: u64, idle_ttl_secs: u64) -> Result<(), ApiError> {
        if idle_ttl_secs > 0 && now.saturating_sub(self.iat) > idle_ttl_secs {
            return Err(ApiError::invalid_grant(
                "session ended: not refreshed within the org's idle lifetime",
            ));
        }
        Ok(())
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, ApiError> {
        serde_json::from_slice(bytes).map_err(|_| invalid())
    }
}

/// The additional authenticated data that binds a sealed token to its org.
pub fn aad(org: &OrgId) -> Vec<u8> {
    format!("token-exchange/refresh-token/v1/{}", org.as_str()).into_bytes()
}

/// `rt1.` + base64url(iv || ciphertext).
pub fn encode(iv: &[u8; IV_LEN], ciphertext: &[u8]) -> String {
    let mut raw = Vec::with_capacity(IV_LEN + ciphertext.len());
    raw.extend_from_slice(iv);
    raw.extend_from_slice(ciphertext);
    let mut out = String::from(PREFIX);
    out.push_str(&base64url::encode(&raw));
    out
}

/// The iv and ciphertext of a presented token; every malformation is the same `invalid_grant`,
/// so a prober learns nothing from which check failed.
pub fn decode(token: &str) -> Result<([u8; IV_LEN], Vec<u8>), ApiError> {
    if token.len() > MAX_LEN {
        return Err(invalid());
    }
    let body = token.strip_prefix(PREFIX).ok_or_else(invalid)?;
    let raw = base64url::decode(body).map_err(|_| invalid())?;
    if raw.len() < IV_LEN + TAG_LEN + 2 {
        return Err(invalid());
    }
    let (iv, ciphertext) = raw.split_at(IV_LEN);
    let mut iv_arr = [0u8; IV_LEN];
    iv_arr.copy_from_slice(iv);
    Ok((iv_arr, ciphertext.to_vec()))
}

fn invalid() -> ApiError {
    ApiError::invalid_grant("refresh token is invalid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrgId {
        OrgId::parse("acme").unwrap()
    }

    fn payload() -> RefreshPayload {
        RefreshPayload::first(
            &NewSession {
                org: &org(),
                session_id: "sid_1",
                subject: "anon_1",
                scope: "session",
                device_id: Some("dev1"),
                now: 1000,
                session_ttl_secs: 3600,
            },
            &[7; 16],
        )
    }

    #[test]
    fn idle_sessions_end() {
        let p = payload(); // minted at 1000
        assert!(p.check_idle(1000 + 600, 600).is_ok());
        let e = p.check_idle(1000 + 601, 600).unwrap_err();
        assert_eq!(e.code(), "invalid_grant");
        assert!(e.description().contains("idle"));
        assert!(p.check_idle(u64::MAX, 0).is_ok(), "0 means no idle limit");
    }

    #[test]
    fn rotation_keeps_the_session_and_advances_the_generation() {
        let p = payload();
        let next = p.rotated(2000, &[8; 16]);
        assert_eq!((next.sid.as_str(), next.sub.as_str()), ("sid_1", "anon_1"));
        assert_eq!(next.generation, 1);
        assert_eq!(next.auth_time, 1000);
        assert_eq!(next.exp, 4600);
        assert_eq!(next.iat, 2000);
        assert_ne!(next.nonce, p.nonce);
    }

    #[test]
    fn check_rejects_other_orgs_and_expired_sessions() {
        let p = payload();
        assert!(p.check(&org(), 4599).is_ok());
        assert_eq!(p.check(&org(), 4600).unwrap_err().code(), "invalid_grant");
        assert!(p.check(&OrgId::parse("other").unwrap(), 2000).is_err());
        let old = RefreshPayload { v: 0, ..p };
        assert!(old.check(&org(), 2000).is_err());
    }

    #[test]
    fn json_round_trip_and_strictness() {
        let p = payload();
        assert_eq!(RefreshPayload::from_json(&p.to_json()).unwrap(), p);
        assert!(RefreshPayload::from_json(b"{}").is_err());
        let mut v: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        v["extra"] = 1.into();
        assert!(RefreshPayload::from_json(v.to_string().as_bytes()).is_err());
    }

    #[test]
    fn envelope() {
        let token = encode(&[1; 12], &[2; 40]);
        assert!(token.starts_with("rt1."));
        let (iv, ct) = decode(&token).unwrap();
        assert_eq!(iv, [1; 12]);
        assert_eq!(ct, vec![2; 40]);
        for bad in [
            "",
            "rt1.",
            "rt2.AAAA",
            &token[4..],
            &format!("{token}="),
            &encode(&[1; 12], &[2; 10]),
            &"rt1.".repeat(600),
        ] {
            assert_eq!(decode(bad).unwrap_err().code(), "invalid_grant", "{bad}");
        }
    }

    #[test]
    fn aad_names_the_org() {
        assert_ne!(aad(&org()), aad(&OrgId::parse("acme2").unwrap()));
    }
}
