//! The worker side of the public flows (`crate::flow`): [`begin`] starts the flow of a request,
//! [`PublicRequest::next`] resumes it with the result of the effect it asked for and runs it to
//! its next effect that must be awaited, and [`perform`] performs the effects Rust awaits itself.
//! `src/entry.mjs` holds the loop that awaits effects and answers.
//!
//! Where each effect is performed:
//! - here, without awaiting: the org when this isolate holds it fresh (and has validated its
//!   configuration), the quota admission when the month's count is loaded, refunds, flushes;
//! - by [`perform`] (an async export): a cold org (configuration check, KV reads, key imports),
//!   the first quota admission of an org in an isolate, an identity provider's keys not held yet
//!   (fetched, imported), and a first verification with one of the org's own keys (imported);
//! - by the entry: reading the body, the rate-limit binding, WebCrypto, session-shard calls.
//!
//! Effects and replies cross to JavaScript as plain objects tagged by `kind`, built by
//! [`effect_js`] and [`reply_js`] only; results come back as plain values, `undefined` when the
//! effect failed ([`outcome_of`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Object, Uint8Array};
use wasm_bindgen::prelude::*;
use worker::Env;

use super::auth::{self, Presented};
use super::clock::now_ms;
use super::config::SESSIONS_BINDING;
use super::org_cache::{self, OrgContext};
use super::{config, metering, upstream_keys, webcrypto};
use crate::api_error::ApiError;
use crate::flow::{Effect, Header, Outcome, Public, Request, Step};
use crate::issuance::RANDOM_LEN;
use crate::jose::Algorithm;
use crate::org::OrgId;
use crate::principal::Principal;
use crate::reply::Reply;
use crate::request_log::{request_id, version, LogLine};
use crate::request_url::RequestUrl;

/// A public request in its flow, held by the entry between effects.
#[wasm_bindgen]
pub struct PublicRequest {
    flow: Public,
    /// The first step, until the first [`next`](Self::next).
    first: Option<Step>,
    /// The effect the entry or [`perform`] is performing.
    awaiting: Option<Effect>,
    /// What [`perform`] gave, for the next [`next`](Self::next).
    performed: Option<Outcome>,
    /// The org, once loaded: its keys are what WebCrypto effects use.
    ctx: Option<Rc<OrgContext>>,
    /// The key readied for the next `Verify` (a provider's, or one of the org's own).
    verify_key: Option<web_sys::CryptoKey>,
    org: OrgId,
    /// The request URL's `scheme://host[:port]`: an admin credential's audience may name it.
    request_origin: String,
    env: Env,
    worker_ctx: worker::Context,
    log: LogFacts,
}

struct LogFacts {
    request_id: String,
    method: String,
    endpoint: &'static str,
    started_ms: u64,
}

