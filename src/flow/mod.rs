//! The public endpoints as sans-IO state machines. A flow decides everything; it never performs
//! I/O. It answers [`Step::Need`] with the [`Effect`] its caller must perform next, is resumed
//! with the effect's [`Outcome`], and ends with [`Step::Done`] and the [`Reply`]. The worker's
//! driver (`src/entry.mjs` with `worker::driver`) performs the effects; the native tests perform
//! them with fakes. Time and randomness are part of the [`Request`].
//!
//! One module per endpoint: [`anonymous`] (a new anonymous session), [`token`] (the token
//! endpoint, with its grants: [`refresh`], [`exchange`]), [`introspection`] (RFC 7662),
//! [`revocation`] (RFC 7009) and [`documents`] (JWKS and RFC 8414 metadata).
//! [`opening`] is how the org endpoints with a body begin; [`issuing`] what the issuing flows
//! share (the quota admission and its refund, a new session's signing and sealing).
//! [`Public::begin`] routes a request to its flow.

pub mod anonymous;
pub mod documents;
pub mod exchange;
pub mod introspection;
pub mod issuing;
pub mod opening;
pub mod preflight;
pub mod presented;
pub mod refresh;
pub mod revocation;
pub mod token;

use std::rc::Rc;

use crate::api_error::ApiError;
use crate::issuance::RANDOM_LEN;
use crate::jose::Algorithm;
use crate::limits::Admission;
use crate::org::OrgId;
use crate::org_state::OrgState;
use crate::principal::Principal;
use crate::reply::Reply;
use crate::route::{dispatch, Dispatch, Endpoint, Route};

/// What a flow needs done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The org, from the isolate's cache or (cold) from storage: [`Outcome::Org`].
    LoadOrg(OrgId),
    /// The request body, read up to `limit + 1` bytes (more is refused): [`Outcome::Body`].
    /// `declared`: its `Content-Length` was given (and is within the limit), so it can be read at
    /// once; otherwise it is read as a stream and left once it passes the limit.
    ReadBody { limit: usize, declared: bool },
    /// Ask the per-IP rate limiter `binding` whether `key` may go on: [`Outcome::Limit`].
    Limit { binding: &'static str, key: String },
    /// Count one issuance against the org's monthly quota of `limit`: [`Outcome::Admission`].
    Admit { limit: u64 },
    /// Take an admission back: the request issued nothing. [`Outcome::Done`].
    Refund,
    /// Sign `input` with the org's signing key (Ed25519) and seal `plaintext` with its
    /// refresh-token key (AES-256-GCM): [`Outcome::SignedAndSealed`].
    SignAndSeal {
        input: String,
        iv: [u8; 12],
        aad: Vec<u8>,
        plaintext: Vec<u8>,
    },
    /// Send this isolate's count of issued tokens to the org's usage object when due, in the
    /// background. [`Outcome::Done`].
    Flush,
    /// Open a refresh token: AES-256-GCM with each of the org's refresh-token keys in turn (the
    /// current master key's, then during a rotation the previous one's): [`Outcome::Opened`].
    Open {
        iv: [u8; 12],
        aad: Vec<u8>,
        ciphertext: Vec<u8>,
    },
    /// Seal `plaintext` with the org's current refresh-token key: [`Outcome::Sealed`].
    Seal {
        iv: [u8; 12],
        aad: Vec<u8>,
        plaintext: Vec<u8>,
    },
    /// Sign `input` with the org's signing key (Ed25519): [`Outcome::Signed`].
    Sign { input: String },
    /// Call the session shard named `shard` (`idFromName`) with `op` and the JSON `body`:
    /// [`Outcome::Shard`].
    ShardCall {
        shard: String,
        op: &'static str,
        body: String,
    },
    /// Have the verification key of `provider`'s subject tokens signed with `alg` and `kid`
    /// ready (cached in the isolate, or fetched from its `jwks_uri`, or its HS256 secret opened):
    /// [`Outcome::KeyReady`]. [`Effect::Verify`] then uses it.
    UpstreamKey {
        provider: String,
        alg: Algorithm,
        kid: String,
    },
    /// Verify `signature` over `input` with the key [`Effect::UpstreamKey`] readied:
    /// [`Outcome::Verified`].
    Verify {
        alg: Algorithm,
        signature: Vec<u8>,
        input: String,
    },
    /// Authenticate the caller from its `Authorization` header's value: the operator token, or
    /// an org key credential (verified, and spent in its key's shard): [`Outcome::Caller`].
    Authenticate { credential: Option<String> },
    /// Verify an Ed25519 `signature` over `input` with one of the org's own public keys (a token
    /// this worker issued): [`Outcome::Verified`].
    VerifyOwn {
        public_key: [u8; 32],
        signature: Vec<u8>,
        input: String,
    },
}

