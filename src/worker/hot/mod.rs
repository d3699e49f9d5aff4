//! The lean entry's hot paths: plain wasm-bindgen exports that `src/entry.mjs` calls with plain
//! values, for the requests clients make most: a new anonymous session (`anonymous.rs`), the
//! refresh-token grant (`refresh.rs`), the token-exchange grant (`exchange.rs`), the JWKS, and
//! introspection of an access token with the operator token (`introspection.rs`).
//!
//! Why: behind workers-rs, every request pays for the `Request`/`Response` conversions, a JS
//! crossing per header, and a wasm-bindgen-futures task per await before any work is done; that
//! fixed cost was larger than the work of these endpoints (bench/results/history.md). Here the
//! JavaScript entry reads the request, awaits WebCrypto and the Durable Object, and builds the
//! response; Rust decides everything, with the same org cache, body parsing, checks, claims, quota
//! counter and shard logic as the full path. Each stage hands over what the entry needs as one
//! array (`*_parts`): one crossing instead of a getter each.
//!
//! The trade: these exports only serve the warm, ordinary case. Whenever one answers `undefined`
//! (the isolate has not validated its configuration, the org is not cached, the request is
//! invalid, the quota counter is not loaded, a check fails before any side effect), the entry
//! hands the request to the full workers-rs path, which is authoritative for every error and every
//! cold start. The hot path answers an error itself only after a side effect it must not repeat:
//! the per-IP limiter's 429, and a refresh the session shard refused.

mod exchange;
mod introspection;

use std::rc::Rc;

use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::CryptoKey;
use worker::Env;

use super::org_cache::{self, OrgContext};
use super::sessions;
use super::{config, metering};
use crate::body::{parse_params, Params};
use crate::cors::allowed_origin;
use crate::issuance::{token_body, Prepared};
use crate::limits::Admission;
use crate::org::OrgId;

/// What the entry needs once per isolate, so it stays defined in one place: the version header's
/// value, the CORS `Access-Control-Expose-Headers` value, the body
/// size limit, and the session shards' purge period.
#[wasm_bindgen]
pub fn hot_constants() -> Vec<String> {
    vec![
        crate::request_log::version(option_env!("TX_BUILD_REVISION")),
        crate::reply::EXPOSE_HEADERS.to_owned(),
        crate::body::MAX_BODY_BYTES.to_string(),
        super::session_shard::purge_every_ms().to_string(),
    ]
}

/// The org, if this isolate has validated its configuration and holds the org fresh.
fn warm_org(org: &str) -> Option<Rc<OrgContext>> {
    if !config::validated() {
        return None;
    }
    org_cache::peek(&OrgId::parse(org)?)
}

/// The origin a response is shared with (CORS): `Some(None)` without an `Origin` header, `None`
/// (decline: the full path answers 403) for an origin the org does not allow.
fn shared_with(ctx: &OrgContext, origin: Option<String>) -> Option<Option<String>> {
    match origin {
        None => Some(None),
        Some(o) => Some(Some(
            allowed_origin(&o, &ctx.org.record.settings.allowed_origins)?.to_owned(),
        )),
    }
}

/// What every hot request shares: the warm org, the parsed body, the origin it answers (CORS),
/// its issuer, and, for an issuance, its admission under the org's monthly quota.
struct Warm {
    ctx: Rc<OrgContext>,
    params: Params,
    cors_origin: Option<String>,
    issuer: String,
    admission: Option<Admission>,
}

impl Warm {
    /// A request to a warm org, from an origin it allows, with a body that parses.
    fn open(
        env: &Env,
        org: &str,
        request_origin: &str,
        origin: Option<String>,
        content_type: Option<String>,
        body: &[u8],
    ) -> Option<Self> {
        let ctx = warm_org(org)?;
        let cors_origin = shared_with(&ctx, origin)?;
        let params = parse_params(content_type.as_deref(), body).ok()?;
        let issuer = ctx
            .org
            .record
            .issuer(&config::issuer_origin_of(env, request_origin));
        Some(Self {
            ctx,
            params,
            cors_origin,
            issuer,
            admission: None,
        })
    }

    /// The opened request, if its org can issue (a signing key, a refresh-token key). Nothing
    /// counted yet.
    fn issuing(self) -> Option<Self> {
        sessions::signing_key(&self.ctx).ok()?;
        self.ctx.refresh_keys.first()?;
        Some(self)
    }

    /// Counts the issuance against the org's monthly quota, when it has one. `None` when the full
    /// path must answer (counter not loaded in this isolate, or the quota is used up).
    fn admit(mut self) -> Option<Self> {
        if let Some(limit) = self.ctx.org.record.settings.quota() {
            self.admission = metering::admit_counted(&self.ctx.org.record.id, limit)?.ok()?;
        }
        Some(self)
    }

    /// Takes the admission back: the request issued nothing.
    fn refund(&self) {
        if self.admission.is_some() {
            metering::refund(&self.ctx.org.record.id);
        }
    }

    /// A prepared session start's token response, from its signature and sealed refresh token;
    /// the isolate's quota count goes to its Durable Object when due.
    fn finish_start(
        &self,
        env: &Env,
        worker_ctx: worker::worker_sys::Context,
        prepared: Prepared,
        [signature, sealed]: [&[u8]; 2],
        issued_token_type: Option<&str>,
    ) -> Option<String> {
        self.flush(env, worker_ctx);
        let signature: [u8; 64] = signature.try_into().ok()?;
        let (issued, session) = prepared.finish(&signature, sealed);
        Some(token_body(
            &issued,
            &session,
            &session.scope,
            issued_token_type,
        ))
    }

    /// After an issuance: the isolate's quota count goes to its Durable Object when due.
    fn flush(&self, env: &Env, worker_ctx: worker::worker_sys::Context) {
        if self.admission.is_some() {
            metering::flush_if_due(
                env,
                &worker::Context::new(worker_ctx),
                &self.ctx.org.record.id,
            );
        }
    }

    fn sign_key(&self) -> JsValue {
        key(self.ctx.signing_key.as_ref())
    }

    fn seal_key(&self) -> JsValue {
        key(self.ctx.refresh_keys.first())
    }

    /// `[CORS origin, quota]`: `undefined` without an `Origin` / without a quota; the quota as
    /// `[limit, remaining, reset]`.
    fn response_parts(&self) -> [JsValue; 2] {
        let quota = self.admission.as_ref().map_or(JsValue::UNDEFINED, |a| {
            [a.limit, a.remaining, a.reset]
                .into_iter()
                .map(|n| JsValue::from_f64(n as f64))
                .collect::<Array>()
                .into()
        });
        [optional(self.cors_origin.as_deref()), quota]
    }

    /// `[sign key, signing input, seal key, iv, aad, plaintext, CORS origin, quota]` of a prepared
    /// session start: what the entry signs and seals, and its response headers.
    fn start_parts(&self, prepared: &Prepared) -> Array {
        let [cors, quota] = self.response_parts();
        [
            self.sign_key(),
            bytes(prepared.signing_input.as_bytes()),
            self.seal_key(),
            bytes(&prepared.iv),
            bytes(&prepared.aad),
            bytes(&prepared.plaintext),
            cors,
            quota,
        ]
        .into_iter()
        .collect()
    }
}

fn optional(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::UNDEFINED, JsValue::from_str)
}

fn bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

fn key(k: Option<&CryptoKey>) -> JsValue {
    k.map_or(JsValue::UNDEFINED, |k| k.clone().into())
}