/// Starts the flow serving a request and runs it to its first effect to await: that effect, with
/// the request in its `flow` member for [`PublicRequest::next`], or the reply (a warm JWKS needs
/// nothing awaited). `undefined` when no flow serves the request (the workers-rs path answers):
/// decided from the method and URL alone, before any other work. `url` is the request's absolute
/// URL; the request headers are read only for a request a flow serves, and only those it uses.
#[wasm_bindgen]
pub fn begin(
    env: Env,
    worker_ctx: worker::worker_sys::Context,
    method: String,
    url: &str,
    headers: RequestHeaders,
) -> JsValue {
    let started_ms = now_ms();
    let Some(url) = RequestUrl::parse(url) else {
        return JsValue::UNDEFINED;
    };
    let Some(route) = Public::route(&method, url.path()) else {
        return JsValue::UNDEFINED;
    };
    // One draw of randomness: the request id's, and a session's ids and keys for a POST. The
    // request headers read are those the flow reads (`FlowRoute::reads`), and the request id's.
    let post = method == "POST";
    let mut random = vec![0u8; if post { 8 + RANDOM_LEN } else { 8 }];
    if getrandom::fill(&mut random).is_err() {
        return JsValue::UNDEFINED;
    }
    let mut id_bytes = [0u8; 8];
    id_bytes.copy_from_slice(&random[..8]);
    let header = |h: Header| {
        if route.reads(h) {
            with_names(|names| headers.get(names.get(h.name())))
        } else {
            None
        }
    };
    let request = Request {
        method: method.clone(),
        path: url.path().to_owned(),
        issuer_origin: config::issuer_origin_of(&env, url.origin()),
        origin: header(Header::Origin),
        content_type: header(Header::ContentType),
        content_length: header(Header::ContentLength),
        client_ip: header(Header::ClientIp),
        authorization: header(Header::Authorization),
        now_ms: started_ms,
        random: random.split_off(8),
    };
    let log = LogFacts {
        request_id: request_id(
            with_names(|names| headers.get(names.get("cf-ray"))).as_deref(),
            &id_bytes,
        ),
        method,
        endpoint: route.route().endpoint.name(),
        started_ms,
    };
    let (flow, first) = Public::begin(request, &route);
    let mut request = PublicRequest {
        flow,
        first: Some(first),
        awaiting: None,
        performed: None,
        ctx: None,
        verify_key: None,
        org: route.route().org.clone(),
        request_origin: url.origin().to_owned(),
        env,
        worker_ctx: worker::Context::new(worker_ctx),
        log,
    };
    let need = request.next(JsValue::UNDEFINED);
    if request.awaiting.is_some() {
        set_named(need.unchecked_ref(), "flow", &JsValue::from(request));
    }
    need
}

/// Performs the effect the flow awaits from Rust (`kind: "rust"`), and hands the request back
/// for [`PublicRequest::next`].
#[wasm_bindgen]
pub async fn perform(mut request: PublicRequest) -> PublicRequest {
    let outcome = match request.awaiting.take() {
        Some(Effect::LoadOrg(org)) => Outcome::Org(request.load(&org).await),
        Some(Effect::Admit { limit }) => {
            Outcome::Admission(metering::admit_loading(&request.env, &request.org, limit).await)
        }
        Some(Effect::UpstreamKey { provider, alg, kid }) => {
            Outcome::KeyReady(request.upstream_key(&provider, alg, &kid).await)
        }
        Some(Effect::Authenticate { credential }) => {
            Outcome::Caller(request.authenticate(credential.as_deref()).await)
        }
        Some(Effect::VerifyOwn {
            public_key,
            signature,
            input,
        }) => Outcome::Verified(
            webcrypto::verify_ed25519(&public_key, &signature, input.as_bytes())
                .await
                .ok(),
        ),
        // Nothing else is performed here: the flow answers a server error.
        _ => Outcome::Done,
    };
    request.performed = Some(outcome);
    request
}

#[wasm_bindgen]
impl PublicRequest {
    /// Resumes the flow with `result`, the result of the effect last asked for (`undefined`: it
    /// failed; ignored the first time and after [`perform`]), and answers the next effect to
    /// await, or the reply (`kind: "reply"`).
    pub fn next(&mut self, result: JsValue) -> JsValue {
        let mut step = if let Some(outcome) = self.performed.take() {
            self.flow.resume(outcome)
        } else if let Some(effect) = self.awaiting.take() {
            self.flow.resume(outcome_of(&effect, &result))
        } else {
            self.first
                .take()
                .unwrap_or_else(|| Step::Done(Reply::error(&ApiError::Internal)))
        };
        loop {
            match step {
                Step::Done(reply) => return self.reply_js(reply),
                Step::Need(effect) => match self.place(&effect) {
                    Place::Now(outcome) => step = self.flow.resume(outcome),
                    Place::Entry => {
                        let js = self.effect_js(&effect);
                        self.awaiting = Some(effect);
                        return js;
                    }
                    Place::Rust => {
                        self.awaiting = Some(effect);
                        return tagged("rust", &[]);
                    }
                },
            }
        }
    }
}

