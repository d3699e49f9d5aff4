//! `POST /orgs/{org}/introspect` (RFC 7662), for an org's servers: the caller authenticated (an
//! org key credential with `tokens:introspect`, or the operator token) as the request opens, then
//! the token.
//!
//! - A refresh token is active while its session lives, is not revoked, and it is the newest of
//!   its family: opened, checked, then the subject's shard's `check` with its generation.
//! - An access token this worker issued for the org, or one an org server minted with an active
//!   org key: its signature, its times and audience, then the shard's `check`.
//! - Anything else is `{"active": false}` and nothing more: the answer never says why.
//!
//! A caller of another org is refused as the credential it is (401 `invalid_token`, RFC 7662
//! §2.1, RFC 6750 §3): the endpoint exists, this caller may not use it.

use std::rc::Rc;

use super::opening::{Open, Opening};
use super::presented::{presented, Presented};
use super::{unexpected, Effect, Outcome, Request, Step};
use crate::admin_scope::AdminScope;
use crate::api_error::ApiError;
use crate::family::{check_answer, check_request};
use crate::introspection::{active, inactive, refresh_claims, Candidate, Vouched};
use crate::org::OrgId;
use crate::org_state::OrgState;
use crate::principal::Principal;
use crate::refresh_token::RefreshPayload;
use crate::reply::{Caching, Cors, Reply};
use crate::revocation::TokenFacts;

pub struct Introspection {
    request: Request,
    opening: Opening,
    org: Option<Rc<OrgState>>,
    cors: Cors,
    state: State,
}

enum State {
    Opening,
    Open,
    Verify(Box<Candidate>),
    /// The shard's check; then the claims and token type of the active answer.
    Check(Box<(serde_json::Map<String, serde_json::Value>, &'static str)>),
    Finished,
}

impl Introspection {
    pub fn begin(request: Request, org: OrgId) -> (Self, Step) {
        let flow = Self {
            request,
            opening: Opening::authenticating(),
            org: None,
            cors: Cors::None,
            state: State::Opening,
        };
        (flow, Step::Need(Opening::first(org)))
    }

    pub fn resume(&mut self, outcome: Outcome) -> Step {
        match (std::mem::replace(&mut self.state, State::Finished), outcome) {
            (State::Opening, outcome) => match self.opening.advance(&self.request, outcome) {
                Ok(open) => self.opened(open),
                Err(step) => {
                    self.state = State::Opening;
                    step
                }
            },
            (State::Open, Outcome::Opened(plaintext)) => self.refresh_opened(plaintext),
            (State::Verify(candidate), Outcome::Verified(valid)) => {
                self.access_verified(*candidate, valid)
            }
            (State::Check(pending), Outcome::Shard(answer)) => {
                let (claims, token_type) = *pending;
                match answer.as_deref().and_then(check_answer) {
                    Some(true) => self.answer(active(&claims, token_type)),
                    Some(false) => self.answer(inactive()),
                    None => self.fail(&ApiError::Unavailable("session store unreachable".into())),
                }
            }
            _ => unexpected(),
        }
    }

    fn opened(&mut self, open: Open) -> Step {
        let Open {
            org,
            cors,
            params,
            caller,
        } = open;
        self.cors = cors;
        self.org = Some(org.clone());
        let Some(caller) = caller else {
            return unexpected();
        };
        if let Err(e) = allowed(&caller, &org.record.id) {
            return self.fail(&e);
        }
        let token = match params.require("token") {
            Ok(t) => t,
            Err(e) => return self.fail(&e),
        };
        match presented(&org, token, &org.org_keys) {
            Presented::Refresh(effect) => {
                self.state = State::Open;
                Step::Need(effect)
            }
            Presented::Signed(candidate, effect) => {
                self.state = State::Verify(candidate);
                Step::Need(effect)
            }
            Presented::Neither => self.answer(inactive()),
        }
    }

    fn refresh_opened(&mut self, plaintext: Option<Vec<u8>>) -> Step {
        let Some(org) = self.org.clone() else {
            return unexpected();
        };
        let now = self.request.now();
        let session = plaintext.and_then(|p| RefreshPayload::from_json(&p).ok());
        let usable = session.filter(|s| {
            s.check(&org.record.id, now).is_ok()
                && s.check_idle(now, org.record.settings.session_idle_ttl_secs)
                    .is_ok()
        });
        let Some(session) = usable else {
            return self.answer(inactive());
        };
        let facts = TokenFacts {
            sub: session.sub.clone(),
            sid: Some(session.sid.clone()),
            issued_at: session.auth_time,
            ..TokenFacts::default()
        };
        let issuer = org.record.issuer(&self.request.issuer_origin);
        let claims = refresh_claims(&session, &issuer);
        self.check(
            &org,
            facts,
            Some(session.generation),
            claims,
            "refresh_token",
        )
    }

    fn access_verified(&mut self, candidate: Candidate, valid: Option<bool>) -> Step {
        let Some(org) = self.org.clone() else {
            return unexpected();
        };
        if valid != Some(true) {
            return self.answer(inactive());
        }
        let issuer = org.record.issuer(&self.request.issuer_origin);
        match candidate.vouch_verified(&org.org_keys, &issuer, self.request.now()) {
            Some(Vouched { claims, facts }) => self.check(&org, facts, None, claims, "Bearer"),
            None => self.answer(inactive()),
        }
    }

    /// The subject's shard's revocation check; active with `claims` if it passes.
    fn check(
        &mut self,
        org: &OrgState,
        facts: TokenFacts,
        generation: Option<u32>,
        claims: serde_json::Map<String, serde_json::Value>,
        token_type: &'static str,
    ) -> Step {
        match check_request(&org.record.id, facts, generation) {
            Ok((shard, body)) => {
                self.state = State::Check(Box::new((claims, token_type)));
                Step::Need(Effect::ShardCall {
                    shard,
                    op: "check",
                    body,
                })
            }
            Err(e) => self.fail(&e),
        }
    }

    fn answer(&self, body: serde_json::Value) -> Step {
        Step::Done(Reply::json(200, body.to_string(), Caching::NoStore).shared(&self.cors))
    }

    fn fail(&self, e: &ApiError) -> Step {
        Step::Done(Reply::error(e).shared(&self.cors))
    }
}

/// May `caller` introspect tokens of `org`? An org key of another org is refused as an invalid
/// credential for this endpoint (401), not as a missing object (404).
fn allowed(caller: &Principal, org: &OrgId) -> Result<(), ApiError> {
    match caller.authorize(org, AdminScope::TokensIntrospect) {
        Err(ApiError::NotFound) => Err(ApiError::InvalidToken(
            "invalid credential: it is not for this org".into(),
        )),
        other => other,
    }
}
