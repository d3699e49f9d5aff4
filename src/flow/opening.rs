//! How every org endpoint that takes a body opens: the org (404 when unknown), the CORS decision
//! (403 for an origin the org does not allow, before any other work), for an endpoint that
//! authenticates its caller the caller (401), the body (413 when its declared length is too
//! large, unread; read up to the limit otherwise) and its parameters (413, 415, 400). Nothing is
//! counted or changed before these pass, so a failure here needs no refund.

use std::rc::Rc;

use super::{Effect, Outcome, Request, Step};
use crate::api_error::ApiError;
use crate::body::{parse_params, Params, MAX_BODY_BYTES};
use crate::cors::allowed_origin;
use crate::org::OrgId;
use crate::org_state::OrgState;
use crate::principal::Principal;
use crate::reply::{Cors, Reply};

/// The opening in progress: the org, once loaded.
#[derive(Default)]
pub struct Opening {
    /// Whether the caller is authenticated (from `Authorization`) before the body is read.
    authenticates: bool,
    org: Option<Rc<OrgState>>,
    cors: Cors,
    caller: Option<Principal>,
    done: bool,
}

/// Where an opening stands after an outcome.
pub enum Opened {
    /// Perform this, then resume the opening with its outcome.
    Need(Effect),
    /// The request is answered: an error, shared with the origin when the org allows it.
    Answered(Reply),
    /// The request is open.
    Ready(Open),
}

/// An opened request: its org, the CORS decision, its parameters, and for an endpoint that
/// authenticates, its caller.
pub struct Open {
    pub org: Rc<OrgState>,
    pub cors: Cors,
    pub params: Params,
    pub caller: Option<Principal>,
}

impl Opening {
    /// The opening of an endpoint that authenticates its caller.
    pub fn authenticating() -> Self {
        Self {
            authenticates: true,
            ..Self::default()
        }
    }

    /// The first effect of every org endpoint.
    pub fn first(org: OrgId) -> Effect {
        Effect::LoadOrg(org)
    }

    /// [`Opening::resume`] for a flow in its opening: the open request, or the step to take
    /// (an effect of the opening, or its answer).
    pub fn advance(&mut self, request: &Request, outcome: Outcome) -> Result<Open, Step> {
        match self.resume(request, outcome) {
            Opened::Need(effect) => Err(Step::Need(effect)),
            Opened::Answered(reply) => Err(Step::Done(reply)),
            Opened::Ready(open) => Ok(open),
        }
    }

    pub fn resume(&mut self, request: &Request, outcome: Outcome) -> Opened {
        match (outcome, self.org.is_some(), self.done) {
            (Outcome::Org(org), false, false) => self.org_loaded(request, org),
            (Outcome::Caller(caller), true, false) if self.authenticates => match caller {
                Ok(caller) => {
                    self.caller = Some(caller);
                    self.read(request)
                }
                Err(e) => self.answer(&e),
            },
            (Outcome::Body(body), true, false) => self.body_read(request, body),
            _ => Opened::Answered(Reply::error(&ApiError::Internal)),
        }
    }

    fn org_loaded(&mut self, request: &Request, org: Result<Rc<OrgState>, ApiError>) -> Opened {
        let org = match org {
            Ok(org) => org,
            Err(e) => return self.answer(&e),
        };
        self.cors = match org_cors(&org, request.origin.as_deref()) {
            Ok(cors) => cors,
            Err(e) => return self.answer(&e),
        };
        self.org = Some(org);
        if self.authenticates {
            return Opened::Need(Effect::Authenticate {
                credential: request.authorization.clone(),
            });
        }
        self.read(request)
    }

    fn read(&mut self, request: &Request) -> Opened {
        match read_body(request.content_length.as_deref()) {
            Ok(Some(effect)) => Opened::Need(effect),
            Ok(None) => self.body_read(request, Some(Vec::new())),
            Err(e) => self.answer(&e),
        }
    }

    fn body_read(&mut self, request: &Request, body: Option<Vec<u8>>) -> Opened {
        let params = body
            .ok_or_else(|| ApiError::invalid_request("could not read the request body"))
            .and_then(|body| parse_params(request.content_type.as_deref(), &body));
        match (params, self.org.take()) {
            (Ok(params), Some(org)) => {
                self.done = true;
                Opened::Ready(Open {
                    org,
                    cors: std::mem::take(&mut self.cors),
                    params,
                    caller: self.caller.take(),
                })
            }
            (Err(e), _) => self.answer(&e),
            (Ok(_), None) => self.answer(&ApiError::Internal),
        }
    }

    fn answer(&mut self, e: &ApiError) -> Opened {
        self.done = true;
        Opened::Answered(Reply::error(e).shared(&self.cors))
    }
}

/// The CORS decision of an org endpoint: no `Origin`, no sharing; an origin the org allows is
/// answered; any other is refused (403).
pub fn org_cors(org: &OrgState, origin: Option<&str>) -> Result<Cors, ApiError> {
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
