//! `POST /orgs/{org}/revoke` (RFC 7009): a client takes back its own token, unauthenticated.
//! A refresh token revokes its whole session (sign-out); an access token this worker issued for
//! the org revokes that token. Either is written to the subject's session shard, where every
//! refresh and introspection of it looks. The answer is 200 with an empty body whatever was
//! presented (RFC 7009 §2.2: an invalid, expired or already revoked token too); only a failure to
//! record a revocation is an error.

use std::rc::Rc;

use super::opening::{Open, Opening};
use super::presented::{presented, Presented};
use super::{unexpected, Effect, Outcome, Request, Step};
use crate::api_error::ApiError;
use crate::family::{shard_name, shard_of, RevokeCall};
use crate::introspection::{Candidate, Vouched};
use crate::org::OrgId;
use crate::org_state::OrgState;
use crate::refresh_token::RefreshPayload;
use crate::reply::{Cors, Reply};
use crate::revocation::Revocation;

pub struct RevokeOwn {
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
    Record,
    Finished,
}

impl RevokeOwn {
    pub fn begin(request: Request, org: OrgId) -> (Self, Step) {
        let flow = Self {
            request,
            opening: Opening::default(),
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
            (State::Record, Outcome::Shard(answer)) => match answer {
                Some(_) => self.revoked(),
                None => Step::Done(
                    Reply::error(&ApiError::Unavailable("session store unreachable".into()))
                        .shared(&self.cors),
                ),
            },
            _ => unexpected(),
        }
    }

    fn opened(&mut self, open: Open) -> Step {
        let Open {
            org, cors, params, ..
        } = open;
        self.cors = cors;
        self.org = Some(org.clone());
        let token = match params.require("token") {
            Ok(t) => t,
            Err(e) => return Step::Done(Reply::error(&e).shared(&self.cors)),
        };
        // Only the org's own access tokens: org keys' tokens are revoked through their key.
        match presented(&org, token, &[]) {
            Presented::Refresh(effect) => {
                self.state = State::Open;
                Step::Need(effect)
            }
            Presented::Signed(candidate, effect) => {
                self.state = State::Verify(candidate);
                Step::Need(effect)
            }
            Presented::Neither => self.revoked(),
        }
    }

    fn refresh_opened(&mut self, plaintext: Option<Vec<u8>>) -> Step {
        let Some(org) = self.org.clone() else {
            return unexpected();
        };
        let now = self.request.now();
        let session = plaintext
            .and_then(|p| RefreshPayload::from_json(&p).ok())
            .filter(|s| s.check(&org.record.id, now).is_ok());
        match session {
            Some(s) => self.record(&org, &s.sub, Revocation::session(&s.sid, now, Some(s.exp))),
            None => self.revoked(),
        }
    }

    fn access_verified(&mut self, candidate: Candidate, valid: Option<bool>) -> Step {
        let Some(org) = self.org.clone() else {
            return unexpected();
        };
        if valid != Some(true) {
            return self.revoked();
        }
        let issuer = org.record.issuer(&self.request.issuer_origin);
        let now = self.request.now();
        match candidate.vouch_verified(&[], &issuer, now) {
            Some(Vouched { claims, facts }) => match &facts.jti {
                Some(jti) => {
                    let exp = claims.get("exp").and_then(serde_json::Value::as_u64);
                    self.record(&org, &facts.sub, Revocation::token(jti, now, exp))
                }
                None => self.revoked(),
            },
            None => self.revoked(),
        }
    }

    /// Writes `revocation` to the shard of `sub`.
    fn record(&mut self, org: &OrgState, sub: &str, revocation: Revocation) -> Step {
        let Ok(body) = serde_json::to_string(&RevokeCall { revocation }) else {
            return Step::Done(Reply::error(&ApiError::Internal).shared(&self.cors));
        };
        self.state = State::Record;
        Step::Need(Effect::ShardCall {
            shard: shard_name(&org.record.id, shard_of(&org.record.id, sub)),
            op: "revoke",
            body,
        })
    }

    /// RFC 7009's answer: 200, empty, not to be stored.
    fn revoked(&self) -> Step {
        Step::Done(Reply::empty(200).shared(&self.cors))
    }
}
