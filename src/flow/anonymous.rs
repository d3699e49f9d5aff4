//! `POST /orgs/{org}/sessions/anonymous`: a new anonymous session.
//!
//! Steps: the org (403 for an origin it does not allow), the body (413, 415, 400), the org's
//! rules (anonymous sessions on, a valid `device_id`), the per-IP limit (429), the monthly quota
//! (429), then one signature and one seal, and the token response. Whatever fails after the quota
//! admitted the request takes the admission back first: only issued tokens count, once.

use std::rc::Rc;

use super::opening::{Open, Opened, Opening};
use super::{unexpected, Effect, Outcome, Request, Step};
use crate::api_error::ApiError;
use crate::issuance::{anonymous_device, prepare_start, token_body, Prepared, SessionStart};
use crate::limits::{Admission, AnonymousRateLimit, RATE_PERIOD_SECS};
use crate::org::OrgId;
use crate::org_state::OrgState;
use crate::reply::{Caching, Cors, Reply};

pub struct AnonymousSession {
    request: Request,
    state: State,
    opening: Opening,
    org: Option<Rc<OrgState>>,
    cors: Cors,
    device_id: Option<String>,
    admission: Option<Admission>,
}

enum State {
    Opening,
    Limit,
    Admit,
    SignAndSeal(Box<Prepared>),
    /// The admission is being taken back; then this answer.
    Refund(Reply),
    /// The usage count is being flushed; then this answer.
    Flush(Reply),
    Finished,
}

impl AnonymousSession {
    pub fn begin(request: Request, org: OrgId) -> (Self, Step) {
        let flow = Self {
            request,
            state: State::Opening,
            opening: Opening::default(),
            org: None,
            cors: Cors::None,
            device_id: None,
            admission: None,
        };
        (flow, Step::Need(Opening::first(org)))
    }

    pub fn resume(&mut self, outcome: Outcome) -> Step {
        match (std::mem::replace(&mut self.state, State::Finished), outcome) {
            (State::Opening, outcome) => match self.opening.resume(&self.request, outcome) {
                Opened::Need(effect) => {
                    self.state = State::Opening;
                    Step::Need(effect)
                }
                Opened::Answered(reply) => Step::Done(reply),
                Opened::Ready(open) => self.opened(open),
            },
            (State::Limit, Outcome::Limit(allowed)) => self.limited(allowed),
            (State::Admit, Outcome::Admission(admission)) => self.admitted(admission),
            (State::SignAndSeal(prepared), Outcome::SignedAndSealed(done)) => {
                self.signed(*prepared, done)
            }
            (State::Refund(reply), Outcome::Done) => Step::Done(reply),
            (State::Flush(reply), Outcome::Done) => Step::Done(reply),
            _ => unexpected(),
        }
    }

    fn opened(&mut self, Open { org, cors, params }: Open) -> Step {
        self.cors = cors;
        self.org = Some(org.clone());
        match anonymous_device(&org, &params) {
            Ok(device_id) => self.device_id = device_id.map(str::to_owned),
            Err(e) => return self.fail(&e),
        }
        match org.record.settings.anonymous_rate_limit.binding() {
            Some(binding) => {
                self.state = State::Limit;
                let key = anonymous_rate_key(&org.record.id, self.request.client_ip.as_deref());
                Step::Need(Effect::Limit { binding, key })
            }
            None => self.admit(),
        }
    }

    fn limited(&mut self, allowed: Option<bool>) -> Step {
        let Some(org) = &self.org else {
            return unexpected();
        };
        match allowed {
            Some(true) => self.admit(),
            Some(false) => {
                let e = anonymous_rate_exceeded(org.record.settings.anonymous_rate_limit);
                self.fail(&e)
            }
            None => self.fail(&ApiError::Internal),
        }
    }

    fn admit(&mut self) -> Step {
        let Some(org) = &self.org else {
            return unexpected();
        };
        match org.record.settings.quota() {
            Some(limit) => {
                self.state = State::Admit;
                Step::Need(Effect::Admit { limit })
            }
            None => self.prepare(),
        }
    }

    fn admitted(&mut self, admission: Result<Option<Admission>, ApiError>) -> Step {
        match admission {
            Ok(a) => {
                self.admission = a;
                self.prepare()
            }
            Err(e) => self.fail(&e),
        }
    }

    fn prepare(&mut self) -> Step {
        let Some(org) = self.org.clone() else {
            return unexpected();
        };
        let issuer = org.record.issuer(&self.request.issuer_origin);
        let start = SessionStart {
            subject: None,
            scope: &org.record.settings.anonymous_scope,
            device_id: self.device_id.as_deref(),
            exchanged: None,
        };
        let random = self.request.random();
        match prepare_start(&org, &issuer, start, self.request.now(), &random) {
            Ok(prepared) => {
                let effect = Effect::SignAndSeal {
                    input: prepared.signing_input.clone(),
                    iv: prepared.iv,
                    aad: prepared.aad.clone(),
                    plaintext: prepared.plaintext.clone(),
                };
                self.state = State::SignAndSeal(Box::new(prepared));
                Step::Need(effect)
            }
            Err(e) => self.fail(&e),
        }
    }

    fn signed(&mut self, prepared: Prepared, done: Option<([u8; 64], Vec<u8>)>) -> Step {
        let Some((signature, sealed)) = done else {
            return self.fail(&ApiError::Internal);
        };
        let (issued, session) = prepared.finish(&signature, &sealed);
        let body = token_body(&issued, &session, &session.scope, None);
        let reply = Reply::json(200, body, Caching::NoStore)
            .shared(&self.cors)
            .with_quota(self.admission.as_ref());
        if self.admission.is_some() {
            self.state = State::Flush(reply);
            return Step::Need(Effect::Flush);
        }
        Step::Done(reply)
    }

    /// Answers `e`, shared with the request's origin; an admission is taken back first.
    fn fail(&mut self, e: &ApiError) -> Step {
        let reply = Reply::error(e).shared(&self.cors);
        if self.admission.take().is_some() {
            self.state = State::Refund(reply);
            return Step::Need(Effect::Refund);
        }
        Step::Done(reply)
    }
}

/// The per-IP limiter's key of a new anonymous session: the org and the client address.
fn anonymous_rate_key(org: &OrgId, ip: Option<&str>) -> String {
    format!("{}:{}", org.as_str(), ip.unwrap_or("unknown"))
}

/// The 429 of a client over the org's per-IP limit on new anonymous sessions.
fn anonymous_rate_exceeded(tier: AnonymousRateLimit) -> ApiError {
    ApiError::RateLimited {
        retry_after: RATE_PERIOD_SECS,
        message: format!(
            "too many new anonymous sessions from this address: {} per minute",
            tier.per_minute().unwrap_or(0)
        ),
    }
}