/// What performing an [`Effect`] gave.
pub enum Outcome {
    Org(Result<Rc<OrgState>, ApiError>),
    /// `None`: the body could not be read.
    Body(Option<Vec<u8>>),
    /// `None`: the limiter failed.
    Limit(Option<bool>),
    /// `Ok(None)`: the org has no quota after all.
    Admission(Result<Option<Admission>, ApiError>),
    /// The Ed25519 signature and the sealed plaintext; `None`: WebCrypto failed.
    SignedAndSealed(Option<([u8; 64], Vec<u8>)>),
    /// The plaintext; `None`: no key opens it.
    Opened(Option<Vec<u8>>),
    /// `None`: WebCrypto failed.
    Sealed(Option<Vec<u8>>),
    /// `None`: WebCrypto failed.
    Signed(Option<[u8; 64]>),
    /// The shard's JSON answer; `None`: the call failed or did not answer 200.
    Shard(Option<String>),
    /// The verification key is ready, or why there is none (the provider's keys unavailable,
    /// no key for the token's `kid` and algorithm).
    KeyReady(Result<(), ApiError>),
    /// Whether the signature verified; `None`: WebCrypto failed.
    Verified(Option<bool>),
    /// Who the caller is, or why it is refused (401, 503).
    Caller(Result<Principal, ApiError>),
    /// An effect with nothing to report.
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Need(Effect),
    Done(Reply),
}

/// A public request, as plain values: its method, URL parts and the headers the flows read; the
/// time and the randomness it may use.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The origin issuer URLs are built on: the configured one, or the request URL's own.
    pub issuer_origin: String,
    /// The `Origin` header.
    pub origin: Option<String>,
    pub content_type: Option<String>,
    pub content_length: Option<String>,
    /// `CF-Connecting-IP`.
    pub client_ip: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    pub now_ms: u64,
    pub random: Vec<u8>,
}

impl Request {
    fn now(&self) -> u64 {
        self.now_ms / 1000
    }

    fn random(&self) -> [u8; RANDOM_LEN] {
        let mut r = [0u8; RANDOM_LEN];
        let n = RANDOM_LEN.min(self.random.len());
        r[..n].copy_from_slice(&self.random[..n]);
        r
    }
}

/// What a flow serves: a public endpoint, or a CORS preflight of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowRoute {
    Endpoint(Route),
    Preflight(Route),
}

impl FlowRoute {
    pub fn route(&self) -> &Route {
        match self {
            Self::Endpoint(r) | Self::Preflight(r) => r,
        }
    }

    /// Whether the flow reads the request header `header`: the driver reads no other (a header
    /// lookup costs about as much as a JWKS answer).
    pub fn reads(&self, header: Header) -> bool {
        let (endpoint, preflight) = match self {
            Self::Endpoint(r) => (&r.endpoint, false),
            Self::Preflight(r) => (&r.endpoint, true),
        };
        let with_body = !preflight && !matches!(endpoint, Endpoint::Jwks | Endpoint::Metadata);
        match header {
            Header::Origin => preflight || with_body,
            Header::ContentType | Header::ContentLength => with_body,
            Header::ClientIp => !preflight && *endpoint == Endpoint::AnonymousSession,
            Header::Authorization => !preflight && *endpoint == Endpoint::Introspect,
        }
    }
}

