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
use super::sessions::{self, Prepared, RefreshPlan, SessionStart, RANDOM_LEN};
use super::{config, exchange, metering, shards, upstream_keys, webcrypto};
use crate::api_error::ApiError;
use crate::body::{parse_params, Params};
use crate::cors::allowed_origin;
use crate::exchange::request::ExchangeRequest;
use crate::exchange::subject_token;
use crate::family::{Decision, RefreshCall};
use crate::limits::Admission;
use crate::org::OrgId;
use crate::refresh_token::{self, RefreshPayload};

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
    let cors_origin = cors(&ctx, origin)?;
    let params = parse_params(content_type.as_deref(), body).ok()?;
    let device_id = sessions::anonymous_device(&ctx, &params).ok()?;
    sessions::signer(&ctx).ok()?;
    ctx.refresh_keys.first()?;
    let admission = admit(&ctx)?;
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
    /// Everything the entry needs, in one call (each getter would be a crossing and a copy):
    /// `[rate binding, rate key, sign key, signing input, seal key, iv, aad, plaintext,
    /// CORS origin, quota]`; the rate binding is `undefined` when the org has no per-IP limit,
    /// the CORS origin without an `Origin`, the quota (`[limit, remaining, reset]`) without one.
    #[wasm_bindgen(getter)]
    pub fn parts(&self) -> js_sys::Array {
        let optional = |s: Option<&str>| s.map_or(JsValue::UNDEFINED, JsValue::from_str);
        let bytes = |b: &[u8]| JsValue::from(js_sys::Uint8Array::from(b));
        let key = |k: Option<&CryptoKey>| k.map_or(JsValue::UNDEFINED, |k| k.clone().into());
        let quota = quota_of(self.admission.as_ref()).map_or(JsValue::UNDEFINED, |q| {
            q.into_iter()
                .map(JsValue::from_f64)
                .collect::<js_sys::Array>()
                .into()
        });
        let tier = self.ctx.record.settings.anonymous_rate_limit;
        [
            optional(tier.binding()),
            optional(self.rate_key.as_deref()),
            key(self.ctx.signer.as_ref().map(|s| &s.key)),
            bytes(self.prepared.signing_input.as_bytes()),
            key(self.ctx.refresh_keys.first()),
            bytes(&self.prepared.iv),
            bytes(&self.prepared.aad),
            bytes(&self.prepared.plaintext),
            optional(self.cors_origin.as_deref()),
            quota,
        ]
        .into_iter()
        .collect()
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
        Some(sessions::token_body(
            &issued,
            &session,
            &session.scope,
            None,
        ))
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

/// A token exchange in stages: the entry verifies the subject token's signature with the cached
/// provider key (`verify_*`), then [`verified`](Self::verified) checks and prepares the session,
/// which the entry signs and seals like an anonymous one. Exchanges with an `actor_token` (a
/// Durable Object call), HS256 providers and cold provider keys decline to the full path.
#[wasm_bindgen]
pub struct ExchangeIssue {
    ctx: Rc<OrgContext>,
    params: Params,
    admission: Option<Admission>,
    cors_origin: Option<String>,
    issuer: String,
    verify_key: CryptoKey,
    verify_alg: &'static str,
    signature: Vec<u8>,
    verify_input: Vec<u8>,
    prepared: Option<Prepared>,
}

/// Prepares `POST /orgs/{org}/token` with the token-exchange grant; `undefined` when the full
/// path must serve.
#[wasm_bindgen]
pub fn hot_exchange(
    env: &Env,
    org: &str,
    request_origin: &str,
    origin: Option<String>,
    content_type: Option<String>,
    body: &[u8],
) -> Option<ExchangeIssue> {
    let ctx = warm_org(org)?;
    let cors_origin = cors(&ctx, origin)?;
    let params = parse_params(content_type.as_deref(), body).ok()?;
    let req = ExchangeRequest::parse(&params).ok()?;
    if req.actor_token.is_some() {
        return None;
    }
    let provider = exchange::provider_of(&ctx, &req).ok()?;
    let parsed = subject_token::parse(req.subject_token, &provider.settings).ok()?;
    let verify_key = upstream_keys::cached_key(&ctx.record.id, provider, &parsed)?;
    let verify_alg = parsed.header().alg.name();
    let signature = parsed.signature().to_vec();
    let verify_input = parsed.signing_input().as_bytes().to_vec();
    sessions::signer(&ctx).ok()?;
    ctx.refresh_keys.first()?;
    let admission = admit(&ctx)?;
    let issuer = ctx
        .record
        .issuer(&config::issuer_origin_of(env, request_origin));
    Some(ExchangeIssue {
        ctx,
        params,
        admission,
        cors_origin,
        issuer,
        verify_key,
        verify_alg,
        signature,
        verify_input,
        prepared: None,
    })
}

#[wasm_bindgen]
impl ExchangeIssue {
    #[wasm_bindgen(getter)]
    pub fn verify_key(&self) -> CryptoKey {
        self.verify_key.clone()
    }

    /// The subject token's algorithm (`RS256`, `ES256`, `EdDSA`): the entry maps it to WebCrypto's.
    #[wasm_bindgen(getter)]
    pub fn verify_alg(&self) -> String {
        self.verify_alg.to_owned()
    }

    #[wasm_bindgen(getter)]
    pub fn signature(&self) -> Vec<u8> {
        self.signature.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn verify_input(&self) -> Vec<u8> {
        self.verify_input.clone()
    }

    /// The signature verified: the claims are checked and the session prepared; `false` when the
    /// full path must answer.
    pub fn verified(&mut self) -> bool {
        self.prepared = self.prepare().ok();
        self.prepared.is_some()
    }

    fn prepare(&self) -> Result<Prepared, ApiError> {
        let req = ExchangeRequest::parse(&self.params)?;
        let provider = exchange::provider_of(&self.ctx, &req)?;
        let parsed = subject_token::parse(req.subject_token, &provider.settings)?;
        let now = org_cache::now_ms() / 1000;
        let identity = subject_token::validate(parsed.into_payload(), &provider.settings, now)?;
        let start = exchange::exchanged_session(
            &self.ctx,
            &req,
            provider,
            identity,
            &self.issuer,
            (None, None),
        )?;
        let random: [u8; RANDOM_LEN] = webcrypto::random()?;
        let session = SessionStart {
            subject: Some(&start.subject),
            scope: &start.scope,
            device_id: None,
            exchanged: Some(start.exchanged),
        };
        sessions::prepare_start(&self.ctx, &self.issuer, session, &random)
    }

    #[wasm_bindgen(getter)]
    pub fn sign_key(&self) -> Option<CryptoKey> {
        self.ctx.signer.as_ref().map(|s| s.key.clone())
    }

    #[wasm_bindgen(getter)]
    pub fn signing_input(&self) -> Vec<u8> {
        let p = self.prepared.as_ref();
        p.map(|p| p.signing_input.as_bytes().to_vec())
            .unwrap_or_default()
    }

    #[wasm_bindgen(getter)]
    pub fn seal_key(&self) -> Option<CryptoKey> {
        self.ctx.refresh_keys.first().cloned()
    }

    #[wasm_bindgen(getter)]
    pub fn iv(&self) -> Vec<u8> {
        self.prepared
            .as_ref()
            .map(|p| p.iv.to_vec())
            .unwrap_or_default()
    }

    #[wasm_bindgen(getter)]
    pub fn aad(&self) -> Vec<u8> {
        refresh_token::aad(&self.ctx.record.id)
    }

    #[wasm_bindgen(getter)]
    pub fn plaintext(&self) -> Vec<u8> {
        let p = self.prepared.as_ref();
        p.map(|p| p.plaintext.clone()).unwrap_or_default()
    }

    #[wasm_bindgen(getter)]
    pub fn cors_origin(&self) -> Option<String> {
        self.cors_origin.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn quota(&self) -> Option<Vec<f64>> {
        quota_of(self.admission.as_ref())
    }

    /// The token response body, from the signature and the sealed refresh token.
    pub fn finish(
        self,
        env: &Env,
        worker_ctx: worker::worker_sys::Context,
        signature: &[u8],
        sealed: &[u8],
    ) -> Option<String> {
        let signature: [u8; 64] = signature.try_into().ok()?;
        let (issued, session) = self.prepared?.finish(&signature, sealed);
        if self.admission.is_some() {
            metering::flush_if_due(env, &worker::Context::new(worker_ctx), &self.ctx.record.id);
        }
        Some(exchange::token_body(&issued, &session))
    }

    /// The full path answers: the quota admission is taken back.
    pub fn abandon(self) {
        if self.admission.is_some() {
            metering::refund(&self.ctx.record.id);
        }
    }
}

/// A refresh-token grant in stages, each a sync call between the entry's awaits: open (the
/// entry decrypts with each of `open_keys`), `opened` (checks and rotation; the entry seals the
/// candidate), `call` (the entry sends it to the shard), `decided` (the shard's answer; the entry
/// signs), `finish`. Until `call`, a `false`/`undefined` answer sends the request to the full
/// path; from the shard call on the request has had its effect, so errors are answered here
/// (`error`).
#[wasm_bindgen]
pub struct RefreshIssue {
    ctx: Rc<OrgContext>,
    params: Params,
    admission: Option<Admission>,
    cors_origin: Option<String>,
    issuer: String,
    iv: [u8; 12],
    ciphertext: Vec<u8>,
    plan: Option<RefreshPlan>,
    call: Option<RefreshCall>,
    refresh_token: Option<String>,
    error: Option<ApiError>,
}

/// Prepares `POST /orgs/{org}/token` with `grant_type=refresh_token`; `undefined` when the full
/// path must serve (another grant, a cold org, an invalid request).
#[wasm_bindgen]
pub fn hot_refresh(
    env: &Env,
    org: &str,
    request_origin: &str,
    origin: Option<String>,
    content_type: Option<String>,
    body: &[u8],
) -> Option<RefreshIssue> {
    let ctx = warm_org(org)?;
    let cors_origin = cors(&ctx, origin)?;
    let params = parse_params(content_type.as_deref(), body).ok()?;
    if params.get("grant_type") != Some("refresh_token") {
        return None;
    }
    let (iv, ciphertext) = refresh_token::decode(params.get("refresh_token")?).ok()?;
    sessions::signer(&ctx).ok()?;
    ctx.refresh_keys.first()?;
    let admission = admit(&ctx)?;
    let issuer = ctx
        .record
        .issuer(&config::issuer_origin_of(env, request_origin));
    Some(RefreshIssue {
        ctx,
        params,
        admission,
        cors_origin,
        issuer,
        iv,
        ciphertext,
        plan: None,
        call: None,
        refresh_token: None,
        error: None,
    })
}

#[wasm_bindgen]
impl RefreshIssue {
    /// The keys that may open the presented token: the current master key's, then the previous.
    #[wasm_bindgen(getter)]
    pub fn open_keys(&self) -> Vec<CryptoKey> {
        self.ctx.refresh_keys.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn open_iv(&self) -> Vec<u8> {
        self.iv.to_vec()
    }

    #[wasm_bindgen(getter)]
    pub fn aad(&self) -> Vec<u8> {
        refresh_token::aad(&self.ctx.record.id)
    }

    #[wasm_bindgen(getter)]
    pub fn ciphertext(&self) -> Vec<u8> {
        self.ciphertext.clone()
    }

    /// The opened session: checked and rotated; `false` when the full path must answer.
    pub fn opened(&mut self, plaintext: &[u8]) -> bool {
        let Ok(old) = RefreshPayload::from_json(plaintext) else {
            return false;
        };
        let Ok(random) = webcrypto::random::<RANDOM_LEN>() else {
            return false;
        };
        self.plan = sessions::plan_refresh(&self.ctx, &self.params, old, &random).ok();
        self.plan.is_some()
    }

    #[wasm_bindgen(getter)]
    pub fn seal_key(&self) -> Option<CryptoKey> {
        self.ctx.refresh_keys.first().cloned()
    }

    #[wasm_bindgen(getter)]
    pub fn seal_iv(&self) -> Vec<u8> {
        self.plan
            .as_ref()
            .map(|p| p.iv.to_vec())
            .unwrap_or_default()
    }

    #[wasm_bindgen(getter)]
    pub fn plaintext(&self) -> Vec<u8> {
        self.plan
            .as_ref()
            .map(|p| p.plaintext.clone())
            .unwrap_or_default()
    }

    /// `[shard name, body]` of the one Durable Object call, with the sealed candidate.
    pub fn call(&mut self, sealed: &[u8]) -> Option<Vec<String>> {
        let plan = self.plan.as_ref()?;
        let call = plan.call(&self.ctx, sealed);
        let (shard, body) = shards::refresh_request(&self.ctx.record.id, &call).ok()?;
        self.call = Some(call);
        Some(vec![shard, body])
    }

    /// The shard's answer (`undefined`: the call failed). The access token's signing input, or
    /// `undefined` with the answer in [`error`](Self::error).
    pub fn decided(&mut self, answer: Option<String>) -> Option<Vec<u8>> {
        let outcome = (|| {
            let answer = answer.ok_or(ApiError::Unavailable("session store unreachable".into()))?;
            let decision: Decision =
                serde_json::from_str(&answer).map_err(|_| ApiError::Internal)?;
            let call = self.call.take().ok_or(ApiError::Internal)?;
            let token = sessions::refresh_outcome(call, decision)?;
            let plan = self.plan.as_ref().ok_or(ApiError::Internal)?;
            let (input, _) = plan.access_signing_input(&self.ctx, &self.issuer)?;
            Ok((token, input))
        })();
        match outcome {
            Ok((token, input)) => {
                self.refresh_token = Some(token);
                Some(input.into_bytes())
            }
            Err(e) => {
                self.refund();
                self.error = Some(e);
                None
            }
        }
    }

    /// `[status, body, error code]` of the error answer after a failed [`decided`](Self::decided).
    #[wasm_bindgen(getter)]
    pub fn error(&self) -> Option<Vec<String>> {
        let e = self.error.as_ref()?;
        Some(vec![
            e.status().to_string(),
            e.to_json(),
            e.code().to_owned(),
        ])
    }

    #[wasm_bindgen(getter)]
    pub fn sign_key(&self) -> Option<CryptoKey> {
        self.ctx.signer.as_ref().map(|s| s.key.clone())
    }

    #[wasm_bindgen(getter)]
    pub fn cors_origin(&self) -> Option<String> {
        self.cors_origin.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn quota(&self) -> Option<Vec<f64>> {
        quota_of(self.admission.as_ref())
    }

    /// The token response body, from the access token's signature.
    pub fn finish(
        self,
        env: &Env,
        worker_ctx: worker::worker_sys::Context,
        signature: &[u8],
    ) -> Option<String> {
        let signature: [u8; 64] = signature.try_into().ok()?;
        let plan = self.plan?;
        let (input, expires_in) = plan.access_signing_input(&self.ctx, &self.issuer).ok()?;
        let issued = sessions::Issued {
            access_token: crate::jose::jws::assemble(&input, &signature),
            expires_in,
            refresh_token: self.refresh_token?,
        };
        if self.admission.is_some() {
            metering::flush_if_due(env, &worker::Context::new(worker_ctx), &self.ctx.record.id);
        }
        Some(sessions::token_body(
            &issued,
            &plan.next,
            &plan.granted,
            None,
        ))
    }

    /// Nothing was sent to the shard: the quota admission is taken back (the full path answers).
    pub fn abandon(self) {
        self.refund();
    }

    fn refund(&self) {
        if self.admission.is_some() {
            metering::refund(&self.ctx.record.id);
        }
    }
}

/// The origin a response is shared with: none without an `Origin`, `None` (the full path answers
/// 403) for an origin the org does not allow.
#[allow(clippy::option_option)]
fn cors(ctx: &OrgContext, origin: Option<String>) -> Option<Option<String>> {
    match origin {
        None => Some(None),
        Some(o) => Some(Some(
            allowed_origin(&o, &ctx.record.settings.allowed_origins)?.to_owned(),
        )),
    }
}

/// Counts the request against the org's monthly quota, when it has one. `None` when the full path
/// must answer (counter not loaded in this isolate, or the quota is used up).
#[allow(clippy::option_option)]
fn admit(ctx: &OrgContext) -> Option<Option<Admission>> {
    match ctx.record.settings.quota() {
        None => Some(None),
        Some(limit) => metering::admit_counted(ctx, limit)?.ok(),
    }
}

fn quota_of(a: Option<&Admission>) -> Option<Vec<f64>> {
    let a = a?;
    Some(vec![a.limit as f64, a.remaining as f64, a.reset as f64])
}

/// What the entry needs once per isolate, so it stays defined in one place: the version header's
/// value, the JWKS `Cache-Control`, the CORS `Access-Control-Expose-Headers` value, the body
/// size limit, and the session shards' purge period.
#[wasm_bindgen]
pub fn hot_constants() -> Vec<String> {
    vec![
        crate::request_log::version(option_env!("TX_BUILD_REVISION")),
        super::documents::cache_control(),
        super::http::EXPOSE_HEADERS.to_owned(),
        crate::body::MAX_BODY_BYTES.to_string(),
        super::session_shard::purge_every_ms().to_string(),
    ]
}
