//! Revocations, as the session shards keep them, and which tokens they cover:
//!
//! | kind | value | covers |
//! |---|---|---|
//! | `sid` | a session id | the session: its refresh tokens and every access token it issued |
//! | `sub` | a subject | every session that started, and every token issued, at or before `at` |
//! | `jti` | a token id | that access token |
//! | `kid` | a signing key or org key id | every token it signed (written to every shard of the org) |
//!
//! Each row expires when nothing it covers can still be valid, and is purged then.

use serde::{Deserialize, Serialize};

use crate::org::MAX_ACCESS_TOKEN_TTL_SECS;
use crate::signing_key::RETIRED_KEY_PUBLISH_SECS;

/// A subject or session revocation is kept this long: the longest a session can live.
pub const SESSION_REVOCATION_SECS: u64 = crate::org::MAX_SESSION_TTL_SECS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Sid,
    Sub,
    Jti,
    Kid,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sid => "sid",
            Self::Sub => "sub",
            Self::Jti => "jti",
            Self::Kid => "kid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Sid, Self::Sub, Self::Jti, Self::Kid]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// One revocation, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub kind: Kind,
    pub value: String,
    /// When it was made (Unix seconds).
    pub at: u64,
    /// When it can be forgotten.
    pub expires_at: u64,
}

impl Revocation {
    pub fn session(sid: &str, now: u64, session_exp: Option<u64>) -> Self {
        Self::new(
            Kind::Sid,
            sid,
            now,
            session_exp.unwrap_or(now + SESSION_REVOCATION_SECS),
        )
    }

    pub fn subject(sub: &str, now: u64) -> Self {
        Self::new(Kind::Sub, sub, now, now + SESSION_REVOCATION_SECS)
    }

    /// An access token: forgotten once it has expired (its `exp`, or the longest lifetime).
    pub fn token(jti: &str, now: u64, exp: Option<u64>) -> Self {
        let until = exp.unwrap_or(now + MAX_ACCESS_TOKEN_TTL_SECS).max(now);
        Self::new(Kind::Jti, jti, now, until + 300)
    }

    /// A key: every token it signed has expired once a retired key would leave the JWKS.
    pub fn key(kid: &str, now: u64) -> Self {
        Self::new(Kind::Kid, kid, now, now + RETIRED_KEY_PUBLISH_SECS)
    }

    fn new(kind: Kind, value: &str, at: u64, expires_at: u64) -> Self {
        Self {
            kind,
            value: value.to_owned(),
            at,
            expires_at,
        }
    }
}

/// The body of `POST /admin/v1/orgs/{org}/revocations`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub jti: Option<String>,
    /// The revoked access token's `exp`, when known: the revocation is forgotten after it.
    #[serde(default)]
    pub exp: Option<u64>,
    #[serde(default)]
    pub kid: Option<String>,
}

/// What an admin revocation addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Session {
        sub: String,
        sid: String,
    },
    Subject {
        sub: String,
    },
    Token {
        sub: String,
        jti: String,
        exp: Option<u64>,
    },
    Key {
        kid: String,
    },
}

impl RevocationRequest {
    /// One of: `{sub, sid}`, `{sub}`, `{sub, jti[, exp]}`, `{kid}`.
    pub fn target(self) -> Result<Target, crate::api_error::ApiError> {
        let bad = |m: &str| crate::api_error::ApiError::invalid_request(m.to_owned());
        let valid =
            |v: &Option<String>| v.as_deref().is_none_or(|s| !s.is_empty() && s.len() <= 512);
        if ![&self.sub, &self.sid, &self.jti, &self.kid]
            .into_iter()
            .all(valid)
        {
            return Err(bad("sub, sid, jti and kid: 1 to 512 characters"));
        }
        match (self.sub, self.sid, self.jti, self.kid) {
            (Some(sub), Some(sid), None, None) if self.exp.is_none() => Ok(Target::Session { sub, sid }),
            (Some(sub), None, None, None) if self.exp.is_none() => Ok(Target::Subject { sub }),
            (Some(sub), None, Some(jti), None) => Ok(Target::Token { sub, jti, exp: self.exp }),
            (None, None, None, Some(kid)) if self.exp.is_none() => Ok(Target::Key { kid }),
            _ => Err(bad(
                "give {sub, sid} (a session), {sub} (a subject), {sub, jti, exp?} (a token) or {kid} (a key)",
            )),
        }
    }
}

/// What is known of a token (or session) being checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFacts {
    pub sub: String,
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub jti: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    /// When the token was issued (an access token's `iat`; a session's start for a refresh).
    pub issued_at: u64,
}

