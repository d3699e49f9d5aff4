//! The public endpoints as sans-IO state machines. A flow decides everything; it never performs
//! I/O. It answers [`Step::Need`] with the [`Effect`] its caller must perform next, is resumed
//! with the effect's [`Outcome`], and ends with [`Step::Done`] and the [`Reply`]. The worker's
//! driver (`src/entry.mjs` with `worker::driver`) performs the effects; the native tests perform
//! them with fakes. Time and randomness are part of the [`Request`].
//!
//! One module per endpoint: [`anonymous`] (a new anonymous session) and [`documents`] (JWKS and
//! RFC 8414 metadata). [`Public::begin`] routes a request to its flow.

pub mod anonymous;
pub mod documents;

use std::rc::Rc;

use crate::api_error::ApiError;
use crate::body::{parse_params, Params, MAX_BODY_BYTES};
use crate::cors::allowed_origin;
use crate::issuance::RANDOM_LEN;
use crate::limits::Admission;
use crate::org::OrgId;
use crate::org_state::OrgState;
use crate::reply::{Cors, Reply};
use crate::route::{dispatch, Dispatch, Endpoint};

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

/// A public request in its flow. One lives per request, inside the driver's own allocation, so
/// the variants are not boxed.
#[allow(clippy::large_enum_variant)]
pub enum Public {
    Anonymous(anonymous::AnonymousSession),
    Document(documents::Document),
}

impl Public {
    /// The flow serving `request`, and its first step; `None` for a request no flow serves
    /// (the workers-rs path answers it).
    pub fn begin(request: Request) -> Option<(Self, Step, Endpoint, OrgId)> {
        let Ok(Dispatch::Handle(route)) = dispatch(&request.method, &request.path) else {
            return None;
        };
        let org = route.org.clone();
        let (flow, step) = match route.endpoint {
            Endpoint::AnonymousSession => {
                let (f, s) = anonymous::AnonymousSession::begin(request, org.clone());
                (Self::Anonymous(f), s)
            }
            Endpoint::Jwks | Endpoint::Metadata => {
                let (f, s) = documents::Document::begin(request, &route.endpoint, org.clone());
                (Self::Document(f), s)
            }
            _ => return None,
        };
        Some((flow, step, route.endpoint, org))
    }

    pub fn resume(&mut self, outcome: Outcome) -> Step {
        match self {
            Self::Anonymous(f) => f.resume(outcome),
            Self::Document(f) => f.resume(outcome),
        }
    }
}

/// An outcome the flow did not ask for: a driver bug, answered as a server error.
fn unexpected() -> Step {
    Step::Done(Reply::error(&ApiError::Internal))
}

/// The CORS decision of an org endpoint: no `Origin`, no sharing; an origin the org allows is
/// answered; any other is refused (403) before any work.
fn org_cors(org: &OrgState, origin: Option<&str>) -> Result<Cors, ApiError> {
    let Some(origin) = origin else {
        return Ok(Cors::None);
    };
    let allowed =
        allowed_origin(origin, &org.record.settings.allowed_origins).ok_or_else(|| {
            ApiError::AccessDenied(format!("origin {origin} is not allowed for this org"))
        })?;
    Ok(Cors::Origin(allowed.to_owned()))
}

/// How a request's body is to be had: refused unread when its `Content-Length` says it is too
/// large (413); `Ok(None)` when it says the body is empty (nothing to read); else the effect that
/// reads it.
fn read_body(content_length: Option<&str>) -> Result<Option<Effect>, ApiError> {
    let declared = match content_length {
        None => None,
        Some(len) => match len.trim().parse::<usize>() {
            Ok(n) if n <= MAX_BODY_BYTES => Some(n),
            _ => {
                return Err(ApiError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                })
            }
        },
    };
    Ok((declared != Some(0)).then_some(Effect::ReadBody {
        limit: MAX_BODY_BYTES,
        declared: declared.is_some(),
    }))
}

/// The parameters of a body read as [`read_body`] says.
fn params_of(body: Option<Vec<u8>>, content_type: Option<&str>) -> Result<Params, ApiError> {
    let body = body.ok_or_else(|| ApiError::invalid_request("could not read the request body"))?;
    parse_params(content_type, &body)
}

#[cfg(test)]
pub(crate) mod tests;
