//! What every admin handler shares: the call (caller, store, org addressed, audit log), and the
//! admin API's JSON bodies and answers. The handlers live in `admin.rs` (orgs, signing keys,
//! session store), `org_keys.rs`, `providers.rs` and `revocations.rs`; `admin.rs` routes them.

use worker::kv::KvStore;
use worker::{Env, Request, Response};

use super::clock::now_ms;
use super::http::{self, Caching};
use super::{kv, webcrypto};
use crate::api_error::ApiError;
use crate::audit::AuditEntry;
use crate::body::{json_object, media_type, MediaType};
use crate::org::{OrgId, OrgRecord};
use crate::principal::Principal;

/// What every admin handler gets: the caller, the store, and the org addressed.
pub struct AdminCall<'a> {
    pub env: &'a Env,
    pub store: KvStore,
    pub org: &'a OrgId,
    pub principal: Principal,
}

impl AdminCall<'_> {
    /// Appends to the org's audit log. A failed write fails the request: an operation that
    /// cannot be audited is reported, not silently done.
    pub async fn audit(
        &self,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        let entry = AuditEntry {
            at_ms: now_ms(),
            actor: self.principal.actor().to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail,
        };
        let nonce = u32::from_le_bytes(webcrypto::random()?);
        kv::append_audit(&self.store, self.org, &entry, nonce).await
    }

    /// The org, or 404.
    pub async fn require_org(&self) -> Result<OrgRecord, ApiError> {
        kv::get_org(&self.store, self.org)
            .await?
            .ok_or(ApiError::NotFound)
    }
}

pub fn ok_json(status: u16, value: &impl serde::Serialize) -> Response {
    http::json(
        status,
        serde_json::to_string(value).unwrap_or_default(),
        Caching::NoStore,
    )
}

/// A JSON request body (415 for another media type), as `T`.
pub async fn json_body<T: serde::de::DeserializeOwned>(
    req: &mut Request,
    what: &str,
) -> Result<T, ApiError> {
    let body = http::read_body(req).await?;
    parse_json_body(req, &body, what)
}

/// As [`json_body`] for an optional body: none (empty) is `T::default()`.
pub async fn optional_json_body<T: serde::de::DeserializeOwned + Default>(
    req: &mut Request,
    what: &str,
) -> Result<T, ApiError> {
    let body = http::read_body(req).await?;
    if body.is_empty() {
        return Ok(T::default());
    }
    parse_json_body(req, &body, what)
}

fn parse_json_body<T: serde::de::DeserializeOwned>(
    req: &Request,
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    let content_type = http::header(req, "Content-Type");
    if content_type.as_deref().and_then(media_type) != Some(MediaType::Json) {
        return Err(ApiError::JsonOnly);
    }
    json_object(body, what)
}