impl TokenFacts {
    /// The (kind, value) pairs a shard must look up for these facts.
    pub fn lookups(&self) -> Vec<(Kind, &str)> {
        let mut out = vec![(Kind::Sub, self.sub.as_str())];
        out.extend(self.sid.as_deref().map(|v| (Kind::Sid, v)));
        out.extend(self.jti.as_deref().map(|v| (Kind::Jti, v)));
        out.extend(self.kid.as_deref().map(|v| (Kind::Kid, v)));
        out
    }
}

/// The first of `rows` that covers the token, if any.
pub fn covering<'a>(rows: &'a [Revocation], facts: &TokenFacts) -> Option<&'a Revocation> {
    rows.iter().find(|r| match r.kind {
        Kind::Sub => r.value == facts.sub && facts.issued_at <= r.at,
        Kind::Sid => Some(r.value.as_str()) == facts.sid.as_deref(),
        Kind::Jti => Some(r.value.as_str()) == facts.jti.as_deref(),
        Kind::Kid => Some(r.value.as_str()) == facts.kid.as_deref(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> TokenFacts {
        TokenFacts {
            sub: "anon_1".into(),
            sid: Some("sid_1".into()),
            jti: Some("jti_1".into()),
            kid: Some("kid_1".into()),
            issued_at: 1000,
        }
    }

    #[test]
    fn each_kind_covers_what_it_says() {
        let f = facts();
        for r in [
            Revocation::session("sid_1", 2000, None),
            Revocation::token("jti_1", 2000, Some(2600)),
            Revocation::key("kid_1", 2000),
            Revocation::subject("anon_1", 1000),
        ] {
            assert!(covering(std::slice::from_ref(&r), &f).is_some(), "{r:?}");
        }
        for r in [
            Revocation::session("sid_2", 2000, None),
            Revocation::token("jti_2", 2000, None),
            Revocation::key("kid_2", 2000),
            Revocation::subject("anon_2", 2000),
            Revocation::subject("anon_1", 999),
        ] {
            assert!(covering(std::slice::from_ref(&r), &f).is_none(), "{r:?}");
        }
    }

    #[test]
    fn a_subject_revocation_spares_later_sessions() {
        let r = [Revocation::subject("anon_1", 5000)];
        let mut f = facts();
        f.issued_at = 5001;
        assert!(covering(&r, &f).is_none());
    }

    #[test]
    fn rows_expire_when_nothing_they_cover_can_be_valid() {
        assert_eq!(Revocation::token("j", 100, Some(700)).expires_at, 1000);
        assert_eq!(
            Revocation::token("j", 100, None).expires_at,
            100 + 3600 + 300
        );
        assert_eq!(Revocation::key("k", 0).expires_at, RETIRED_KEY_PUBLISH_SECS);
        assert_eq!(Revocation::session("s", 0, Some(50)).expires_at, 50);
        assert_eq!(
            Revocation::subject("u", 0).expires_at,
            SESSION_REVOCATION_SECS
        );
    }

    #[test]
    fn admin_requests_name_one_target() {
        let req = |v: serde_json::Value| serde_json::from_value::<RevocationRequest>(v).unwrap();
        use serde_json::json;
        assert_eq!(
            req(json!({"sub": "u", "sid": "s"})).target().unwrap(),
            Target::Session {
                sub: "u".into(),
                sid: "s".into()
            }
        );
        assert_eq!(
            req(json!({"sub": "u"})).target().unwrap(),
            Target::Subject { sub: "u".into() }
        );
        assert_eq!(
            req(json!({"sub": "u", "jti": "j", "exp": 5}))
                .target()
                .unwrap(),
            Target::Token {
                sub: "u".into(),
                jti: "j".into(),
                exp: Some(5)
            }
        );
        assert_eq!(
            req(json!({"kid": "k"})).target().unwrap(),
            Target::Key { kid: "k".into() }
        );
        for bad in [
            json!({}),
            json!({"sid": "s"}),
            json!({"jti": "j"}),
            json!({"kid": "k", "sub": "u"}),
            json!({"sub": "u", "sid": "s", "jti": "j"}),
            json!({"sub": ""}),
            json!({"sub": "u", "exp": 5}),
        ] {
            assert_eq!(
                req(bad.clone()).target().unwrap_err().status(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn lookups_name_every_fact() {
        let kinds: Vec<Kind> = facts().lookups().into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, [Kind::Sub, Kind::Sid, Kind::Jti, Kind::Kid]);
        assert_eq!(Kind::parse("kid"), Some(Kind::Kid));
        assert_eq!(Kind::parse("x"), None);
    }
}
