//! The org's public documents: `GET …/.well-known/jwks.json` and the RFC 8414 metadata. Cacheable
//! (`Cache-Control: public`) and readable from any origin; a warm isolate answers them from the
//! org it holds, with no storage read.

use std::rc::Rc;

use super::{unexpected, Effect, Outcome, Request, Step};
use crate::api_error::ApiError;
use crate::discovery;
use crate::org::OrgId;
use crate::org_state::OrgState;
use crate::reply::{Caching, Cors, Reply};
use crate::route::Endpoint;
use crate::scope_set::ScopeSet;
use crate::signing_key::PREPUBLISH_SECS;

/// Verifiers and the edge may cache these as long as a new key is published before it signs, so a
/// cached JWKS never lacks the key of a token it is asked to verify.
pub const CACHING: Caching = Caching::Public {
    max_age: PREPUBLISH_SECS as u32,
};

pub struct Document {
    kind: Kind,
    issuer_origin: String,
    answered: bool,
}

enum Kind {
    Jwks,
    Metadata,
}

impl Document {
    pub fn begin(request: Request, endpoint: &Endpoint, org: OrgId) -> (Self, Step) {
        let kind = match endpoint {
            Endpoint::Jwks => Kind::Jwks,
            _ => Kind::Metadata,
        };
        let flow = Self {
            kind,
            issuer_origin: request.issuer_origin,
            answered: false,
        };
        (flow, Step::Need(Effect::LoadOrg(org)))
    }

    pub fn resume(&mut self, outcome: Outcome) -> Step {
        let Outcome::Org(org) = outcome else {
            return unexpected();
        };
        if std::mem::replace(&mut self.answered, true) {
            return unexpected();
        }
        Step::Done(match org {
            Ok(org) => {
                let body = match self.kind {
                    Kind::Jwks => org.jwks_json.clone(),
                    Kind::Metadata => metadata(&org, &org.record.issuer(&self.issuer_origin)),
                };
                Reply::json(200, body, CACHING).shared(&Cors::Any)
            }
            Err(e) => error(&e),
        })
    }
}

/// Errors of the documents are shared with any origin too, like the documents.
fn error(e: &ApiError) -> Reply {
    Reply::error(e).shared(&Cors::Any)
}

/// The org's RFC 8414 metadata: its endpoints and every scope a token of the org can carry (the
/// anonymous scope and what its providers allow).
pub fn metadata(org: &Rc<OrgState>, issuer: &str) -> String {
    let all = std::iter::once(org.record.settings.anonymous_scope.clone())
        .chain(
            org.providers
                .iter()
                .map(|p| p.settings.allowed_scopes.join(" ")),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let all = all.split_whitespace().collect::<Vec<_>>().join(" ");
    let scopes = ScopeSet::parse(&all)
        .unwrap_or_default()
        .to_scope_string()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    serde_json::to_string(&discovery::metadata(issuer, scopes)).unwrap_or_default()
}
