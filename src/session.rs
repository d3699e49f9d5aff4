//! Anonymous sessions: device ids, and the claims of the access tokens a session gets.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::refresh_token::ExchangedSession;

/// A client-chosen device identifier: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`.
pub fn valid_device_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

/// The claims of a session's access token (RFC 9068 profile, `typ: at+jwt`): an anonymous
/// session's, or an exchanged one's (`idp`, mapped claims, `anonymous_sub` or `act`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: AudienceClaim<'a>,
    pub exp: u64,
    pub iat: u64,
    pub jti: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub sid: &'a str,
    /// Marks the subject as an anonymous identity: no login stands behind it. Only ever `true`.
    #[serde(skip_serializing_if = "is_false")]
    pub anonymous: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<&'a str>,
    /// The identity provider an exchanged session came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp: Option<&'a str>,
    /// The anonymous subject an exchange upgraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_sub: Option<&'a str>,
    /// The actor of a delegation (RFC 8693 §4.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<&'a Value>,
    /// Upstream claims copied under their mapped names (never one of the names above).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub mapped: Option<&'a Map<String, Value>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `aud` serialized as a string when there is one audience, an array otherwise (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AudienceClaim<'a> {
    One(&'a str),
    Many(&'a [String]),
}

impl<'a> AudienceClaim<'a> {
    pub fn from_list(list: &'a [String]) -> Self {
        match list {
            [one] => Self::One(one),
            many => Self::Many(many),
        }
    }
}

/// The `client_id` claim of anonymous-session tokens: the browser is a public client.
pub const ANONYMOUS_CLIENT_ID: &str = "anonymous";

/// Everything about a session that its access tokens repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView<'a> {
    pub issuer: &'a str,
    pub audiences: &'a [String],
    pub subject: &'a str,
    pub session_id: &'a str,
    pub scope: &'a str,
    pub device_id: Option<&'a str>,
    /// `None` for an anonymous session.
    pub exchanged: Option<&'a ExchangedSession>,
}

impl<'a> SessionView<'a> {
    /// Claims of a token issued at `now`, living `ttl_secs` but never past the session's end.
    pub fn access_claims(
        &self,
        jti: &'a str,
        now: u64,
        ttl_secs: u64,
        session_exp: u64,
    ) -> AccessClaims<'a> {
        AccessClaims {
            iss: self.issuer,
            sub: self.subject,
            aud: AudienceClaim::from_list(self.audiences),
            exp: now.saturating_add(ttl_secs).min(session_exp),
            iat: now,
            jti,
            client_id: self
                .exchanged
                .map_or(ANONYMOUS_CLIENT_ID, |e| e.client_id.as_str()),
            scope: self.scope,
            sid: self.session_id,
            anonymous: self.exchanged.is_none(),
            device_id: self.device_id,
            idp: self.exchanged.map(|e| e.idp.as_str()),
            anonymous_sub: self.exchanged.and_then(|e| e.anonymous_sub.as_deref()),
            act: self.exchanged.and_then(|e| e.act.as_ref()),
            mapped: self.exchanged.map(|e| &e.claims).filter(|c| !c.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids() {
        assert!(valid_device_id("tab-1.a_b:c"));
        assert!(!valid_device_id(""));
        assert!(!valid_device_id("a b"));
        assert!(!valid_device_id("a/b"));
        assert!(!valid_device_id(&"a".repeat(129)));
    }

    #[test]
    fn claims_shape() {
        let aud = vec!["https://api.example.com".to_string()];
        let view = SessionView {
            issuer: "https://auth.test/orgs/acme",
            audiences: &aud,
            subject: "anon_x",
            session_id: "sid_y",
            scope: "session",
            device_id: None,
            exchanged: None,
        };
        let v = serde_json::to_value(view.access_claims("jti_z", 1000, 600, 5000)).unwrap();
        assert_eq!(v["aud"], "https://api.example.com");
        assert_eq!(v["exp"], 1600);
        assert_eq!(v["iat"], 1000);
        assert_eq!(v["anonymous"], true);
        assert_eq!(v["client_id"], "anonymous");
        assert!(v.get("device_id").is_none());
        let two = vec!["a".to_string(), "b".to_string()];
        let view = SessionView {
            audiences: &two,
            device_id: Some("d1"),
            ..view
        };
        let v = serde_json::to_value(view.access_claims("j", 0, 60, 30)).unwrap();
        assert_eq!(v["aud"], serde_json::json!(["a", "b"]));
        assert_eq!(v["exp"], 30, "an access token never outlives its session");
        assert_eq!(v["device_id"], "d1");
    }

    #[test]
    fn exchanged_claims_shape() {
        let aud = vec!["api".to_string()];
        let mut mapped = Map::new();
        mapped.insert("email".into(), "a@b.test".into());
        let ex = ExchangedSession {
            idp: "google".into(),
            aud: aud.clone(),
            client_id: "web".into(),
            claims: mapped,
            anonymous_sub: Some("anon_x".into()),
            act: None,
        };
        let view = SessionView {
            issuer: "https://auth.test/orgs/acme",
            audiences: &aud,
            subject: "google|u1",
            session_id: "sid_y",
            scope: "read",
            device_id: None,
            exchanged: Some(&ex),
        };
        let v = serde_json::to_value(view.access_claims("j", 0, 60, 600)).unwrap();
        assert!(
            v.get("anonymous").is_none(),
            "never anonymous: false, never anonymous at all"
        );
        assert_eq!(v["idp"], "google");
        assert_eq!(v["client_id"], "web");
        assert_eq!(v["email"], "a@b.test");
        assert_eq!(v["anonymous_sub"], "anon_x");
        assert!(v.get("act").is_none());
    }
}
