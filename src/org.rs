//! Orgs: identifiers, settings with their defaults and hard caps, and the stored record.

use serde::{Deserialize, Serialize};

use crate::api_error::ApiError;
use crate::body::json_object;
use crate::cors::Origin;
use crate::limits::{AnonymousRateLimit, Tier};
use crate::scope_set::ScopeSet;

/// Access-token lifetime when an org sets none: short on purpose.
pub const DEFAULT_ACCESS_TOKEN_TTL_SECS: u64 = 600;
/// No access token of ours lives longer than this, whatever the org asks.
pub const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 3600;
/// How long an anonymous session (its refresh-token family) lives from its start.
pub const DEFAULT_SESSION_TTL_SECS: u64 = 30 * 24 * 3600;
pub const MAX_SESSION_TTL_SECS: u64 = 365 * 24 * 3600;
pub const DEFAULT_SCOPE: &str = "session";
const MAX_AUDIENCES: usize = 16;
const MAX_ORIGINS: usize = 32;
const MAX_NAME_LEN: usize = 200;

/// An org id: 1 to 63 characters of `a-z`, `0-9` and `-`, starting with a letter or digit.
/// It appears in URLs and KV key names, so the alphabet is deliberately narrow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct OrgId(String);

impl OrgId {
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for OrgId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom("invalid org id"))
    }
}

/// What an operator may set on an org. Every field has a default, so `{}` is a valid body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSettings {
    #[serde(default)]
    pub name: String,
    /// `aud` of issued tokens. Empty means the org's issuer URL.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Scope of anonymous-session tokens, space-separated.
    #[serde(default = "default_scope")]
    pub anonymous_scope: String,
    #[serde(default = "default_access_ttl")]
    pub access_token_ttl_secs: u64,
    #[serde(default = "default_session_ttl")]
    pub session_ttl_secs: u64,
    /// Browser origins allowed to call the org's endpoints (CORS). None by default.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default = "default_true")]
    pub anonymous_sessions: bool,
    /// A refresh token presented again within this many seconds of its rotation (a second tab,
    /// a retry) gets the same child instead of counting as reuse. 0: strict.
    #[serde(default = "default_reuse_interval")]
    pub refresh_reuse_interval_secs: u64,
    /// A session not refreshed for this long ends. 0: no idle limit.
    #[serde(default = "default_idle_ttl")]
    pub session_idle_ttl_secs: u64,
    /// New anonymous sessions per client IP per minute: the tier the org picks.
    #[serde(default)]
    pub anonymous_rate_limit: AnonymousRateLimit,
    /// The org's plan (monthly token quota). Only the platform operator changes it.
    #[serde(default)]
    pub tier: Tier,
    /// A custom monthly token quota replacing the tier's. Only the platform operator sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_quota: Option<u64>,
}

/// Default reuse interval: long enough for a retry on a flaky network or a second tab.
pub const DEFAULT_REUSE_INTERVAL_SECS: u64 = 10;
pub const MAX_REUSE_INTERVAL_SECS: u64 = 60;
/// Default idle lifetime: a week without a refresh.
pub const DEFAULT_IDLE_TTL_SECS: u64 = 7 * 24 * 3600;

fn default_reuse_interval() -> u64 {
    DEFAULT_REUSE_INTERVAL_SECS
}
fn default_idle_ttl() -> u64 {
    DEFAULT_IDLE_TTL_SECS
}

fn default_scope() -> String {
    DEFAULT_SCOPE.into()
}
fn default_access_ttl() -> u64 {
    DEFAULT_ACCESS_TOKEN_TTL_SECS
}
fn default_session_ttl() -> u64 {
    DEFAULT_SESSION_TTL_SECS
}
fn default_true() -> bool {
    true
}

impl Default for OrgSettings {
    fn default() -> Self {
        Self {
            name: String::new(),
            audiences: Vec::new(),
            anonymous_scope: default_scope(),
            access_token_ttl_secs: DEFAULT_ACCESS_TOKEN_TTL_SECS,
            session_ttl_secs: DEFAULT_SESSION_TTL_SECS,
            allowed_origins: Vec::new(),
            anonymous_sessions: true,
            refresh_reuse_interval_secs: DEFAULT_REUSE_INTERVAL_SECS,
            session_idle_ttl_secs: DEFAULT_IDLE_TTL_SECS,
            anonymous_rate_limit: AnonymousRateLimit::default(),
            tier: Tier::default(),
            monthly_quota: None,
        }
    }
}

impl OrgSettings {
    /// Tokens the org may be issued per calendar month; `None`: unlimited.
    pub fn quota(&self) -> Option<u64> {
        self.monthly_quota.or(self.tier.monthly_quota())
    }

    /// Whether these settings change what only the platform operator may (plan and quota).
    pub fn changes_plan(&self, before: &OrgSettings) -> bool {
        self.tier != before.tier || self.monthly_quota != before.monthly_quota
    }

