//! What every issuing flow (anonymous session, refresh, exchange) shares once its request is
//! open: the CORS decision its answers carry, the admission under the org's monthly quota, and a
//! new session's signing and sealing.
//!
//! A failure after the admission takes it back first ([`Effect::Refund`]), so a request that
//! issued nothing is never counted, and nothing is counted twice; tokens issued under a quota are
//! followed by [`Effect::Flush`]. The quota headers go on successes only.

use super::{Effect, Step};
use crate::api_error::ApiError;
use crate::issuance::{token_body, Prepared};
use crate::limits::Admission;
use crate::org_state::OrgState;
use crate::reply::{Caching, Cors, Reply};

#[derive(Default)]
pub struct Metered {
    pub cors: Cors,
    pub admission: Option<Admission>,
}

/// How a flow ends: with this reply now, or after one more effect (a refund or a flush).
pub enum Closing {
    Now(Reply),
    After(Effect, Reply),
}

impl Closing {
    /// The step to take; a reply that waits for its effect goes into `state` as
    /// `waiting(reply)`, for the flow to answer once the effect is done.
    pub fn step<S>(self, state: &mut S, waiting: fn(Reply) -> S) -> Step {
        match self {
            Self::Now(reply) => Step::Done(reply),
            Self::After(effect, reply) => {
                *state = waiting(reply);
                Step::Need(effect)
            }
        }
    }
}

impl Metered {
    pub fn new(cors: Cors) -> Self {
        Self {
            cors,
            admission: None,
        }
    }

    /// The admission to ask for: `None` for an org without a quota.
    pub fn admit(org: &OrgState) -> Option<Effect> {
        org.record
            .settings
            .quota()
            .map(|limit| Effect::Admit { limit })
    }

    /// The admission's outcome: `None` when counted (or not limited after all), else how the
    /// flow ends (the 429).
    pub fn admitted(&mut self, admission: Result<Option<Admission>, ApiError>) -> Option<Closing> {
        match admission {
            Ok(a) => {
                self.admission = a;
                None
            }
            Err(e) => Some(self.fail(&e)),
        }
    }

    /// Answers `e`, shared with the request's origin; an admission is taken back first.
    pub fn fail(&mut self, e: &ApiError) -> Closing {
        let reply = Reply::error(e).shared(&self.cors);
        if self.admission.take().is_some() {
            return Closing::After(Effect::Refund, reply);
        }
        Closing::Now(reply)
    }

    /// Answers the token response `body`, with the quota headers; usage is flushed first when
    /// the request was counted.
    pub fn issued(&self, body: String) -> Closing {
        let reply = Reply::json(200, body, Caching::NoStore)
            .shared(&self.cors)
            .with_quota(self.admission.as_ref());
        if self.admission.is_some() {
            return Closing::After(Effect::Flush, reply);
        }
        Closing::Now(reply)
    }
}

/// The effect that signs a new session's access token and seals its first refresh token.
pub fn sign_and_seal(prepared: &Prepared) -> Effect {
    Effect::SignAndSeal {
        input: prepared.signing_input.clone(),
        iv: prepared.iv,
        aad: prepared.aad.clone(),
        plaintext: prepared.plaintext.clone(),
    }
}

/// The token response of a new session, from its signature and sealed refresh token (`None`:
/// WebCrypto failed); with `issued_token_type` for a token exchange.
pub fn start_body(
    prepared: Prepared,
    done: Option<([u8; 64], Vec<u8>)>,
    issued_token_type: Option<&str>,
) -> Result<String, ApiError> {
    let (signature, sealed) = done.ok_or(ApiError::Internal)?;
    let (issued, session) = prepared.finish(&signature, &sealed);
    Ok(token_body(
        &issued,
        &session,
        &session.scope,
        issued_token_type,
    ))
}
