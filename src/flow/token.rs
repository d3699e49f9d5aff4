//! `POST /orgs/{org}/token`: the refresh-token grant (RFC 6749 §6), and the routing of the
//! token-exchange grant.
//!
//! Refresh: the org (403 for a foreign origin), the body, `grant_type` and `refresh_token`; the
//! token opened (any refresh-token key of the org) and checked (org, lifetime, idle time, scope);
//! the monthly quota (429); the candidate child sealed; the one session-shard call, which
//! rotates, repeats a recent child, or detects reuse; the access token signed. Whatever fails
//! after the quota admitted the request takes the admission back first, so a refused or failed
//! refresh is never counted.
//!
//! The token-exchange grant is not a flow yet: once the body is read and its grant known, the
//! flow hands it to the older implementation ([`Effect::OlderExchange`]).

use std::rc::Rc;

use super::opening::{Open, Opened, Opening};
use super::{unexpected, Effect, Outcome, Request, Step};
use crate::api_error::ApiError;
use crate::body::Params;
use crate::exchange::request::GRANT_TYPE;
use crate::family::{shard_name, shard_of, Decision, RefreshCall};
use crate::issuance::{plan_refresh, refresh_outcome, token_body, Issued, RefreshPlan};
use crate::jose::jws;
use crate::limits::Admission;
use crate::org::OrgId;
use crate::org_state::OrgState;
use crate::refresh_token::{self, RefreshPayload};
use crate::reply::{Caching, Cors, Reply};

pub struct Token {
    request: Request,
    state: State,
    opening: Opening,
    org: Option<Rc<OrgState>>,
    cors: Cors,
    params: Option<Params>,
    admission: Option<Admission>,
    plan: Option<RefreshPlan>,
}

enum State {
    Opening,
    Open,
    Admit,
    Seal,
    Shard(RefreshCall),
    /// The refresh token to answer, while the access token is signed.
    Sign {
        refresh_token: String,
        input: String,
        expires_in: u64,
    },
    Refund(Reply),
    Flush(Reply),
    Finished,
}

impl Token {
    pub fn begin(request: Request, org: OrgId) -> (Self, Step) {
        let flow = Self {
            request,
            state: State::Opening,
            opening: Opening::default(),
            org: None,
            cors: Cors::None,
            params: None,
            admission: None,
            plan: None,
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
            (State::Open, Outcome::Opened(plaintext)) => self.token_opened(plaintext),
            (State::Admit, Outcome::Admission(admission)) => self.admitted(admission),
            (State::Seal, Outcome::Sealed(sealed)) => self.sealed(sealed),
            (State::Shard(call), Outcome::Shard(answer)) => self.decided(call, answer),
            (
                State::Sign {
                    refresh_token,
                    input,
                    expires_in,
                },
                Outcome::Signed(signature),
            ) => self.signed(refresh_token, &input, expires_in, signature),
            (State::Refund(reply), Outcome::Done) | (State::Flush(reply), Outcome::Done) => {
                Step::Done(reply)
            }
            _ => unexpected(),
        }
    }

    fn org(&self) -> Option<Rc<OrgState>> {
        self.org.clone()
    }

    fn opened(&mut self, Open { org, cors, params }: Open) -> Step {
        self.cors = cors;
        self.org = Some(org.clone());
        let grant = match params.require("grant_type") {
            Ok(g) => g.to_owned(),
            Err(e) => return self.fail(&e),
        };
        if grant == GRANT_TYPE {
            self.state = State::Finished;
            return Step::Need(Effect::OlderExchange);
        }
        if grant != "refresh_token" {
            return self.fail(&ApiError::UnsupportedGrantType(format!(
                "grant_type {grant} is not supported; supported: refresh_token, {GRANT_TYPE}"
            )));
        }
        let decoded = params
            .require("refresh_token")
            .and_then(refresh_token::decode);
        let (iv, ciphertext) = match decoded {
            Ok(d) => d,
            Err(e) => return self.fail(&e),
        };
        self.params = Some(params);
        self.state = State::Open;
        Step::Need(Effect::Open {
            iv,
            aad: refresh_token::aad(&org.record.id),
            ciphertext,
        })
    }

