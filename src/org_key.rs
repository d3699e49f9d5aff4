//! Org keys: the credentials an org's servers, pipelines and admins hold. Each is an Ed25519 key
//! pair with an id (`key_…`), a name, admin scopes and optional conditions. Its secret (`sec_…`,
//! the private seed) is shown once, at creation; KV keeps it sealed under the master key, like
//! signing keys. The holder signs short-lived JWTs with it (`kid` = the key id) to call the
//! admin API; the public half is published in the org's JWKS while the key is active.

use serde::{Deserialize, Serialize};

use crate::admin_scope::{AdminScopes, KeyUse};
use crate::api_error::ApiError;
use crate::jose::base64url;
use crate::jose::jwk::OkpJwk;
use crate::org::OrgId;
use crate::signing_key::SealedSeed;

pub const KEY_ID_PREFIX: &str = "key_";
pub const SECRET_PREFIX: &str = "sec_";
const MAX_NAME_LEN: usize = 100;
const MAX_CONDITION_AUDIENCES: usize = 16;

/// `key_` + 22 base64url characters (128 random bits).
pub fn is_key_id(s: &str) -> bool {
    s.strip_prefix(KEY_ID_PREFIX).is_some_and(|rest| {
        rest.len() == 22
            && rest
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    })
}

/// The secret as shown to its holder: `sec_` + base64url of the 32-byte Ed25519 seed.
pub fn encode_secret(seed: &[u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", base64url::encode(seed))
}

/// The seed of a `sec_…` secret; `None` for anything else (never says what is wrong with it).
pub fn decode_secret(secret: &str) -> Option<[u8; 32]> {
    let body = secret.trim().strip_prefix(SECRET_PREFIX)?;
    base64url::decode(body).ok()?.try_into().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgKeyStatus {
    Active,
    Revoked,
}

/// What tokens signed with the key may address. Empty means no restriction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConditions {
    /// Every `aud` of a token signed with the key must be one of these (the admin API's own
    /// audience, by which the key authenticates, is always allowed).
    #[serde(default)]
    pub audiences: Vec<String>,
}

impl KeyConditions {
    fn validate(&self) -> Result<(), ApiError> {
        if self.audiences.len() > MAX_CONDITION_AUDIENCES
            || self
                .audiences
                .iter()
                .any(|a| a.is_empty() || a.len() > 256 || a.contains(char::is_whitespace))
        {
            return Err(ApiError::invalid_request(
                "conditions.audiences: at most 16 non-empty values without spaces",
            ));
        }
        Ok(())
    }

    /// Whether a token addressed to `audiences` is within the conditions.
    pub fn allows_audiences<'a>(&self, mut audiences: impl Iterator<Item = &'a str>) -> bool {
        self.audiences.is_empty() || audiences.all(|a| self.audiences.iter().any(|c| c == a))
    }
}

/// The body of `POST …/keys`: a name, and either a named scope set (`use`) or explicit `scopes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgKey {
    pub name: String,
    #[serde(default, rename = "use")]
    pub key_use: Option<String>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub conditions: KeyConditions,
}

/// A validated creation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrgKey {
    pub name: String,
    pub scopes: AdminScopes,
    pub conditions: KeyConditions,
}

impl CreateOrgKey {
    pub fn validate(self) -> Result<NewOrgKey, ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.contains(char::is_control)
        {
            return Err(ApiError::invalid_request(
                "name: 1 to 100 characters, no control characters",
            ));
        }
        let scopes = match (self.key_use.as_deref(), self.scopes.as_ref()) {
            (Some(u), None) => KeyUse::parse(u)
                .ok_or_else(|| ApiError::invalid_request("use: one of production, ci, admin"))?
                .scopes(),
            (None, Some(list)) => AdminScopes::parse(list.iter().map(String::as_str))
                .map_err(|e| ApiError::invalid_request(format!("scopes: {e}")))?,
            _ => {
                return Err(ApiError::invalid_request(
                    "give exactly one of use (production, ci, admin) or scopes",
                ))
            }
        };
        self.conditions.validate()?;
        Ok(NewOrgKey {
            name: name.to_owned(),
            scopes,
            conditions: self.conditions,
        })
    }
}

