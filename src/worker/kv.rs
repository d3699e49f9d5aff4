//! KV records, read-mostly; nothing here needs read-modify-write consistency:
//!
//! | key | value |
//! |---|---|
//! | `org/{org}` | the org ([`OrgRecord`]) |
//! | `orgs/{org}` | index entry (`1`) listing the orgs |
//! | `org/{org}/signing-key/{kid}` | a signing key, seed sealed ([`SigningKeyRecord`]) |
//! | `key/{key_id}` | an org key, seed sealed ([`OrgKeyRecord`]); global, so a credential finds its org |
//! | `org/{org}/key/{key_id}` | index entry (`1`) listing the org's keys |
//! | `key-used/{key_id}` | when the key last authenticated, Unix seconds; its own record so a stamp can never overwrite a revocation |
//! | `org/{org}/provider/{id}` | an identity provider, HS256 secret sealed ([`ProviderRecord`]) |
//! | `org/{org}/audit/{order}` | an audit entry ([`AuditEntry`]), expiring |

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use worker::kv::KvStore;

use crate::api_error::ApiError;
use crate::audit::{AuditEntry, MAX_PAGE, RETENTION_SECS};
use crate::org::{OrgId, OrgRecord};
use crate::org_key::OrgKeyRecord;
use crate::provider::ProviderRecord;
use crate::signing_key::SigningKeyRecord;

fn org_key(org: &OrgId) -> String {
    format!("org/{}", org.as_str())
}

fn storage_error<E>(_: E) -> ApiError {
    ApiError::Internal
}

pub async fn get_org(store: &KvStore, org: &OrgId) -> Result<Option<OrgRecord>, ApiError> {
    store.get(&org_key(org)).json().await.map_err(storage_error)
}

/// Writes the org, and its entry in the index of orgs (`orgs/{org}`) that listing reads.
pub async fn put_org(store: &KvStore, record: &OrgRecord) -> Result<(), ApiError> {
    put_json(store, &org_key(&record.id), record, Expiry::Never).await?;
    let index = format!("orgs/{}", record.id.as_str());
    put_text(store, &index, "1".into(), Expiry::Never).await
}

/// Every org's id, from the index.
pub async fn list_org_ids(store: &KvStore) -> Result<Vec<String>, ApiError> {
    Ok(list_names(store, "orgs/", 100_000)
        .await?
        .into_iter()
        .filter_map(|n| n.strip_prefix("orgs/").map(str::to_owned))
        .collect())
}

/// A retired key's record expires from KV a day after it leaves the JWKS, so storage stays bounded.
pub async fn put_signing_key(store: &KvStore, key: &SigningKeyRecord) -> Result<(), ApiError> {
    let expiry = match key.unpublished_at() {
        Some(at) => Expiry::At(at.saturating_add(86_400)),
        None => Expiry::Never,
    };
    put_json(
        store,
        &SigningKeyRecord::kv_key(&key.org, &key.kid),
        key,
        expiry,
    )
    .await
}

pub async fn get_signing_key(
    store: &KvStore,
    org: &OrgId,
    kid: &str,
) -> Result<Option<SigningKeyRecord>, ApiError> {
    store
        .get(&SigningKeyRecord::kv_key(org, kid))
        .json()
        .await
        .map_err(storage_error)
}

/// All signing keys of an org, oldest first. Records that fail to parse, or whose kid is not the
/// thumbprint of their public key, are skipped rather than trusted.
pub async fn list_signing_keys(
    store: &KvStore,
    org: &OrgId,
) -> Result<Vec<SigningKeyRecord>, ApiError> {
    let names = list_names(store, &SigningKeyRecord::kv_prefix(org), 1000).await?;
    let mut keys: Vec<SigningKeyRecord> = get_many::<SigningKeyRecord>(store, &names)
        .await?
        .into_iter()
        .filter(|k| &k.org == org && k.is_consistent())
        .collect();
    // Unstable sorts: these orders are total (they end with an id), and the unstable sort
    // compiles to less wasm.
    keys.sort_unstable_by(|a, b| a.creation_order().cmp(&b.creation_order()));
    Ok(keys)
}

pub async fn get_org_key(store: &KvStore, id: &str) -> Result<Option<OrgKeyRecord>, ApiError> {
    store
        .get(&OrgKeyRecord::kv_key(id))
        .json()
        .await
        .map_err(storage_error)
}

/// Writes the record, then the org's index entry (a key is findable by id before it is listed).
pub async fn put_org_key(store: &KvStore, key: &OrgKeyRecord) -> Result<(), ApiError> {
    put_json(store, &OrgKeyRecord::kv_key(&key.id), key, Expiry::Never).await?;
    let index = OrgKeyRecord::index_key(&key.org, &key.id);
    put_text(store, &index, "1".into(), Expiry::Never).await
}

/// The org's keys, oldest first; index entries whose record is missing or of another org are
/// skipped.
pub async fn list_org_keys(store: &KvStore, org: &OrgId) -> Result<Vec<OrgKeyRecord>, ApiError> {
    let prefix = OrgKeyRecord::index_prefix(org);
    let ids: Vec<String> = list_names(store, &prefix, 1000)
        .await?
        .into_iter()
        .filter_map(|name| name.strip_prefix(&prefix).map(OrgKeyRecord::kv_key))
        .collect();
    let mut keys: Vec<OrgKeyRecord> = get_many(store, &ids)
        .await?
        .into_iter()
        .filter(|k: &OrgKeyRecord| &k.org == org)
        .collect();
    keys.sort_unstable_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(keys)
}