    fn token_opened(&mut self, plaintext: Option<Vec<u8>>) -> Step {
        let (Some(org), Some(params)) = (self.org(), self.params.as_ref()) else {
            return unexpected();
        };
        let invalid = || ApiError::invalid_grant("refresh token is invalid");
        let planned = plaintext
            .ok_or_else(invalid)
            .and_then(|p| RefreshPayload::from_json(&p))
            .and_then(|old| {
                plan_refresh(
                    &org,
                    params,
                    old,
                    self.request.now(),
                    &self.request.random(),
                )
            });
        match planned {
            Ok(plan) => self.plan = Some(plan),
            Err(e) => return self.fail(&e),
        }
        match org.record.settings.quota() {
            Some(limit) => {
                self.state = State::Admit;
                Step::Need(Effect::Admit { limit })
            }
            None => self.seal(),
        }
    }

    fn admitted(&mut self, admission: Result<Option<Admission>, ApiError>) -> Step {
        match admission {
            Ok(a) => {
                self.admission = a;
                self.seal()
            }
            Err(e) => self.fail(&e),
        }
    }

    fn seal(&mut self) -> Step {
        let Some(plan) = &self.plan else {
            return unexpected();
        };
        self.state = State::Seal;
        Step::Need(Effect::Seal {
            iv: plan.iv,
            aad: plan.aad.clone(),
            plaintext: plan.plaintext.clone(),
        })
    }

    fn sealed(&mut self, sealed: Option<Vec<u8>>) -> Step {
        let (Some(org), Some(plan)) = (self.org(), self.plan.as_ref()) else {
            return unexpected();
        };
        let Some(sealed) = sealed else {
            return self.fail(&ApiError::Internal);
        };
        let call = plan.call(&org, &sealed);
        let Ok(body) = serde_json::to_string(&call) else {
            return self.fail(&ApiError::Internal);
        };
        let shard = shard_name(&org.record.id, shard_of(&org.record.id, &call.sub));
        self.state = State::Shard(call);
        Step::Need(Effect::ShardCall {
            shard,
            op: "refresh",
            body,
        })
    }

    fn decided(&mut self, call: RefreshCall, answer: Option<String>) -> Step {
        let (Some(org), Some(plan)) = (self.org(), self.plan.as_ref()) else {
            return unexpected();
        };
        let Some(answer) = answer else {
            return self.fail(&ApiError::Unavailable("session store unreachable".into()));
        };
        let decided = serde_json::from_str::<Decision>(&answer)
            .map_err(|_| ApiError::Internal)
            .and_then(|decision| refresh_outcome(call, decision))
            .and_then(|refresh_token| {
                let issuer = org.record.issuer(&self.request.issuer_origin);
                let (input, expires_in) = plan.access_signing_input(&org, &issuer)?;
                Ok((refresh_token, input, expires_in))
            });
        match decided {
            Ok((refresh_token, input, expires_in)) => {
                self.state = State::Sign {
                    refresh_token,
                    input: input.clone(),
                    expires_in,
                };
                Step::Need(Effect::Sign { input })
            }
            Err(e) => self.fail(&e),
        }
    }

    fn signed(
        &mut self,
        refresh_token: String,
        input: &str,
        expires_in: u64,
        signature: Option<[u8; 64]>,
    ) -> Step {
        let Some(plan) = &self.plan else {
            return unexpected();
        };
        let Some(signature) = signature else {
            return self.fail(&ApiError::Internal);
        };
        let issued = Issued {
            access_token: jws::assemble(input, &signature),
            expires_in,
            refresh_token,
        };
        let body = token_body(&issued, &plan.next, &plan.granted, None);
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
