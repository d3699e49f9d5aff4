//! The token-exchange grant (RFC 8693) of `POST /orgs/{org}/token`, from an open request.
//!
//! Steps: the request's parameters (400); the provider the subject token claims (400) and the
//! token's shape for it (`invalid_grant`); the provider's verification key (cached, fetched, or
//! its HS256 secret: [`Effect::UpstreamKey`]) and the signature ([`Effect::Verify`]); the claims
//! (issuer, audience, times); with an `actor_token`, that token (one of ours: its signature, then
//! the one session-shard call for its revocation state), which makes the exchange an upgrade of
//! an anonymous session or a delegation; the session's scope, audiences and mapped claims; the
//! monthly quota (429); one signature and one seal. The quota is asked only once every check
//! passed, and taken back if signing fails.

use std::rc::Rc;

use super::issuing::{sign_and_seal, start_body, Closing, Metered};
use super::opening::Open;
use super::{unexpected, Effect, Outcome, Request, Step};
use crate::api_error::ApiError;
use crate::body::Params;
use crate::exchange::actor::{self, ActorLink, PresentedActor};
use crate::exchange::grant::{exchanged_session, provider_of, ExchangedStart};
use crate::exchange::request::{ExchangeRequest, TOKEN_TYPE_ACCESS_TOKEN};
use crate::exchange::subject_token::{self, rejected, UpstreamIdentity};
use crate::family::{check_answer, check_request};
use crate::issuance::{prepare_start, Prepared, SessionStart};
use crate::jose::jws::ParsedJws;
use crate::jose::JoseError;
use crate::org_state::OrgState;
use crate::reply::Reply;

pub struct Exchange {
    org: Rc<OrgState>,
    params: Params,
    metered: Metered,
    /// The provider the subject token claims, by id.
    provider: String,
    state: State,
}

enum State {
    Key(Box<ParsedJws>),
    Verify(Box<ParsedJws>),
    ActorSignature(Box<(UpstreamIdentity, PresentedActor)>),
    ActorRevocation(Box<(UpstreamIdentity, ActorLink)>),
    Admit(Box<Prepared>),
    SignAndSeal(Box<Prepared>),
    Closing(Reply),
    Finished,
}

impl Exchange {
    /// The grant of an open request: its parameters and subject token checked for shape, then
    /// the provider's key asked for.
    pub fn begin(open: Open) -> (Self, Step) {
        let Open {
            org, cors, params, ..
        } = open;
        let mut flow = Self {
            org,
            params,
            metered: Metered::new(cors),
            provider: String::new(),
            state: State::Finished,
        };
        let step = match flow.subject_token() {
            Ok((provider, parsed)) => {
                let effect = Effect::UpstreamKey {
                    provider: provider.clone(),
                    alg: parsed.header().alg,
                    kid: parsed.header().kid.clone(),
                };
                flow.provider = provider;
                flow.state = State::Key(Box::new(parsed));
                Step::Need(effect)
            }
            Err(e) => flow.fail(&e),
        };
        (flow, step)
    }

    /// The provider the subject token claims, and the token parsed for it.
    fn subject_token(&self) -> Result<(String, ParsedJws), ApiError> {
        let req = ExchangeRequest::parse(&self.params)?;
        let provider = provider_of(&self.org, &req)?;
        let parsed = subject_token::parse(req.subject_token, &provider.settings)?;
        Ok((provider.id.clone(), parsed))
    }

    pub fn resume(&mut self, request: &Request, outcome: Outcome) -> Step {
        match (std::mem::replace(&mut self.state, State::Finished), outcome) {
            (State::Key(parsed), Outcome::KeyReady(ready)) => match ready {
                Ok(()) => {
                    let effect = Effect::Verify {
                        alg: parsed.header().alg,
                        signature: parsed.signature().to_vec(),
                        input: parsed.signing_input().to_owned(),
                    };
                    self.state = State::Verify(parsed);
                    Step::Need(effect)
                }
                Err(e) => self.fail(&e),
            },
            (State::Verify(parsed), Outcome::Verified(valid)) => {
                self.subject_verified(request, *parsed, valid)
            }
            (State::ActorSignature(pending), Outcome::Verified(valid)) => {
                let (identity, actor) = *pending;
                self.actor_verified(request, identity, actor, valid)
            }
            (State::ActorRevocation(pending), Outcome::Shard(answer)) => {
                let (identity, link) = *pending;
                match answer.as_deref().and_then(check_answer) {
                    Some(true) => self.prepare(request, identity, Some(link)),
                    Some(false) => self.fail(&actor::revoked()),
                    None => self.fail(&ApiError::Unavailable("session store unreachable".into())),
                }
            }
            (State::Admit(prepared), Outcome::Admission(admission)) => {
                match self.metered.admitted(admission) {
                    None => self.sign(prepared),
                    Some(closing) => self.close(closing),
                }
            }
            (State::SignAndSeal(prepared), Outcome::SignedAndSealed(done)) => {
                match start_body(*prepared, done, Some(TOKEN_TYPE_ACCESS_TOKEN)) {
                    Ok(body) => self.close(self.metered.issued(body)),
                    Err(e) => self.fail(&e),
                }
            }
            (State::Closing(reply), Outcome::Done) => Step::Done(reply),
            _ => unexpected(),
        }
    }