/// Where an effect is performed.
enum Place {
    /// Here, now: its outcome.
    Now(Outcome),
    /// By the entry, awaited ([`PublicRequest::effect_js`] says what to do).
    Entry,
    /// By [`perform`], awaited.
    Rust,
}

impl PublicRequest {
    /// Where `effect` is performed; performs it if that is now.
    fn place(&mut self, effect: &Effect) -> Place {
        let now = match effect {
            Effect::LoadOrg(org) => {
                let Some(ctx) = org_cache::peek(org).filter(|_| config::validated()) else {
                    return Place::Rust;
                };
                let state = ctx.org.clone();
                self.ctx = Some(ctx);
                Outcome::Org(Ok(state))
            }
            Effect::Admit { limit } => match metering::admit_counted(&self.org, *limit) {
                Some(admission) => Outcome::Admission(admission),
                None => return Place::Rust,
            },
            Effect::Refund => {
                metering::refund(&self.org);
                Outcome::Done
            }
            Effect::Flush => {
                metering::flush_if_due(&self.env, &self.worker_ctx, &self.org);
                Outcome::Done
            }
            Effect::UpstreamKey { provider, alg, kid } => {
                let cached = self
                    .provider(provider)
                    .and_then(|p| upstream_keys::cached_key(&self.org, p, *alg, kid));
                match cached {
                    Some(key) => {
                        self.verify_key = Some(key);
                        Outcome::KeyReady(Ok(()))
                    }
                    None => return Place::Rust,
                }
            }
            Effect::Authenticate { credential } => {
                match auth::presented(&self.env, credential.as_deref()) {
                    Ok(Presented::Operator) => Outcome::Caller(Ok(Principal::Operator)),
                    Ok(Presented::OrgKey(_)) => return Place::Rust,
                    Err(e) => Outcome::Caller(Err(e)),
                }
            }
            Effect::VerifyOwn { public_key, .. } => match webcrypto::cached_ed25519_key(public_key)
            {
                Some(key) => {
                    self.verify_key = Some(key);
                    return Place::Entry;
                }
                None => return Place::Rust,
            },
            // Without the org's keys there is nothing to sign, seal, open or verify with.
            Effect::SignAndSeal { .. } if self.keys().is_none() => Outcome::SignedAndSealed(None),
            Effect::Sign { .. } if self.signing_key().is_none() => Outcome::Signed(None),
            Effect::Seal { .. } if self.refresh_keys().is_empty() => Outcome::Sealed(None),
            Effect::Open { .. } if self.refresh_keys().is_empty() => Outcome::Opened(None),
            Effect::Verify { .. } if self.verify_key.is_none() => Outcome::Verified(None),
            Effect::ReadBody { .. }
            | Effect::Limit { .. }
            | Effect::SignAndSeal { .. }
            | Effect::Sign { .. }
            | Effect::Seal { .. }
            | Effect::Open { .. }
            | Effect::Verify { .. }
            | Effect::ShardCall { .. } => return Place::Entry,
        };
        Place::Now(now)
    }

    fn provider(&self, id: &str) -> Option<&crate::provider::ProviderRecord> {
        self.ctx.as_ref()?.org.provider(id)
    }

    /// The org's signing key and refresh-token sealing key.
    fn keys(&self) -> Option<(&web_sys::CryptoKey, &web_sys::CryptoKey)> {
        Some((self.signing_key()?, self.refresh_keys().first()?))
    }

    fn signing_key(&self) -> Option<&web_sys::CryptoKey> {
        self.ctx.as_ref()?.signing_key.as_ref()
    }

    /// The org's refresh-token keys: the current one (it seals) first.
    fn refresh_keys(&self) -> &[web_sys::CryptoKey] {
        self.ctx.as_ref().map_or(&[], |c| c.refresh_keys.as_slice())
    }

