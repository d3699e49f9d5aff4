//! Public documents: RFC 8414 metadata and the JWKS. Cacheable, readable from any origin.

use worker::Response;

use super::http::{self, Caching};
use super::org_cache::OrgContext;
use crate::discovery;
use crate::session::ScopeSet;
use crate::signing_key::PREPUBLISH_SECS;

/// Verifiers and the edge may cache these as long as a new key is published before it signs, so a
/// cached JWKS never lacks the key of a token it is asked to verify.
const MAX_AGE_SECS: u32 = PREPUBLISH_SECS as u32;

pub fn metadata(ctx: &OrgContext, issuer: &str) -> Response {
    // Every scope a token of the org can carry: the anonymous scope and what providers allow.
    let all = std::iter::once(ctx.record.settings.anonymous_scope.clone())
        .chain(
            ctx.providers
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
    let body = serde_json::to_string(&discovery::metadata(issuer, scopes)).unwrap_or_default();
    http::json(
        200,
        body,
        Caching::Public {
            max_age: MAX_AGE_SECS,
        },
    )
}

/// The `Cache-Control` of the public documents (JWKS, metadata).
pub fn cache_control() -> String {
    Caching::Public {
        max_age: MAX_AGE_SECS,
    }
    .header_value()
}

pub fn jwks(ctx: &OrgContext) -> Response {
    http::json(
        200,
        ctx.jwks_json.clone(),
        Caching::Public {
            max_age: MAX_AGE_SECS,
        },
    )
}