    fn subject_verified(
        &mut self,
        request: &Request,
        parsed: ParsedJws,
        valid: Option<bool>,
    ) -> Step {
        match valid {
            Some(true) => {}
            Some(false) => return self.fail(&rejected(JoseError::InvalidSignature)),
            None => return self.fail(&ApiError::Internal),
        }
        let Some(provider) = self.org.provider(&self.provider) else {
            return unexpected();
        };
        let identity =
            match subject_token::validate(parsed.into_payload(), &provider.settings, request.now())
            {
                Ok(identity) => identity,
                Err(e) => return self.fail(&e),
            };
        let actor_token = match ExchangeRequest::parse(&self.params) {
            Ok(req) => req.actor_token.map(str::to_owned),
            Err(e) => return self.fail(&e),
        };
        let Some(token) = actor_token else {
            return self.prepare(request, identity, None);
        };
        match PresentedActor::parse(&token, &self.org.own_jwks) {
            Ok(actor) => {
                let effect = Effect::VerifyOwn {
                    public_key: actor.public_key,
                    signature: actor.signature().to_vec(),
                    input: actor.signing_input().to_owned(),
                };
                self.state = State::ActorSignature(Box::new((identity, actor)));
                Step::Need(effect)
            }
            Err(e) => self.fail(&e),
        }
    }

    fn actor_verified(
        &mut self,
        request: &Request,
        identity: UpstreamIdentity,
        actor: PresentedActor,
        valid: Option<bool>,
    ) -> Step {
        match valid {
            Some(true) => {}
            Some(false) => return self.fail(&actor::bad_signature()),
            None => return self.fail(&ApiError::Internal),
        }
        let issuer = self.org.record.issuer(&request.issuer_origin);
        let checked = actor
            .link(&issuer, request.now())
            .and_then(|(link, facts)| Ok((link, check_request(&self.org.record.id, facts, None)?)));
        match checked {
            Ok((link, (shard, body))) => {
                self.state = State::ActorRevocation(Box::new((identity, link)));
                Step::Need(Effect::ShardCall {
                    shard,
                    op: "check",
                    body,
                })
            }
            Err(e) => self.fail(&e),
        }
    }

    fn prepare(
        &mut self,
        request: &Request,
        identity: UpstreamIdentity,
        link: Option<ActorLink>,
    ) -> Step {
        let org = self.org.clone();
        let Some(provider) = org.provider(&self.provider) else {
            return unexpected();
        };
        let link = match link {
            None => (None, None),
            Some(ActorLink::Upgrade { anonymous_sub }) => (Some(anonymous_sub), None),
            Some(ActorLink::Delegation { act }) => (None, Some(act)),
        };
        let issuer = org.record.issuer(&request.issuer_origin);
        let prepared = ExchangeRequest::parse(&self.params)
            .and_then(|req| exchanged_session(&org, &req, provider, identity, &issuer, link))
            .and_then(|start| {
                let ExchangedStart {
                    subject,
                    scope,
                    exchanged,
                } = start;
                let session = SessionStart {
                    subject: Some(&subject),
                    scope: &scope,
                    device_id: None,
                    exchanged: Some(exchanged),
                };
                prepare_start(&org, &issuer, session, request.now(), &request.random())
            });
        let prepared = match prepared {
            Ok(p) => Box::new(p),
            Err(e) => return self.fail(&e),
        };
        match Metered::admit(&org) {
            Some(effect) => {
                self.state = State::Admit(prepared);
                Step::Need(effect)
            }
            None => self.sign(prepared),
        }
    }

    fn sign(&mut self, prepared: Box<Prepared>) -> Step {
        let effect = sign_and_seal(&prepared);
        self.state = State::SignAndSeal(prepared);
        Step::Need(effect)
    }

    fn fail(&mut self, e: &ApiError) -> Step {
        let closing = self.metered.fail(e);
        self.close(closing)
    }

    fn close(&mut self, closing: Closing) -> Step {
        closing.step(&mut self.state, State::Closing)
    }
}