    /// The caller behind an `Authorization` value: the operator, or an org key credential
    /// verified (KV, WebCrypto, and spent in its key's shard).
    async fn authenticate(&self, credential: Option<&str>) -> Result<Principal, ApiError> {
        match auth::presented(&self.env, credential)? {
            Presented::Operator => Ok(Principal::Operator),
            Presented::OrgKey(token) => {
                let origins = config::own_origins_of(&self.env, &self.request_origin);
                auth::org_key(&self.env, &self.worker_ctx, &token, &origins).await
            }
        }
    }

    /// Readies the key that verifies `provider`'s tokens of `alg` and `kid` (fetched, imported).
    async fn upstream_key(
        &mut self,
        provider: &str,
        alg: Algorithm,
        kid: &str,
    ) -> Result<(), ApiError> {
        let record = self.provider(provider).cloned().ok_or(ApiError::Internal)?;
        let key = upstream_keys::verify_key(&self.env, &self.org, &record, alg, kid).await?;
        self.verify_key = Some(key);
        Ok(())
    }

    /// The org from storage (the configuration checked first, once per isolate).
    async fn load(&mut self, org: &OrgId) -> Result<Rc<crate::org_state::OrgState>, ApiError> {
        config::validate(&self.env).await?;
        let ctx = org_cache::get(&self.env, org).await?;
        let state = ctx.org.clone();
        self.ctx = Some(ctx);
        Ok(state)
    }

    /// The effect as the entry reads it.
    fn effect_js(&self, effect: &Effect) -> JsValue {
        match effect {
            Effect::ReadBody { limit, declared } => tagged(
                "read_body",
                &[
                    ("limit", JsValue::from_f64(*limit as f64)),
                    ("declared", JsValue::from_bool(*declared)),
                ],
            ),
            Effect::Limit { binding, key } => tagged(
                "limit",
                &[
                    ("binding", JsValue::from_str(binding)),
                    ("key", JsValue::from_str(key)),
                ],
            ),
            Effect::SignAndSeal {
                input,
                iv,
                aad,
                plaintext,
            } => {
                let (sign_key, seal_key) = match self.keys() {
                    Some((s, r)) => (s.clone().into(), r.clone().into()),
                    None => (JsValue::UNDEFINED, JsValue::UNDEFINED),
                };
                tagged(
                    "sign_and_seal",
                    &[
                        ("signKey", sign_key),
                        ("input", bytes(input.as_bytes())),
                        ("sealKey", seal_key),
                        ("iv", bytes(iv)),
                        ("aad", bytes(aad)),
                        ("plaintext", bytes(plaintext)),
                    ],
                )
            }
            Effect::Open {
                iv,
                aad,
                ciphertext,
            } => {
                let keys: js_sys::Array = self
                    .refresh_keys()
                    .iter()
                    .map(|k| JsValue::from(k.clone()))
                    .collect();
                tagged(
                    "open",
                    &[
                        ("keys", keys.into()),
                        ("iv", bytes(iv)),
                        ("aad", bytes(aad)),
                        ("ciphertext", bytes(ciphertext)),
                    ],
                )
            }
            Effect::Seal { iv, aad, plaintext } => tagged(
                "seal",
                &[
                    ("key", key(self.refresh_keys().first())),
                    ("iv", bytes(iv)),
                    ("aad", bytes(aad)),
                    ("plaintext", bytes(plaintext)),
                ],
            ),
            Effect::Sign { input } => tagged(
                "sign",
                &[
                    ("key", key(self.signing_key())),
                    ("input", bytes(input.as_bytes())),
                ],
            ),
            Effect::ShardCall { shard, op, body } => tagged(
                "shard_call",
                &[
                    ("binding", name_js(SESSIONS_BINDING)),
                    ("shard", JsValue::from_str(shard)),
                    ("op", name_js(op)),
                    ("body", JsValue::from_str(body)),
                ],
            ),
            Effect::Verify {
                alg,
                signature,
                input,
            } => self.verify_js(*alg, signature, input),
            Effect::VerifyOwn {
                signature, input, ..
            } => self.verify_js(Algorithm::EdDSA, signature, input),
            // Performed here, never by the entry.
            Effect::LoadOrg(_)
            | Effect::Admit { .. }
            | Effect::Refund
            | Effect::Flush
            | Effect::UpstreamKey { .. }
            | Effect::Authenticate { .. } => tagged("rust", &[]),
        }
    }

