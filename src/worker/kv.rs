//! KV records: `org/{org}` holds the org, `org/{org}/signing-key/{kid}` each signing key.
//! Read-mostly data only; nothing here needs read-modify-write consistency.

use worker::kv::KvStore;

use crate::api_error::ApiError;
use crate::org::{OrgId, OrgRecord};
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

pub async fn put_org(store: &KvStore, record: &OrgRecord) -> Result<(), ApiError> {
    store
        .put(&org_key(&record.id), record)
        .map_err(storage_error)?
        .execute()
        .await
        .map_err(storage_error)
}

pub async fn put_signing_key(store: &KvStore, key: &SigningKeyRecord) -> Result<(), ApiError> {
    store
        .put(&SigningKeyRecord::kv_key(&key.org, &key.kid), key)
        .map_err(storage_error)?
        .execute()
        .await
        .map_err(storage_error)
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
    let listed = store
        .list()
        .prefix(SigningKeyRecord::kv_prefix(org))
        .limit(100)
        .execute()
        .await
        .map_err(storage_error)?;
    let names: Vec<String> = listed.keys.into_iter().map(|k| k.name).collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let values = store
        .get_bulk(&names)
        .json::<SigningKeyRecord>()
        .await
        .map_err(storage_error)?;
    let mut keys: Vec<SigningKeyRecord> = values
        .into_values()
        .flatten()
        .filter(|k| &k.org == org && k.is_consistent())
        .collect();
    keys.sort_by(|a, b| a.creation_order().cmp(&b.creation_order()));
    Ok(keys)
}