    /// Parses an operator's JSON body; every problem names the field.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let settings: Self = json_object(body, "org settings")?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ApiError> {
        let field = |name: &str, why: &str| ApiError::invalid_request(format!("{name}: {why}"));
        if self.name.len() > MAX_NAME_LEN || self.name.chars().any(char::is_control) {
            return Err(field(
                "name",
                "at most 200 characters, no control characters",
            ));
        }
        if !(60..=MAX_ACCESS_TOKEN_TTL_SECS).contains(&self.access_token_ttl_secs) {
            return Err(field(
                "access_token_ttl_secs",
                "must be between 60 and 3600",
            ));
        }
        if !(self.access_token_ttl_secs..=MAX_SESSION_TTL_SECS).contains(&self.session_ttl_secs) {
            return Err(field(
                "session_ttl_secs",
                "must be at least access_token_ttl_secs and at most 31536000",
            ));
        }
        if self.refresh_reuse_interval_secs > MAX_REUSE_INTERVAL_SECS {
            return Err(field(
                "refresh_reuse_interval_secs",
                "must be between 0 (strict) and 60",
            ));
        }
        if self.session_idle_ttl_secs != 0
            && !(self.access_token_ttl_secs..=MAX_SESSION_TTL_SECS)
                .contains(&self.session_idle_ttl_secs)
        {
            return Err(field(
                "session_idle_ttl_secs",
                "must be 0 (none), or at least access_token_ttl_secs and at most 31536000",
            ));
        }
        if self.audiences.len() > MAX_AUDIENCES
            || self
                .audiences
                .iter()
                .any(|a| a.is_empty() || a.len() > 256 || a.contains(' '))
        {
            return Err(field(
                "audiences",
                "at most 16 non-empty values without spaces",
            ));
        }
        ScopeSet::parse(&self.anonymous_scope)
            .map_err(|_| field("anonymous_scope", "space-separated RFC 6749 scope tokens"))?;
        if self.allowed_origins.len() > MAX_ORIGINS {
            return Err(field("allowed_origins", "at most 32 origins"));
        }
        for o in &self.allowed_origins {
            Origin::parse(o).ok_or_else(|| {
                field(
                    "allowed_origins",
                    "each must be an origin like https://app.example.com",
                )
            })?;
        }
        Ok(())
    }
}

/// What KV holds under `org/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    pub id: OrgId,
    pub settings: OrgSettings,
    pub created_at: u64,
    pub updated_at: u64,
}

impl OrgRecord {
    /// The `iss` of the org's tokens and the base of its endpoints: `{origin}/orgs/{org}`.
    pub fn issuer(&self, origin: &str) -> String {
        issuer_url(origin, &self.id)
    }

    /// `aud` of issued tokens: the configured audiences, or the issuer itself.
    pub fn audiences(&self, issuer: &str) -> Vec<String> {
        if self.settings.audiences.is_empty() {
            vec![issuer.to_owned()]
        } else {
            self.settings.audiences.clone()
        }
    }
}

pub fn issuer_url(origin: &str, org: &OrgId) -> String {
    format!("{}/orgs/{}", origin.trim_end_matches('/'), org.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids() {
        for ok in ["dev", "acme-1", "0rg", &"a".repeat(63)] {
            assert!(OrgId::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "-acme",
            "Acme",
            "a_b",
            "a/b",
            "a.b",
            "ü",
            &"a".repeat(64),
        ] {
            assert!(OrgId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn empty_settings_get_defaults() {
        let s = OrgSettings::from_json(b"{}").unwrap();
        assert_eq!(s, OrgSettings::default());
        assert_eq!(s.access_token_ttl_secs, 600);
        assert!(s.allowed_origins.is_empty());
    }

    fn err_of(json: &str) -> String {
        OrgSettings::from_json(json.as_bytes())
            .unwrap_err()
            .description()
    }

    #[test]
    fn invalid_settings_name_the_field() {
        assert!(err_of(r#"{"access_token_ttl_secs": 7200}"#).starts_with("access_token_ttl_secs"));
        assert!(err_of(r#"{"access_token_ttl_secs": 10}"#).starts_with("access_token_ttl_secs"));
        assert!(err_of(r#"{"session_ttl_secs": 100}"#).starts_with("session_ttl_secs"));
        assert!(
            err_of(r#"{"allowed_origins": ["http://x.test/path"]}"#).starts_with("allowed_origins")
        );
        assert!(err_of(r#"{"anonymous_scope": "a  b"}"#).starts_with("anonymous_scope"));
        assert!(err_of(r#"{"audiences": [""]}"#).starts_with("audiences"));
        assert!(err_of(r#"{"name": "a\u0000"}"#).starts_with("name"));
        assert!(err_of(r#"{"colour": "red"}"#).contains("unknown field"));
        assert!(err_of(r#"{"access_token_ttl_secs": "600"}"#).contains("invalid type"));
    }

    #[test]
    fn issuer_and_default_audience() {
        let rec = OrgRecord {
            id: OrgId::parse("acme").unwrap(),
            settings: OrgSettings::default(),
            created_at: 0,
            updated_at: 0,
        };
        let iss = rec.issuer("https://auth.example.com/");
        assert_eq!(iss, "https://auth.example.com/orgs/acme");
        assert_eq!(rec.audiences(&iss), vec![iss.clone()]);
    }
}