/// What KV holds under `key/{id}`. The seed is sealed; nothing here is secret in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgKeyRecord {
    pub id: String,
    pub org: OrgId,
    pub name: String,
    #[serde(with = "scope_names")]
    pub scopes: AdminScopes,
    #[serde(default)]
    pub conditions: KeyConditions,
    /// base64url of the 32-byte Ed25519 public key.
    pub public_key: String,
    pub sealed_seed: SealedSeed,
    pub status: OrgKeyStatus,
    pub created_at: u64,
    /// Who created it: `operator` or the creating key's id.
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
}

/// What anyone allowed to read keys sees: never the seed, sealed or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgKeyInfo<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub scopes: Vec<&'static str>,
    /// The named set the scopes equal, if any.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub key_use: Option<&'static str>,
    pub conditions: &'a KeyConditions,
    pub status: OrgKeyStatus,
    pub created_at: u64,
    pub created_by: &'a str,
    pub revoked_at: Option<u64>,
    pub last_used_at: Option<u64>,
    pub public_jwk: OkpJwk,
}

impl OrgKeyRecord {
    pub fn kv_key(id: &str) -> String {
        format!("key/{id}")
    }

    /// The org's index entry: listing an org's keys lists this prefix.
    pub fn index_key(org: &OrgId, id: &str) -> String {
        format!("{}{id}", Self::index_prefix(org))
    }

    pub fn index_prefix(org: &OrgId) -> String {
        format!("org/{}/key/", org.as_str())
    }

    pub fn public_key_bytes(&self) -> Option<[u8; 32]> {
        base64url::decode(&self.public_key).ok()?.try_into().ok()
    }

    pub fn public_jwk(&self) -> Option<OkpJwk> {
        OkpJwk::with_kid(&self.public_key_bytes()?, &self.id).ok()
    }

    pub fn is_active(&self) -> bool {
        self.status == OrgKeyStatus::Active
    }

    pub fn info(&self, last_used_at: Option<u64>) -> Option<OrgKeyInfo<'_>> {
        Some(OrgKeyInfo {
            id: &self.id,
            name: &self.name,
            scopes: self.scopes.names(),
            key_use: self.scopes.named_use().map(KeyUse::name),
            conditions: &self.conditions,
            status: self.status,
            created_at: self.created_at,
            created_by: &self.created_by,
            revoked_at: self.revoked_at,
            last_used_at,
            public_jwk: self.public_jwk()?,
        })
    }
}

/// The additional authenticated data of an org key's sealed seed.
pub fn seed_aad(org: &OrgId, id: &str) -> Vec<u8> {
    format!("token-exchange/org-key/v1/{}/{id}", org.as_str()).into_bytes()
}

/// KV keeps scopes as their names.
mod scope_names {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::admin_scope::AdminScopes;

