//! Token introspection (RFC 7662) on the lean path, for a caller with the operator token and an
//! access token: the entry verifies the token's signature with the key this isolate imported
//! before ([`IntrospectionIssue::verify_parts`]); [`IntrospectionIssue::verified`] checks the rest
//! and gives the session shard's `check` call, which the entry makes; [`IntrospectionIssue::finish`]
//! turns its answer into the response. The same checks as the full path
//! (`worker::introspection`): `crate::introspection::Candidate` and the same shard call.
//!
//! Declined to the full path: org key credentials (a KV read and a `jti` spent in a shard), refresh
//! tokens (opened with AES-GCM), a key not imported yet, and every token that is not active before
//! its revocation check (the full path answers `{"active": false}`). Nothing here has a side
//! effect, so declining at any point is safe.

use js_sys::Array;
use wasm_bindgen::prelude::*;
use web_sys::CryptoKey;
use worker::Env;

use super::{bytes, optional, Warm};
use crate::introspection::{active, inactive, Candidate, Vouched};
use crate::refresh_token::PREFIX;
use crate::secret::{bearer_token, secrets_equal};
use crate::worker::org_cache::now_ms;
use crate::worker::{config, webcrypto};

#[wasm_bindgen]
pub struct IntrospectionIssue {
    warm: Warm,
    candidate: Option<Candidate>,
    verify_key: CryptoKey,
    vouched: Option<Vouched>,
}

/// Prepares `POST /orgs/{org}/introspect`; `undefined` when the full path must serve.
#[wasm_bindgen]
pub fn hot_introspect(
    env: &Env,
    org: &str,
    request_origin: &str,
    origin: Option<String>,
    content_type: Option<String>,
    authorization: Option<String>,
    body: &[u8],
) -> Option<IntrospectionIssue> {
    let warm = Warm::open(env, org, request_origin, origin, content_type, body)?;
    let presented = authorization.as_deref().and_then(bearer_token)?;
    if !secrets_equal(presented, &config::operator_token(env).ok()?) {
        return None;
    }
    let token = warm.params.require("token").ok()?;
    if token.starts_with(PREFIX) {
        return None;
    }
    let candidate = Candidate::parse(token, &warm.ctx.org.own_jwks, &warm.ctx.org.org_keys)?;
    let verify_key = webcrypto::cached_ed25519_key(&candidate.public_key)?;
    Some(IntrospectionIssue {
        warm,
        candidate: Some(candidate),
        verify_key,
        vouched: None,
    })
}

#[wasm_bindgen]
impl IntrospectionIssue {
    /// `[key, signature, signing input]` of the token (Ed25519).
    #[wasm_bindgen(getter)]
    pub fn verify_parts(&self) -> Option<Array> {
        let candidate = self.candidate.as_ref()?;
        Some(
            [
                self.verify_key.clone().into(),
                bytes(candidate.signature()),
                bytes(candidate.signing_input().as_bytes()),
            ]
            .into_iter()
            .collect(),
        )
    }

    /// The signature verified: `[shard name, body]` of the revocation check; `undefined` when the
    /// full path must answer.
    pub fn verified(&mut self) -> Option<Array> {
        let candidate = self.candidate.take()?;
        let ctx = &self.warm.ctx;
        let vouched =
            candidate.vouch_verified(&ctx.org.org_keys, &self.warm.issuer, now_ms() / 1000)?;
        let (shard, body) =
            crate::family::check_request(&ctx.org.record.id, vouched.facts.clone(), None).ok()?;
        self.vouched = Some(vouched);
        Some(
            [JsValue::from_str(&shard), JsValue::from_str(&body)]
                .into_iter()
                .collect(),
        )
    }

    /// The CORS origin the response is shared with (`undefined`: none).
    #[wasm_bindgen(getter)]
    pub fn cors(&self) -> JsValue {
        optional(self.warm.cors_origin.as_deref())
    }

    /// The response body, from the shard's answer; `undefined` when the answer is not one (the
    /// full path then asks again).
    pub fn finish(self, answer: &str) -> Option<String> {
        let vouched = self.vouched?;
        let body = if crate::family::check_answer(answer)? {
            active(&vouched.claims, "Bearer")
        } else {
            inactive()
        };
        Some(body.to_string())
    }
}
