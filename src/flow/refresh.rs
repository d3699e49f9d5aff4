//! The refresh-token grant (RFC 6749 §6) of `POST /orgs/{org}/token`, from an open request: the
//! token opened (any refresh-token key of the org) and checked (org, lifetime, idle time, scope);
//! the monthly quota (429); the candidate child sealed; the one session-shard call, which
//! rotates, repeats a recent child, or detects reuse; the access token signed. The quota is asked
//! only once everything that can be checked without the shard passed, and taken back on any
//! failure after it (reuse, revocation, an unreachable shard, WebCrypto).

use std::rc::Rc;

use super::issuing::{Closing, Metered};
use super::opening::Open;
use super::{unexpected, Effect, Outcome, Request, Step};
use crate::api_error::ApiError;
use crate::body::Params;
use crate::family::{shard_name, shard_of, Decision, RefreshCall};
use crate::issuance::{plan_refresh, refresh_outcome, token_body, Issued, RefreshPlan};
use crate::jose::jws;
use crate::org_state::OrgState;
use crate::refresh_token::{self, RefreshPayload};
use crate::reply::Reply;

pub struct Refresh {
    org: Rc<OrgState>,
    params: Params,
    metered: Metered,
    state: State,
}

enum State {
    Open,
    Admit(Box<RefreshPlan>),
    Seal(Box<RefreshPlan>),
    Shard(Box<(RefreshPlan, RefreshCall)>),
    /// The refresh token to answer and the access token's signing input and lifetime, while it
    /// is signed.
    Sign(Box<(RefreshPlan, String, String, u64)>),
    Closing(Reply),
    Finished,
}

impl Refresh {
    /// The grant of an open request: its refresh token decoded (400 otherwise), then opened.
    pub fn begin(open: Open) -> (Self, Step) {
        let Open {
            org, cors, params, ..
        } = open;
        let decoded = params
            .require("refresh_token")
            .and_then(refresh_token::decode);
        let mut flow = Self {
            org: org.clone(),
            params,
            metered: Metered::new(cors),
            state: State::Open,
        };
        let step = match decoded {
            Ok((iv, ciphertext)) => Step::Need(Effect::Open {
                iv,
                aad: refresh_token::aad(&org.record.id),
                ciphertext,
            }),
            Err(e) => flow.fail(&e),
        };
        (flow, step)
    }

    pub fn resume(&mut self, request: &Request, outcome: Outcome) -> Step {
        match (std::mem::replace(&mut self.state, State::Finished), outcome) {
            (State::Open, Outcome::Opened(plaintext)) => self.opened(request, plaintext),
            (State::Admit(plan), Outcome::Admission(admission)) => {
                match self.metered.admitted(admission) {
                    None => self.seal(plan),
                    Some(closing) => self.close(closing),
                }
            }
            (State::Seal(plan), Outcome::Sealed(sealed)) => self.sealed(*plan, sealed),
            (State::Shard(pending), Outcome::Shard(answer)) => {
                let (plan, call) = *pending;
                self.decided(request, plan, call, answer)
            }
            (State::Sign(pending), Outcome::Signed(signature)) => {
                let (plan, refresh_token, input, expires_in) = *pending;
                self.signed(&plan, refresh_token, &input, expires_in, signature)
            }
            (State::Closing(reply), Outcome::Done) => Step::Done(reply),
            _ => unexpected(),
        }
    }

    fn opened(&mut self, request: &Request, plaintext: Option<Vec<u8>>) -> Step {
        let planned = plaintext
            .ok_or_else(|| ApiError::invalid_grant("refresh token is invalid"))
            .and_then(|p| RefreshPayload::from_json(&p))
            .and_then(|old| {
                plan_refresh(
                    &self.org,
                    &self.params,
                    old,
                    request.now(),
                    &request.random(),
                )
            });
        let plan = match planned {
            Ok(plan) => Box::new(plan),
            Err(e) => return self.fail(&e),
        };
        match Metered::admit(&self.org) {
            Some(effect) => {
                self.state = State::Admit(plan);
                Step::Need(effect)
            }
            None => self.seal(plan),
        }
    }

    /// The candidate child, sealed for the shard to store.
    fn seal(&mut self, plan: Box<RefreshPlan>) -> Step {
        let effect = Effect::Seal {
            iv: plan.iv,
            aad: plan.aad.clone(),
            plaintext: plan.plaintext.clone(),
        };
        self.state = State::Seal(plan);
        Step::Need(effect)
    }

    fn sealed(&mut self, plan: RefreshPlan, sealed: Option<Vec<u8>>) -> Step {
        let Some(sealed) = sealed else {
            return self.fail(&ApiError::Internal);
        };
        let call = plan.call(&self.org, &sealed);
        let Ok(body) = serde_json::to_string(&call) else {
            return self.fail(&ApiError::Internal);
        };
        let org = &self.org.record.id;
        let shard = shard_name(org, shard_of(org, &call.sub));
        self.state = State::Shard(Box::new((plan, call)));
        Step::Need(Effect::ShardCall {
            shard,
            op: "refresh",
            body,
        })
    }

    fn decided(
        &mut self,
        request: &Request,
        plan: RefreshPlan,
        call: RefreshCall,
        answer: Option<String>,
    ) -> Step {
        let Some(answer) = answer else {
            return self.fail(&ApiError::Unavailable("session store unreachable".into()));
        };
        let issuer = self.org.record.issuer(&request.issuer_origin);
        let decided = serde_json::from_str::<Decision>(&answer)
            .map_err(|_| ApiError::Internal)
            .and_then(|decision| refresh_outcome(call, decision))
            .and_then(|refresh_token| {
                let (input, expires_in) = plan.access_signing_input(&self.org, &issuer)?;
                Ok((refresh_token, input, expires_in))
            });
        match decided {
            Ok((refresh_token, input, expires_in)) => {
                let effect = Effect::Sign {
                    input: input.clone(),
                };
                self.state = State::Sign(Box::new((plan, refresh_token, input, expires_in)));
                Step::Need(effect)
            }
            Err(e) => self.fail(&e),
        }
    }

    fn signed(
        &mut self,
        plan: &RefreshPlan,
        refresh_token: String,
        input: &str,
        expires_in: u64,
        signature: Option<[u8; 64]>,
    ) -> Step {
        let Some(signature) = signature else {
            return self.fail(&ApiError::Internal);
        };
        let issued = Issued {
            access_token: jws::assemble(input, &signature),
            expires_in,
            refresh_token,
        };
        let body = token_body(&issued, &plan.next, &plan.granted, None);
        self.close(self.metered.issued(body))
    }

    fn fail(&mut self, e: &ApiError) -> Step {
        let closing = self.metered.fail(e);
        self.close(closing)
    }

    fn close(&mut self, closing: Closing) -> Step {
        closing.step(&mut self.state, State::Closing)
    }
}
