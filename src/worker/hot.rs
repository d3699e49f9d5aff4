//! The lean entry's hot paths: plain wasm-bindgen exports that `src/entry.mjs` calls with plain
//! values, for the two requests a browser client makes most (a new anonymous session, the JWKS).
//!
//! Why: behind workers-rs, every request pays for the `Request`/`Response` conversions, a header
//! crossing per header, and a wasm-bindgen-futures task per await before any work is done; that
//! fixed cost is larger than the work of these endpoints (bench/results). Here the JavaScript entry
//! reads the request, awaits WebCrypto and builds the response, and Rust decides everything: the
//! same org cache, body parsing, checks, claims and quota counter as the full path.
//!
//! The trade: these exports only serve the warm, ordinary case. Whenever one answers `undefined`
//! (the isolate has not validated its configuration, the org is not cached, the request is
//! invalid, the quota counter is not loaded), the entry hands the request to the full workers-rs
//! path, which is authoritative for every error and for every cold start. The hot path therefore
//! never produces an error of its own except the per-IP 429, which it must answer itself so the
//! rate limiter is not called twice.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::CryptoKey;
use worker::Env;

use super::org_cache::{self, OrgContext};
use super::sessions::{self, Prepared, SessionStart, RANDOM_LEN};
use super::{config, metering, webcrypto};
use crate::body::parse_params;
use crate::cors::allowed_origin;
use crate::limits::Admission;
use crate::org::OrgId;

/// The org's JWKS document from the isolate cache; `undefined` when the full path must serve.
#[wasm_bindgen]
pub fn hot_jwks(org: &str) -> Option<String> {
    let ctx = warm_org(org)?;
    Some(ctx.jwks_json.clone())
}

/// A new anonymous session, prepared: everything is decided and counted; what remains is one
/// Ed25519 signature and one AES-GCM seal (WebCrypto, awaited by the entry), then [`finish`].
///
/// [`finish`]: AnonymousIssue::finish
#[wasm_bindgen]
pub struct AnonymousIssue {
    ctx: Rc<OrgContext>,
    prepared: Prepared,
    admission: Option<Admission>,
    rate_key: Option<String>,
    cors_origin: Option<String>,
}

/// Prepares `POST /orgs/{org}/sessions/anonymous`; `undefined` when the full path must serve.
/// `request_origin` is the request URL's `scheme://host[:port]`, `origin` its `Origin` header.
#[wasm_bindgen]
pub fn hot_anonymous(
    env: &Env,
    org: &str,
    request_origin: &str,
    origin: Option<String>,
    content_type: Option<String>,
    body: &[u8],
    client_ip: Option<String>,
) -> Option<AnonymousIssue> {
    let ctx = warm_org(org)?;
    let cors_origin = match origin {
        None => None,
        Some(o) => Some(allowed_origin(&o, &ctx.record.settings.allowed_origins)?.to_owned()),
    };
    let params = parse_params(content_type.as_deref(), body).ok()?;
    let device_id = sessions::anonymous_device(&ctx, &params).ok()?;
    sessions::signer(&ctx).ok()?;
    ctx.refresh_keys.first()?;
    let admission = match ctx.record.settings.quota() {
        None => None,
        Some(limit) => metering::admit_counted(&ctx, limit)?.ok()?,
    };
    let issuer = ctx
        .record
        .issuer(&config::issuer_origin_of(env, request_origin));
    let random: [u8; RANDOM_LEN] = webcrypto::random().ok()?;
    let start = SessionStart {
        subject: None,
        scope: &ctx.record.settings.anonymous_scope,
        device_id,
        exchanged: None,
    };
    let prepared = match sessions::prepare_start(&ctx, &issuer, start, &random) {
        Ok(p) => p,
        Err(_) => {
            metering::refund(&ctx.record.id);
            return None;
        }
    };
    let rate_key = ctx
        .record
        .settings
        .anonymous_rate_limit
        .binding()
        .map(|_| metering::anonymous_rate_key(&ctx, client_ip.as_deref()));
    Some(AnonymousIssue {
        ctx,
        prepared,
        admission,
        rate_key,
        cors_origin,
    })
}