/// The request headers a flow may read ([`FlowRoute::reads`]), besides the request id's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    Origin,
    ContentType,
    ContentLength,
    /// `CF-Connecting-IP`.
    ClientIp,
    Authorization,
}

impl Header {
    pub fn name(self) -> &'static str {
        match self {
            Self::Origin => "origin",
            Self::ContentType => "content-type",
            Self::ContentLength => "content-length",
            Self::ClientIp => "cf-connecting-ip",
            Self::Authorization => "authorization",
        }
    }
}

/// A public request in its flow. One lives per request, inside the driver's own allocation, so
/// the variants are not boxed.
#[allow(clippy::large_enum_variant)]
pub enum Public {
    Anonymous(anonymous::AnonymousSession),
    Document(documents::Document),
    Token(token::Token),
    Introspection(introspection::Introspection),
    Revocation(revocation::RevokeOwn),
    Preflight(preflight::Preflight),
}

impl Public {
    /// The route of a request a flow serves: a public endpoint, or its CORS preflight; `None`
    /// for anything else (the workers-rs path answers it: the admin API, health, unknown paths and
    /// methods).
    pub fn route(method: &str, path: &str) -> Option<FlowRoute> {
        match dispatch(method, path) {
            Ok(Dispatch::Handle(route)) if route.endpoint.is_public() => {
                Some(FlowRoute::Endpoint(route))
            }
            Ok(Dispatch::Preflight(route)) => Some(FlowRoute::Preflight(route)),
            _ => None,
        }
    }

    /// The flow serving `request` as [`Public::route`] routed it, and its first step.
    pub fn begin(request: Request, routed: &FlowRoute) -> (Self, Step) {
        let (route, preflight) = match routed {
            FlowRoute::Endpoint(route) => (route, false),
            FlowRoute::Preflight(route) => (route, true),
        };
        let org = route.org.clone();
        let document = matches!(route.endpoint, Endpoint::Jwks | Endpoint::Metadata);
        if preflight {
            let (f, s) = preflight::Preflight::begin(request, org, document);
            return (Self::Preflight(f), s);
        }
        match route.endpoint {
            Endpoint::AnonymousSession => {
                let (f, s) = anonymous::AnonymousSession::begin(request, org);
                (Self::Anonymous(f), s)
            }
            Endpoint::Token => {
                let (f, s) = token::Token::begin(request, org);
                (Self::Token(f), s)
            }
            Endpoint::Introspect => {
                let (f, s) = introspection::Introspection::begin(request, org);
                (Self::Introspection(f), s)
            }
            Endpoint::Revoke => {
                let (f, s) = revocation::RevokeOwn::begin(request, org);
                (Self::Revocation(f), s)
            }
            _ => {
                let (f, s) = documents::Document::begin(request, &route.endpoint, org);
                (Self::Document(f), s)
            }
        }
    }

    pub fn resume(&mut self, outcome: Outcome) -> Step {
        match self {
            Self::Anonymous(f) => f.resume(outcome),
            Self::Document(f) => f.resume(outcome),
            Self::Token(f) => f.resume(outcome),
            Self::Introspection(f) => f.resume(outcome),
            Self::Revocation(f) => f.resume(outcome),
            Self::Preflight(f) => f.resume(outcome),
        }
    }
}

/// An outcome the flow did not ask for: a driver bug, answered as a server error.
fn unexpected() -> Step {
    Step::Done(Reply::error(&ApiError::Internal))
}

#[cfg(test)]
pub(crate) mod tests;
