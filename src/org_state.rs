//! What a request needs to know about an org, computed once when the org is loaded and kept in
//! the isolate: its record, the encoded JWS header of its active signing key, the JWKS it
//! publishes, its identity providers and its active org keys. Pure data: the worker layer keeps the
//! imported WebCrypto keys beside it (`worker::org_cache::OrgContext`).

use crate::jose::header::encode_ed25519_header;
use crate::jose::jwk::Jwks;
use crate::org::OrgRecord;
use crate::org_key::OrgKeyRecord;
use crate::provider::ProviderRecord;
use crate::signing_key::{signing_key, SigningKeyRecord};

pub struct OrgState {
    pub record: OrgRecord,
    /// The active signing key's id and its encoded header `{"alg":"EdDSA","typ":"at+jwt","kid":…}`;
    /// `None` when the org has no key that may sign now.
    pub signing: Option<SigningHeader>,
    /// The published JWKS document: signing keys that may have live tokens, and active org keys.
    pub jwks_json: String,
    /// The published signing keys alone: what verifies tokens this worker issued for the org.
    pub own_jwks: Jwks,
    pub providers: Vec<ProviderRecord>,
    /// Active org keys: tokens an org's servers mint with them can be introspected.
    pub org_keys: Vec<OrgKeyRecord>,
}

pub struct SigningHeader {
    pub kid: String,
    /// base64url of the JWS header.
    pub encoded: String,
}

impl OrgState {
    /// The org as loaded at `now` (seconds) from its stored records.
    pub fn new(
        record: OrgRecord,
        signing_keys: &[SigningKeyRecord],
        org_keys: Vec<OrgKeyRecord>,
        providers: Vec<ProviderRecord>,
        now: u64,
    ) -> Self {
        let own_jwks = Jwks {
            keys: signing_keys
                .iter()
                .filter(|k| k.is_published(now))
                .filter_map(|k| k.public_jwk().ok())
                .collect(),
        };
        let org_keys: Vec<OrgKeyRecord> = org_keys.into_iter().filter(|k| k.is_active()).collect();
        // Org keys are published beside the signing keys, so tokens an org's servers mint with
        // them verify against the same JWKS.
        let published = Jwks {
            keys: own_jwks
                .keys
                .iter()
                .cloned()
                .chain(org_keys.iter().filter_map(|k| k.public_jwk()))
                .collect(),
        };
        let signing = signing_key(signing_keys, now).map(|k| SigningHeader {
            kid: k.kid.clone(),
            encoded: encode_ed25519_header(&k.kid, "at+jwt"),
        });
        Self {
            record,
            signing,
            jwks_json: serde_json::to_string(&published)
                .unwrap_or_else(|_| r#"{"keys":[]}"#.into()),
            own_jwks,
            providers,
            org_keys,
        }
    }

    pub fn provider(&self, id: &str) -> Option<&ProviderRecord> {
        self.providers.iter().find(|p| p.id == id)
    }

    pub fn provider_for_issuer(&self, issuer: &str) -> Option<&ProviderRecord> {
        self.providers.iter().find(|p| p.settings.issuer == issuer)
    }
}
