//! `POST /orgs/{org}/sessions/anonymous` on the lean path: prepared in one call, the per-IP
//! limiter and WebCrypto awaited by the entry, then [`AnonymousIssue::finish`].

use js_sys::Array;
use wasm_bindgen::prelude::*;
use worker::Env;

use super::{optional, Warm};
use crate::limits::RATE_PERIOD_SECS;
use crate::worker::metering;
use crate::worker::sessions::{self, Prepared, SessionStart, RANDOM_LEN};
use crate::worker::webcrypto;

/// A new anonymous session, prepared: everything is decided and counted; what remains is the
/// per-IP limiter (if the org has one), one Ed25519 signature and one AES-GCM seal.
#[wasm_bindgen]
pub struct AnonymousIssue {
    warm: Warm,
    prepared: Prepared,
    rate_key: Option<String>,
}

/// Prepares a new anonymous session; `undefined` when the full path must serve. `request_origin`
/// is the request URL's `scheme://host[:port]`, `origin` its `Origin` header.
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
    let warm = Warm::open(env, org, request_origin, origin, content_type, body)?.issuing()?;
    let device_id = sessions::anonymous_device(&warm.ctx, &warm.params)
        .ok()?
        .map(str::to_owned);
    let warm = warm.admit()?;
    let random: [u8; RANDOM_LEN] = webcrypto::random().ok()?;
    let start = SessionStart {
        subject: None,
        scope: &warm.ctx.record.settings.anonymous_scope,
        device_id: device_id.as_deref(),
        exchanged: None,
    };
    let prepared = match sessions::prepare_start(&warm.ctx, &warm.issuer, start, &random) {
        Ok(p) => p,
        Err(_) => {
            warm.refund();
            return None;
        }
    };
    let rate_key = warm
        .ctx
        .record
        .settings
        .anonymous_rate_limit
        .binding()
        .map(|_| metering::anonymous_rate_key(&warm.ctx, client_ip.as_deref()));
    Some(AnonymousIssue {
        warm,
        prepared,
        rate_key,
    })
}

#[wasm_bindgen]
impl AnonymousIssue {
    /// `[rate binding, rate key, sign key, signing input, seal key, iv, aad, plaintext,
    /// CORS origin, quota]`; the rate binding is `undefined` when the org has no per-IP limit.
    #[wasm_bindgen(getter)]
    pub fn parts(&self) -> Array {
        let tier = self.warm.ctx.record.settings.anonymous_rate_limit;
        let parts = self.warm.start_parts(&self.prepared);
        parts.unshift(&optional(self.rate_key.as_deref()));
        parts.unshift(&optional(tier.binding()));
        parts
    }

    /// The token response body, from the signature and the sealed refresh token.
    pub fn finish(
        self,
        env: &Env,
        worker_ctx: worker::worker_sys::Context,
        signature: &[u8],
        sealed: &[u8],
    ) -> Option<String> {
        self.warm
            .finish_start(env, worker_ctx, self.prepared, [signature, sealed], None)
    }

    /// The per-IP limiter said no: the quota admission is taken back. `[body, Retry-After]` of
    /// the 429.
    pub fn rate_limited(self) -> Vec<String> {
        self.warm.refund();
        let error = metering::anonymous_rate_exceeded(&self.warm.ctx);
        vec![error.to_json(), RATE_PERIOD_SECS.to_string()]
    }

    /// The limiter or WebCrypto failed: the quota admission is taken back (the full path answers).
    pub fn abandon(self) {
        self.warm.refund();
    }
}
