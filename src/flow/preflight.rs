//! `OPTIONS` on a public endpoint: a CORS preflight. The documents are shared with any origin;
//! an org endpoint answers an origin the org allows (403 otherwise: the same rule as its own
//! requests, `opening`), and a preflight without `Origin` gets the answer without sharing.

use super::opening::org_cors;
use super::{unexpected, Effect, Outcome, Request, Step};
use crate::org::OrgId;
use crate::reply::{Cors, Reply};

pub struct Preflight {
    origin: Option<String>,
    answered: bool,
}

impl Preflight {
    /// The preflight of a document (`documents`), or of an org endpoint.
    pub fn begin(request: Request, org: OrgId, document: bool) -> (Self, Step) {
        let flow = Self {
            origin: request.origin,
            answered: false,
        };
        let step = match (&flow.origin, document) {
            (_, true) => Step::Done(Reply::preflight().shared(&Cors::Any)),
            (None, false) => Step::Done(Reply::preflight()),
            (Some(_), false) => Step::Need(Effect::LoadOrg(org)),
        };
        (flow, step)
    }

    pub fn resume(&mut self, outcome: Outcome) -> Step {
        let Outcome::Org(org) = outcome else {
            return unexpected();
        };
        if std::mem::replace(&mut self.answered, true) {
            return unexpected();
        }
        Step::Done(
            match org.and_then(|org| org_cors(&org, self.origin.as_deref())) {
                Ok(cors) => Reply::preflight().shared(&cors),
                Err(e) => Reply::error(&e),
            },
        )
    }
}
