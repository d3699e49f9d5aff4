//! The refresh-token grant on the lean path, in stages, each a sync call between the entry's
//! awaits: [`hot_refresh`] (the entry decrypts with each key of `open_parts`), `opened` (checks and
//! rotation; the entry seals the candidate), `call` (the entry sends it to the session shard),
//! `decided` (the shard's answer; the entry signs), `finish`. Until `call`, a `false`/`undefined`
//! answer sends the request to the full path; from the shard call on the request has had its
//! effect, so errors are answered here (`error`).

use js_sys::Array;
use wasm_bindgen::prelude::*;
use worker::Env;

use super::{bytes, key, Warm};
use crate::api_error::ApiError;
use crate::family::{Decision, RefreshCall};
use crate::issuance::{self, RefreshPlan, RANDOM_LEN};
use crate::jose::jws;
use crate::refresh_token::{self, RefreshPayload};
use crate::worker::org_cache::now_ms;
use crate::worker::{shards, webcrypto};

#[wasm_bindgen]
pub struct RefreshIssue {
    warm: Warm,
    iv: [u8; 12],
    ciphertext: Vec<u8>,
    plan: Option<RefreshPlan>,
    call: Option<RefreshCall>,
    /// After the shard's answer: the refresh token to answer, and the new access token's signing
    /// input and lifetime.
    decided: Option<Decided>,
    error: Option<ApiError>,
}

struct Decided {
    refresh_token: String,
    signing_input: String,
    expires_in: u64,
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
    let warm = Warm::open(env, org, request_origin, origin, content_type, body)?.issuing()?;
    if warm.params.get("grant_type") != Some("refresh_token") {
        return None;
    }
    let (iv, ciphertext) = refresh_token::decode(warm.params.get("refresh_token")?).ok()?;
    Some(RefreshIssue {
        warm: warm.admit()?,
        iv,
        ciphertext,
        plan: None,
        call: None,
        decided: None,
        error: None,
    })
}

#[wasm_bindgen]
impl RefreshIssue {
    /// `[keys, iv, aad, ciphertext]` of the presented token; the keys that may open it: the
    /// current master key's, then during a rotation the previous one's.
    #[wasm_bindgen(getter)]
    pub fn open_parts(&self) -> Array {
        let ctx = &self.warm.ctx;
        let keys: Array = ctx.refresh_keys.iter().map(|k| key(Some(k))).collect();
        [
            keys.into(),
            bytes(&self.iv),
            bytes(&refresh_token::aad(&ctx.org.record.id)),
            bytes(&self.ciphertext),
        ]
        .into_iter()
        .collect()
    }

    /// The opened session: checked and rotated; `false` when the full path must answer.
    pub fn opened(&mut self, plaintext: &[u8]) -> bool {
        let Ok(old) = RefreshPayload::from_json(plaintext) else {
            return false;
        };
        let Ok(random) = webcrypto::random::<RANDOM_LEN>() else {
            return false;
        };
        self.plan = issuance::plan_refresh(
            &self.warm.ctx.org,
            &self.warm.params,
            old,
            now_ms() / 1000,
            &random,
        )
        .ok();
        self.plan.is_some()
    }

    /// After [`opened`](Self::opened): `[seal key, iv, aad, plaintext]` of the candidate child.
    #[wasm_bindgen(getter)]
    pub fn seal_parts(&self) -> Option<Array> {
        let plan = self.plan.as_ref()?;
        Some(
            [
                self.warm.seal_key(),
                bytes(&plan.iv),
                bytes(&plan.aad),
                bytes(&plan.plaintext),
            ]
            .into_iter()
            .collect(),
        )
    }

    /// `[shard name, body]` of the one Durable Object call, with the sealed candidate.
    pub fn call(&mut self, sealed: &[u8]) -> Option<Vec<String>> {
        let plan = self.plan.as_ref()?;
        let call = plan.call(&self.warm.ctx.org, sealed);
        let (shard, body) = shards::refresh_request(&self.warm.ctx.org.record.id, &call).ok()?;
        self.call = Some(call);
        Some(vec![shard, body])
    }

    /// The shard's answer (`undefined`: the call failed). `[sign key, signing input, CORS origin,
    /// quota]` of the new access token, or `undefined` with the answer in
    /// [`error`](Self::error).
    pub fn decided(&mut self, answer: Option<String>) -> Option<Array> {
        match self.outcome(answer) {
            Ok(decided) => {
                let [cors, quota] = self.warm.response_parts();
                let input = bytes(decided.signing_input.as_bytes());
                self.decided = Some(decided);
                Some(
                    [self.warm.sign_key(), input, cors, quota]
                        .into_iter()
                        .collect(),
                )
            }
            Err(e) => {
                self.warm.refund();
                self.error = Some(e);
                None
            }
        }
    }

    fn outcome(&mut self, answer: Option<String>) -> Result<Decided, ApiError> {
        let answer = answer.ok_or(ApiError::Unavailable("session store unreachable".into()))?;
        let decision: Decision = serde_json::from_str(&answer).map_err(|_| ApiError::Internal)?;
        let call = self.call.take().ok_or(ApiError::Internal)?;
        let refresh_token = issuance::refresh_outcome(call, decision)?;
        let plan = self.plan.as_ref().ok_or(ApiError::Internal)?;
        let (signing_input, expires_in) =
            plan.access_signing_input(&self.warm.ctx.org, &self.warm.issuer)?;
        Ok(Decided {
            refresh_token,
            signing_input,
            expires_in,
        })
    }

    /// `[status, body, error code, CORS origin]` of the error answer after a failed
    /// [`decided`](Self::decided).
    #[wasm_bindgen(getter)]
    pub fn error(&self) -> Option<Array> {
        let e = self.error.as_ref()?;
        let [cors, _] = self.warm.response_parts();
        Some(
            [
                JsValue::from_f64(f64::from(e.status())),
                JsValue::from_str(&e.to_json()),
                JsValue::from_str(e.code()),
                cors,
            ]
            .into_iter()
            .collect(),
        )
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
        let decided = self.decided?;
        let issued = issuance::Issued {
            access_token: jws::assemble(&decided.signing_input, &signature),
            expires_in: decided.expires_in,
            refresh_token: decided.refresh_token,
        };
        self.warm.flush(env, worker_ctx);
        Some(issuance::token_body(
            &issued,
            &plan.next,
            &plan.granted,
            None,
        ))
    }

    /// Nothing was sent to the shard: the quota admission is taken back (the full path answers).
    pub fn abandon(self) {
        self.warm.refund();
    }
}