pub async fn get_provider(
    store: &KvStore,
    org: &OrgId,
    id: &str,
) -> Result<Option<ProviderRecord>, ApiError> {
    store
        .get(&ProviderRecord::kv_key(org, id))
        .json()
        .await
        .map_err(storage_error)
}

pub async fn put_provider(
    store: &KvStore,
    org: &OrgId,
    record: &ProviderRecord,
) -> Result<(), ApiError> {
    let key = ProviderRecord::kv_key(org, &record.id);
    put_json(store, &key, record, Expiry::Never).await
}

pub async fn delete_provider(store: &KvStore, org: &OrgId, id: &str) -> Result<(), ApiError> {
    store
        .delete(&ProviderRecord::kv_key(org, id))
        .await
        .map_err(storage_error)
}

/// The org's providers, by id.
pub async fn list_providers(store: &KvStore, org: &OrgId) -> Result<Vec<ProviderRecord>, ApiError> {
    let names = list_names(store, &ProviderRecord::kv_prefix(org), 1000).await?;
    let mut providers: Vec<ProviderRecord> = get_many(store, &names).await?;
    providers.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    Ok(providers)
}

fn last_used_key(id: &str) -> String {
    format!("key-used/{id}")
}

pub async fn put_key_last_used(store: &KvStore, id: &str, at: u64) -> Result<(), ApiError> {
    put_text(store, &last_used_key(id), at.to_string(), Expiry::Never).await
}

/// Last-use stamps of `ids`, in the same order (`None` where never used).
pub async fn keys_last_used(store: &KvStore, ids: &[&str]) -> Result<Vec<Option<u64>>, ApiError> {
    let names: Vec<String> = ids.iter().map(|id| last_used_key(id)).collect();
    let found = get_bulk::<u64>(store, &names).await?;
    Ok(names
        .iter()
        .map(|n| found.get(n).copied().flatten())
        .collect())
}

pub async fn append_audit(
    store: &KvStore,
    org: &OrgId,
    entry: &AuditEntry,
    nonce: u32,
) -> Result<(), ApiError> {
    let key = entry.kv_key(org, nonce);
    put_json(store, &key, entry, Expiry::After(RETENTION_SECS)).await
}

/// Up to `limit` entries, newest first, from `cursor`; and the cursor of the next page.
pub async fn list_audit(
    store: &KvStore,
    org: &OrgId,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<AuditEntry>, Option<String>), ApiError> {
    let mut list = store
        .list()
        .prefix(AuditEntry::kv_prefix(org))
        .limit(limit.clamp(1, MAX_PAGE) as u64);
    if let Some(c) = cursor {
        list = list.cursor(c);
    }
    let listed = list.execute().await.map_err(storage_error)?;
    let names: Vec<String> = listed.keys.into_iter().map(|k| k.name).collect();
    let values = get_many::<AuditEntry>(store, &names).await?;
    let next = (!listed.list_complete).then_some(listed.cursor).flatten();
    Ok((values, next))
}

/// When a written value expires.
enum Expiry {
    Never,
    /// At this Unix time.
    At(u64),
    /// This many seconds after the write.
    After(u64),
}

/// Writes `value` as JSON text (never through a JS object, which would turn maps into `{}`).
async fn put_json(
    store: &KvStore,
    key: &str,
    value: &impl serde::Serialize,
    expiry: Expiry,
) -> Result<(), ApiError> {
    let text = serde_json::to_string(value).map_err(storage_error)?;
    put_text(store, key, text, expiry).await
}

/// The one place a value is written.
async fn put_text(
    store: &KvStore,
    key: &str,
    text: String,
    expiry: Expiry,
) -> Result<(), ApiError> {
    let put = store.put(key, text).map_err(storage_error)?;
    let put = match expiry {
        Expiry::Never => put,
        Expiry::At(at) => put.expiration(at),
        Expiry::After(secs) => put.expiration_ttl(secs),
    };
    put.execute().await.map_err(storage_error)
}

/// Every key name under `prefix`, following cursors, at most `max`.
async fn list_names(store: &KvStore, prefix: &str, max: usize) -> Result<Vec<String>, ApiError> {
    let mut names = Vec::new();
    let mut cursor = None;
    loop {
        let mut list = store.list().prefix(prefix.to_owned()).limit(1000);
        if let Some(c) = cursor {
            list = list.cursor(c);
        }
        let listed = list.execute().await.map_err(storage_error)?;
        names.extend(listed.keys.into_iter().map(|k| k.name));
        if listed.list_complete || names.len() >= max {
            break;
        }
        cursor = listed.cursor;
        if cursor.is_none() {
            break;
        }
    }
    names.truncate(max);
    Ok(names)
}

/// The values of `names` that exist and parse, in the order of `names`.
async fn get_many<T: DeserializeOwned>(
    store: &KvStore,
    names: &[String],
) -> Result<Vec<T>, ApiError> {
    let mut values = get_bulk::<T>(store, names).await?;
    Ok(names
        .iter()
        .filter_map(|n| values.remove(n).flatten())
        .collect())
}

/// `names` read in batches of 100 (the most one bulk read takes), by name.
async fn get_bulk<T: DeserializeOwned>(
    store: &KvStore,
    names: &[String],
) -> Result<HashMap<String, Option<T>>, ApiError> {
    let mut out = HashMap::with_capacity(names.len());
    for chunk in names.chunks(100) {
        let values = store
            .get_bulk(chunk)
            .json::<T>()
            .await
            .map_err(storage_error)?;
        out.extend(values);
    }
    Ok(out)
}

/// A read that proves the namespace answers (the key need not exist).
pub async fn probe(store: &KvStore) -> Result<(), ApiError> {
    store
        .get("health/probe")
        .text()
        .await
        .map(|_| ())
        .map_err(storage_error)
}
