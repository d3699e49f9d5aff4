//! The token-exchange grant on the lean path: the entry verifies the subject token's signature
//! with the cached provider key ([`ExchangeIssue::verify_parts`]), then
//! [`ExchangeIssue::verified`] checks the claims and prepares the session, which the entry signs
//! and seals like an anonymous one. Exchanges with an `actor_token` (a Durable Object call),
//! HS256 providers and providers whose keys this isolate does not hold decline to the full path.

use js_sys::Array;
use wasm_bindgen::prelude::*;
use web_sys::CryptoKey;
use worker::Env;

use super::{bytes, Warm};
use crate::api_error::ApiError;
use crate::exchange::request::{ExchangeRequest, TOKEN_TYPE_ACCESS_TOKEN};
use crate::exchange::subject_token;
use crate::issuance::{prepare_start, Prepared, SessionStart, RANDOM_LEN};
use crate::jose::jws::ParsedJws;
use crate::worker::exchange::{exchanged_session, provider_of};
use crate::worker::org_cache::now_ms;
use crate::worker::{upstream_keys, webcrypto};

#[wasm_bindgen]
pub struct ExchangeIssue {
    warm: Warm,
    /// The provider the subject token claims to come from, by id.
    provider: String,
    /// The subject token, parsed; taken once its signature is verified.
    subject: Option<ParsedJws>,
    verify_key: CryptoKey,
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
    let warm = Warm::open(env, org, request_origin, origin, content_type, body)?.issuing()?;
    let req = ExchangeRequest::parse(&warm.params).ok()?;
    if req.actor_token.is_some() {
        return None;
    }
    let provider = provider_of(&warm.ctx, &req).ok()?;
    let parsed = subject_token::parse(req.subject_token, &provider.settings).ok()?;
    let verify_key = upstream_keys::cached_key(&warm.ctx.org.record.id, provider, &parsed)?;
    let provider = provider.id.clone();
    Some(ExchangeIssue {
        warm: warm.admit()?,
        provider,
        subject: Some(parsed),
        verify_key,
        prepared: None,
    })
}

#[wasm_bindgen]
impl ExchangeIssue {
    /// `[key, algorithm (RS256, ES256, EdDSA), signature, signing input]` of the subject token.
    #[wasm_bindgen(getter)]
    pub fn verify_parts(&self) -> Option<Array> {
        let subject = self.subject.as_ref()?;
        Some(
            [
                self.verify_key.clone().into(),
                JsValue::from_str(subject.header().alg.name()),
                bytes(subject.signature()),
                bytes(subject.signing_input().as_bytes()),
            ]
            .into_iter()
            .collect(),
        )
    }

    /// The signature verified: the claims are checked and the session prepared; `false` when the
    /// full path must answer.
    pub fn verified(&mut self) -> bool {
        self.prepared = self.prepare().ok();
        self.prepared.is_some()
    }

    fn prepare(&mut self) -> Result<Prepared, ApiError> {
        let (ctx, issuer) = (&self.warm.ctx, &self.warm.issuer);
        let req = ExchangeRequest::parse(&self.warm.params)?;
        let provider = ctx.org.provider(&self.provider).ok_or(ApiError::Internal)?;
        let subject = self.subject.take().ok_or(ApiError::Internal)?;
        let identity =
            subject_token::validate(subject.into_payload(), &provider.settings, now_ms() / 1000)?;
        let start = exchanged_session(ctx, &req, provider, identity, issuer, (None, None))?;
        let random: [u8; RANDOM_LEN] = webcrypto::random()?;
        let session = SessionStart {
            subject: Some(&start.subject),
            scope: &start.scope,
            device_id: None,
            exchanged: Some(start.exchanged),
        };
        prepare_start(&ctx.org, issuer, session, now_ms() / 1000, &random)
    }

    /// After [`verified`](Self::verified): `[sign key, signing input, seal key, iv, aad,
    /// plaintext, CORS origin, quota]`.
    #[wasm_bindgen(getter)]
    pub fn parts(&self) -> Option<Array> {
        Some(self.warm.start_parts(self.prepared.as_ref()?))
    }

    /// The token response body, from the signature and the sealed refresh token.
    pub fn finish(
        self,
        env: &Env,
        worker_ctx: worker::worker_sys::Context,
        signature: &[u8],
        sealed: &[u8],
    ) -> Option<String> {
        let prepared = self.prepared?;
        self.warm.finish_start(
            env,
            worker_ctx,
            prepared,
            [signature, sealed],
            Some(TOKEN_TYPE_ACCESS_TOKEN),
        )
    }

    /// The full path answers: the quota admission is taken back.
    pub fn abandon(self) {
        self.warm.refund();
    }
}