#[wasm_bindgen]
impl AnonymousIssue {
    /// The Rate Limiting binding to consult first, if the org limits new sessions per IP.
    #[wasm_bindgen(getter)]
    pub fn rate_binding(&self) -> Option<String> {
        let tier = self.ctx.record.settings.anonymous_rate_limit;
        tier.binding().map(str::to_owned)
    }

    #[wasm_bindgen(getter)]
    pub fn rate_key(&self) -> Option<String> {
        self.rate_key.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn sign_key(&self) -> Option<CryptoKey> {
        self.ctx.signer.as_ref().map(|s| s.key.clone())
    }

    #[wasm_bindgen(getter)]
    pub fn signing_input(&self) -> Vec<u8> {
        self.prepared.signing_input.as_bytes().to_vec()
    }

    #[wasm_bindgen(getter)]
    pub fn seal_key(&self) -> Option<CryptoKey> {
        self.ctx.refresh_keys.first().cloned()
    }

    #[wasm_bindgen(getter)]
    pub fn iv(&self) -> Vec<u8> {
        self.prepared.iv.to_vec()
    }

    #[wasm_bindgen(getter)]
    pub fn aad(&self) -> Vec<u8> {
        self.prepared.aad.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn plaintext(&self) -> Vec<u8> {
        self.prepared.plaintext.clone()
    }

    /// The browser origin the response is shared with (CORS), if the request had one.
    #[wasm_bindgen(getter)]
    pub fn cors_origin(&self) -> Option<String> {
        self.cors_origin.clone()
    }

    /// `[limit, remaining, reset]` of the org's monthly quota, when it has one.
    #[wasm_bindgen(getter)]
    pub fn quota(&self) -> Option<Vec<f64>> {
        let a = self.admission.as_ref()?;
        Some(vec![a.limit as f64, a.remaining as f64, a.reset as f64])
    }

    #[wasm_bindgen(getter)]
    pub fn org(&self) -> String {
        self.ctx.record.id.as_str().to_owned()
    }

    /// The token response body, from the signature and the sealed refresh token; sends the
    /// quota counter to its Durable Object in the background when due.
    pub fn finish(
        self,
        env: &Env,
        worker_ctx: worker::worker_sys::Context,
        signature: &[u8],
        sealed: &[u8],
    ) -> Option<String> {
        let signature: [u8; 64] = signature.try_into().ok()?;
        let (issued, session) = self.prepared.finish(&signature, sealed);
        if self.admission.is_some() {
            metering::flush_if_due(env, &worker::Context::new(worker_ctx), &self.ctx.record.id);
        }
        Some(sessions::token_body(&issued, &session, &session.scope).to_string())
    }

    /// The per-IP limiter said no: the quota admission is taken back. `[body, Retry-After]` of
    /// the 429.
    pub fn rate_limited(self) -> Vec<String> {
        self.refund();
        let error = metering::anonymous_rate_exceeded(&self.ctx);
        vec![error.to_json(), crate::limits::RATE_PERIOD_SECS.to_string()]
    }

    /// Signing or sealing failed: the quota admission is taken back (the full path answers).
    pub fn abandon(self) {
        self.refund();
    }

    fn refund(&self) {
        if self.admission.is_some() {
            metering::refund(&self.ctx.record.id);
        }
    }
}

/// The org, if this isolate has validated its configuration and holds the org fresh.
fn warm_org(org: &str) -> Option<Rc<OrgContext>> {
    if !config::validated() {
        return None;
    }
    org_cache::peek(&OrgId::parse(org)?)
}

/// What the entry needs once per isolate, so it stays defined in one place: the version header's
/// value, the JWKS `Cache-Control`, the CORS `Access-Control-Expose-Headers` value, and the body
/// size limit.
#[wasm_bindgen]
pub fn hot_constants() -> Vec<String> {
    vec![
        crate::request_log::version(option_env!("TX_BUILD_REVISION")),
        super::documents::cache_control(),
        super::http::EXPOSE_HEADERS.to_owned(),
        crate::body::MAX_BODY_BYTES.to_string(),
    ]
}
