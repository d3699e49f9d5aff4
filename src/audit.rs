//! The audit log of an org's admin operations: who did what to which object, and when.
//!
//! Entries are write-once KV records under `org/{org}/audit/{order}`, where `order` sorts newest
//! first (`u64::MAX - ms`, zero-padded) and ends in random hex so two entries of one millisecond
//! never collide. Nothing is read-modified-written; entries expire after [`RETENTION_SECS`].

use serde::{Deserialize, Serialize};

use crate::org::OrgId;

/// How long an entry is kept.
pub const RETENTION_SECS: u64 = 400 * 24 * 3600;
/// Most entries one listing returns.
pub const MAX_PAGE: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unix milliseconds.
    pub at_ms: u64,
    /// `operator`, or the id of the org key whose credential made the call.
    pub actor: String,
    /// What was done, e.g. `key.create`, `key.revoke`, `signing_key.rotate`, `org.update`.
    pub action: String,
    /// The object acted on (a key id, a kid, the org id).
    pub target: String,
    /// Non-secret context (a key's name and scopes, a changed setting's name).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// The KV key: newest first under the org's prefix; `nonce` keeps same-millisecond entries apart.
    pub fn kv_key(&self, org: &OrgId, nonce: u32) -> String {
        format!(
            "{}{:020}-{nonce:08x}",
            Self::kv_prefix(org),
            u64::MAX - self.at_ms
        )
    }

    pub fn kv_prefix(org: &OrgId) -> String {
        format!("org/{}/audit/", org.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: u64) -> AuditEntry {
        AuditEntry {
            at_ms,
            actor: "operator".into(),
            action: "key.create".into(),
            target: "key_x".into(),
            detail: serde_json::Value::Null,
        }
    }

    #[test]
    fn keys_sort_newest_first_and_never_collide() {
        let org = OrgId::parse("acme").unwrap();
        let older = entry(1_000).kv_key(&org, 1);
        let newer = entry(2_000).kv_key(&org, 1);
        assert!(newer < older);
        assert!(newer.starts_with("org/acme/audit/"));
        assert_ne!(entry(5).kv_key(&org, 1), entry(5).kv_key(&org, 2));
        assert_eq!(older.len(), entry(u64::MAX).kv_key(&org, 0).len());
    }

    #[test]
    fn null_detail_is_omitted() {
        let json = serde_json::to_string(&entry(1)).unwrap();
        assert!(!json.contains("detail"));
    }
}