    /// A `verify` effect: WebCrypto's `verify` with the readied key and `alg`'s parameters.
    fn verify_js(&self, alg: Algorithm, signature: &[u8], input: &str) -> JsValue {
        let key = self
            .verify_key
            .as_ref()
            .map_or(JsValue::UNDEFINED, |k| k.clone().into());
        tagged(
            "verify",
            &[
                ("key", key),
                ("algorithm", webcrypto::verify_params(alg)),
                ("signature", bytes(signature)),
                ("input", bytes(input.as_bytes())),
            ],
        )
    }

    /// The reply as the entry answers it: status, headers, body (`undefined`: empty) and the
    /// request's log line.
    fn reply_js(&self, reply: Reply) -> JsValue {
        let reply = reply.stamped(&self.log.request_id, VERSION.with(|v| *v));
        let line = LogLine {
            request_id: &self.log.request_id,
            method: &self.log.method,
            endpoint: self.log.endpoint,
            org: Some(self.org.as_str()),
            status: reply.status,
            outcome: reply.outcome,
            duration_ms: now_ms().saturating_sub(self.log.started_ms),
        };
        let headers = Record::new();
        for (name, value) in &reply.headers {
            match value {
                Cow::Borrowed(fixed) => set_named_to(&headers, name, fixed),
                Cow::Owned(v) => set_named(&headers, name, &JsValue::from_str(v)),
            }
        }
        tagged(
            "reply",
            &[
                ("status", JsValue::from_f64(f64::from(reply.status))),
                ("headers", headers.into()),
                (
                    "body",
                    reply
                        .body
                        .as_deref()
                        .map_or(JsValue::UNDEFINED, JsValue::from_str),
                ),
                ("log", JsValue::from_str(&line.to_json())),
            ],
        )
    }
}

/// What the entry's `result` means for `effect`.
fn outcome_of(effect: &Effect, result: &JsValue) -> Outcome {
    let failed = result.is_undefined();
    match effect {
        Effect::ReadBody { .. } => Outcome::Body((!failed).then(|| bytes_of(result)).flatten()),
        Effect::Limit { .. } => Outcome::Limit(result.as_bool()),
        Effect::SignAndSeal { .. } => {
            Outcome::SignedAndSealed((!failed).then(|| signed_and_sealed(result)).flatten())
        }
        Effect::Open { .. } => Outcome::Opened((!failed).then(|| bytes_of(result)).flatten()),
        Effect::Seal { .. } => Outcome::Sealed((!failed).then(|| bytes_of(result)).flatten()),
        Effect::Sign { .. } => Outcome::Signed(
            (!failed)
                .then(|| bytes_of(result)?.try_into().ok())
                .flatten(),
        ),
        Effect::ShardCall { .. } => Outcome::Shard(result.as_string()),
        Effect::Verify { .. } | Effect::VerifyOwn { .. } => Outcome::Verified(result.as_bool()),
        Effect::LoadOrg(_)
        | Effect::Admit { .. }
        | Effect::Refund
        | Effect::Flush
        | Effect::UpstreamKey { .. }
        | Effect::Authenticate { .. } => Outcome::Done,
    }
}

