//! `POST /orgs/{org}/sessions/anonymous`: a new anonymous session.
//!
//! Steps: the org (403 for an origin it does not allow), the body (413, 415, 400), the org's
//! rules (anonymous sessions on, a valid `device_id`), the per-IP limit (429), the monthly quota
//! (429), then one signature and one seal, and the token response. Whatever fails after the quota
//! admitted the request takes the admission back first: only issued tokens count, once.

use std::rc::Rc;

use super::issuing::{sign_and_seal, start_body, Closing, Metered};
use super::opening::{Open, Opening};
use super::{unexpected, Effect, Outcome, Request, Step};
use crate::api_error::ApiError;
use crate::issuance::{anonymous_device, prepare_start, Prepared, SessionStart};
use crate::limits::{AnonymousRateLimit, RATE_PERIOD_SECS};
use crate::org::OrgId;
use crate::org_state::OrgState;
use crate::reply::Reply;

pub struct AnonymousSession {
    request: Request,
    state: State,
    opening: Opening,
    org: Option<Rc<OrgState>>,
    metered: Metered,
    device_id: Option<String>,
}

enum State {
    Opening,
    Limit,
    Admit,
    SignAndSeal(Box<Prepared>),
    /// A refund or a flush is being done; then this answer.
    Closing(Reply),
    Finished,
}

impl AnonymousSession {
    pub fn begin(request: Request, org: OrgId) -> (Self, Step) {
        let flow = Self {
            request,
            state: State::Opening,
            opening: Opening::default(),
            org: None,
            metered: Metered::default(),
            device_id: None,
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
            (State::Limit, Outcome::Limit(allowed)) => self.limited(allowed),
            (State::Admit, Outcome::Admission(admission)) => {
                match self.metered.admitted(admission) {
                    None => self.prepare(),
                    Some(closing) => self.close(closing),
                }
            }
            (State::SignAndSeal(prepared), Outcome::SignedAndSealed(done)) => {
                match start_body(*prepared, done, None) {
                    Ok(body) => self.close(self.metered.issued(body)),
                    Err(e) => self.fail(&e),
                }
            }
            (State::Closing(reply), Outcome::Done) => Step::Done(reply),
            _ => unexpected(),
        }
    }

    fn opened(
        &mut self,
        Open {
            org, cors, params, ..
        }: Open,
    ) -> Step {
        self.metered = Metered::new(cors);
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
        match Metered::admit(org) {
            Some(effect) => {
                self.state = State::Admit;
                Step::Need(effect)
            }
            None => self.prepare(),
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
                let effect = sign_and_seal(&prepared);
                self.state = State::SignAndSeal(Box::new(prepared));
                Step::Need(effect)
            }
            Err(e) => self.fail(&e),
        }
    }

    fn fail(&mut self, e: &ApiError) -> Step {
        let closing = self.metered.fail(e);
        self.close(closing)
    }

    fn close(&mut self, closing: Closing) -> Step {
        closing.step(&mut self.state, State::Closing)
    }
}

/// The per-IP limiter's key of a new anonymous session: the org and the client's network. An
/// IPv6 client is keyed by its /64, which one subscriber is typically given whole (a limit per
/// address would be a limit per 2^64 addresses); an IPv4 client by its address.
fn anonymous_rate_key(org: &OrgId, ip: Option<&str>) -> String {
    let network = match ip.map(|ip| (ip, ip.parse::<std::net::Ipv6Addr>())) {
        Some((_, Ok(v6))) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some((ip, Err(_))) => ip.to_owned(),
        None => "unknown".to_owned(),
    };
    format!("{}:{network}", org.as_str())
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

#[cfg(test)]
mod tests {
    use super::anonymous_rate_key;
    use crate::org::OrgId;

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let org = OrgId::parse("acme").unwrap();
        let key = |ip| anonymous_rate_key(&org, Some(ip));
        assert_eq!(key("2001:db8:1:2::1"), "acme:2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:0:0:9"), key("2001:db8:1:2::1"));
        assert_eq!(key("2001:0DB8:0001:0002:0:0:0:1"), key("2001:db8:1:2::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("203.0.113.7"), "acme:203.0.113.7");
        assert_eq!(anonymous_rate_key(&org, None), "acme:unknown");
    }
}