    pub fn serialize<S: Serializer>(scopes: &AdminScopes, s: S) -> Result<S::Ok, S::Error> {
        scopes.names().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AdminScopes, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        AdminScopes::parse(names.iter().map(String::as_str)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_scope::AdminScope;
    use crate::body::json_object;
    use crate::jose::ed25519::Ed25519SigningKey;

    fn create(json: &str) -> Result<NewOrgKey, ApiError> {
        json_object::<CreateOrgKey>(json.as_bytes(), "key")?.validate()
    }

    #[test]
    fn creation_takes_a_use_or_scopes_never_both() {
        let k = create(r#"{"name":" server 1 ","use":"production"}"#).unwrap();
        assert_eq!(k.name, "server 1");
        assert_eq!(k.scopes, KeyUse::Production.scopes());
        let k = create(r#"{"name":"x","scopes":["keys:read","audit:read"]}"#).unwrap();
        assert!(k.scopes.contains(AdminScope::AuditRead));
        for (body, field) in [
            (r#"{"name":"x"}"#, "exactly one"),
            (
                r#"{"name":"x","use":"ci","scopes":["keys:read"]}"#,
                "exactly one",
            ),
            (r#"{"name":"x","use":"root"}"#, "use:"),
            (r#"{"name":"x","scopes":[]}"#, "scopes:"),
            (
                r#"{"name":"x","scopes":["keys:all"]}"#,
                "scopes: unknown scope",
            ),
            (r#"{"name":"","use":"ci"}"#, "name:"),
            (r#"{"name":"a\u0001b","use":"ci"}"#, "name:"),
            (r#"{"use":"ci"}"#, "name"),
            (r#"{"name":"x","use":"ci","extra":1}"#, "unknown field"),
            (
                r#"{"name":"x","use":"ci","conditions":{"audiences":["a b"]}}"#,
                "conditions.audiences",
            ),
            (
                r#"{"name":"x","use":"ci","conditions":{"other":[]}}"#,
                "unknown field",
            ),
        ] {
            let e = create(body).unwrap_err();
            assert_eq!(e.status(), 400, "{body}");
            assert!(e.description().contains(field), "{body}: {e}");
        }
        let long = format!(r#"{{"name":"{}","use":"ci"}}"#, "a".repeat(101));
        assert!(create(&long).is_err());
    }

    #[test]
    fn conditions_restrict_audiences() {
        let none = KeyConditions::default();
        assert!(none.allows_audiences(["anything"].into_iter()));
        let c = KeyConditions {
            audiences: vec!["factory-1".into(), "factory-2".into()],
        };
        assert!(c.allows_audiences(["factory-1"].into_iter()));
        assert!(c.allows_audiences(["factory-2", "factory-1"].into_iter()));
        assert!(!c.allows_audiences(["factory-1", "factory-3"].into_iter()));
    }

    #[test]
    fn ids_and_secrets() {
        assert!(is_key_id("key_AAAAAAAAAAAAAAAAAAAAAA"));
        assert!(!is_key_id("key_AAAA"));
        assert!(!is_key_id("sec_AAAAAAAAAAAAAAAAAAAAAA"));
        assert!(!is_key_id("key_AAAAAAAAAAAAAAAAAAAAA/"));
        let seed = [9u8; 32];
        assert_eq!(decode_secret(&encode_secret(&seed)), Some(seed));
        assert_eq!(decode_secret(&encode_secret(&seed)[1..]), None);
        assert_eq!(decode_secret("sec_AAAA"), None);
    }

    #[test]
    fn record_round_trips_and_info_hides_the_seed() {
        let pk = Ed25519SigningKey::from_seed(&[3; 32]).unwrap().public_key();
        let record = OrgKeyRecord {
            id: "key_AAAAAAAAAAAAAAAAAAAAAA".into(),
            org: OrgId::parse("acme").unwrap(),
            name: "ci".into(),
            scopes: KeyUse::Ci.scopes(),
            conditions: KeyConditions::default(),
            public_key: base64url::encode(&pk),
            sealed_seed: SealedSeed {
                master_key_id: "m".into(),
                iv: "iv".into(),
                ciphertext: "sealed-seed-ciphertext".into(),
            },
            status: OrgKeyStatus::Active,
            created_at: 1,
            created_by: "operator".into(),
            revoked_at: None,
        };
        let json = serde_json::to_string(&record).unwrap();
        let back: OrgKeyRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
        let info = serde_json::to_value(record.info(Some(5)).unwrap()).unwrap();
        assert_eq!(info["use"], "ci");
        assert_eq!(info["public_jwk"]["kid"], record.id.as_str());
        assert_eq!(info["last_used_at"], 5);
        assert!(!info.to_string().contains("sealed-seed-ciphertext"));
    }
}