/// `{signature, sealed}` of a `sign_and_seal` effect.
fn signed_and_sealed(result: &JsValue) -> Option<([u8; 64], Vec<u8>)> {
    let result: &Record = result.unchecked_ref();
    let field = |name: &'static str| {
        with_names(|names| result.get(names.get(name)))
            .dyn_into::<Uint8Array>()
            .ok()
            .map(|a| a.to_vec())
    };
    let signature: [u8; 64] = field("signature")?.try_into().ok()?;
    Some((signature, field("sealed")?))
}

/// A plain object `{kind, ...fields}`.
fn tagged(kind: &'static str, fields: &[(&'static str, JsValue)]) -> JsValue {
    let object = Record::new();
    set_named_to(&object, "kind", kind);
    for (name, value) in fields {
        set_named(&object, name, value);
    }
    object.into()
}

#[wasm_bindgen]
extern "C" {
    /// The request's `Headers`. Only constant, valid names are asked for, so `get` cannot throw
    /// and is called without exception handling.
    pub type RequestHeaders;
    #[wasm_bindgen(method, structural)]
    fn get(this: &RequestHeaders, name: &JsValue) -> Option<String>;

    /// A plain object read and written by member (`o[k]`, `o[k] = v`): no exception handling
    /// around each access, as `Reflect` has.
    #[wasm_bindgen(extends = Object, typescript_type = "object")]
    #[derive(Clone)]
    type Record;
    #[wasm_bindgen(method, indexing_getter)]
    fn get(this: &Record, key: &JsValue) -> JsValue;
    #[wasm_bindgen(method, indexing_setter)]
    fn set(this: &Record, key: &JsValue, value: &JsValue);
}

impl Record {
    fn new() -> Self {
        Object::new().unchecked_into()
    }
}

fn bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

/// The bytes of a `Uint8Array` result.
fn bytes_of(result: &JsValue) -> Option<Vec<u8>> {
    result.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec)
}

fn key(k: Option<&web_sys::CryptoKey>) -> JsValue {
    k.map_or(JsValue::UNDEFINED, |k| k.clone().into())
}

thread_local! {
    /// The version header's value, made once per isolate (and kept for its life).
    static VERSION: &'static str = version(option_env!("TX_BUILD_REVISION")).leak();
    /// The JavaScript strings of field names, kinds and header names, made once per isolate.
    static NAMES: RefCell<Names> = const { RefCell::new(Names(Vec::new())) };
}

/// A fixed name as a JavaScript string, made once per isolate (a clone of the handle).
fn name_js(name: &'static str) -> JsValue {
    with_names(|names| names.get(name).clone())
}

/// `object[name] = value`, the name's JavaScript string borrowed from the cache (no clone).
fn set_named(object: &Record, name: &'static str, value: &JsValue) {
    with_names(|names| object.set(names.get(name), value));
}

/// `object[name] = fixed`, both names' JavaScript strings borrowed from the cache.
fn set_named_to(object: &Record, name: &'static str, fixed: &'static str) {
    with_names(|names| {
        let value = names.index(fixed);
        let key = names.index(name);
        object.set(&names.0[key].1, &names.0[value].1);
    });
}

/// The isolate's JavaScript strings of fixed names: field names, kinds, header names and values.
/// Found by the name's address (each name is a literal or a constant), so a lookup compares
/// pointers, not text.
struct Names(Vec<(&'static str, JsValue)>);

impl Names {
    fn index(&mut self, name: &'static str) -> usize {
        match self.0.iter().position(|(n, _)| std::ptr::eq(*n, name)) {
            Some(i) => i,
            None => {
                self.0.push((name, JsValue::from_str(name)));
                self.0.len() - 1
            }
        }
    }

    fn get(&mut self, name: &'static str) -> &JsValue {
        let i = self.index(name);
        &self.0[i].1
    }
}

fn with_names<R>(f: impl FnOnce(&mut Names) -> R) -> R {
    NAMES.with(|names| f(&mut names.borrow_mut()))
}
