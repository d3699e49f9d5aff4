//! Sealing secrets at rest (signing-key and org-key seeds, providers' HS256 secrets) under the
//! master key, and opening them with whichever master key sealed them: the current `MASTER_KEY`,
//! or during a rotation `MASTER_KEY_PREVIOUS`. Every sealed record names its master key's id.

use crate::api_error::ApiError;
use crate::jose::base64url;
use crate::signing_key::SealedSeed;

use super::config::{Keyring, MasterKeys};
use super::webcrypto;

impl Keyring {
    /// The master key with this id, if this worker holds it.
    pub fn by_id(&self, id: &str) -> Option<&MasterKeys> {
        std::iter::once(self.current.as_ref())
            .chain(self.previous.as_deref())
            .find(|k| k.id == id)
    }
}

/// Seals `plaintext` under the current master key, bound to `aad`.
pub async fn seal(ring: &Keyring, plaintext: &[u8], aad: &[u8]) -> Result<SealedSeed, ApiError> {
    let iv: [u8; 12] = webcrypto::random()?;
    let ciphertext = webcrypto::aes_gcm_seal(&ring.current.seed_seal, &iv, aad, plaintext).await?;
    Ok(SealedSeed {
        master_key_id: ring.current.id.clone(),
        iv: base64url::encode(&iv),
        ciphertext: base64url::encode(&ciphertext),
    })
}

/// Opens a sealed record. One that no held master key opens is a misconfiguration naming `what`
/// and the master key id it needs, never any key material.
pub async fn open(
    ring: &Keyring,
    sealed: &SealedSeed,
    aad: &[u8],
    what: &str,
) -> Result<Vec<u8>, ApiError> {
    let key = ring.by_id(&sealed.master_key_id).ok_or_else(|| {
        ApiError::Misconfigured(format!(
            "{what} is sealed with master key {}, which is neither MASTER_KEY nor MASTER_KEY_PREVIOUS",
            sealed.master_key_id
        ))
    })?;
    let broken =
        || ApiError::Misconfigured(format!("{what} cannot be decrypted: the record is damaged"));
    let iv: [u8; 12] = base64url::decode(&sealed.iv)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(broken)?;
    let ciphertext = base64url::decode(&sealed.ciphertext).map_err(|_| broken())?;
    webcrypto::aes_gcm_open(&key.seed_seal, &iv, aad, &ciphertext)
        .await?
        .ok_or_else(broken)
}

/// Re-seals a record under the current master key; `None` when it already is.
pub async fn reseal(
    ring: &Keyring,
    sealed: &SealedSeed,
    aad: &[u8],
    what: &str,
) -> Result<Option<SealedSeed>, ApiError> {
    if sealed.master_key_id == ring.current.id {
        return Ok(None);
    }
    let plaintext = open(ring, sealed, aad, what).await?;
    seal(ring, &plaintext, aad).await.map(Some)
}
