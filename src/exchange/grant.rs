//! What a token exchange decides once its subject token is verified: which provider the token
//! claims to come from, and the session it starts (subject, scope, audiences, mapped claims).

use crate::api_error::ApiError;
use crate::exchange::policy;
use crate::exchange::request::ExchangeRequest;
use crate::exchange::subject_token::{self, UpstreamIdentity};
use crate::org_state::OrgState;
use crate::provider::ProviderRecord;
use crate::refresh_token::ExchangedSession;

/// The provider whose issuer the subject token claims.
pub fn provider_of<'o>(
    org: &'o OrgState,
    req: &ExchangeRequest,
) -> Result<&'o ProviderRecord, ApiError> {
    let claimed = subject_token::claimed_issuer(req.subject_token)?;
    org.provider_for_issuer(&claimed)
        .ok_or_else(|| ApiError::invalid_request("subject_token: issuer not accepted by this org"))
}

/// What a verified exchange starts: the session's subject, scope and established facts.
pub struct ExchangedStart {
    pub subject: String,
    pub scope: String,
    pub exchanged: ExchangedSession,
}

/// Decides scope, audience and mapped claims of a verified identity; `link` is what an actor
/// token established (the anonymous subject of an upgrade, or `act` of a delegation).
pub fn exchanged_session(
    org: &OrgState,
    req: &ExchangeRequest,
    provider: &ProviderRecord,
    identity: UpstreamIdentity,
    issuer: &str,
    (anonymous_sub, act): (Option<String>, Option<serde_json::Value>),
) -> Result<ExchangedStart, ApiError> {
    let scope = policy::granted_scope(req.scope, &provider.settings)?.to_scope_string();
    let aud = policy::targets(
        req.audience,
        req.resource,
        &provider.settings,
        &org.record.audiences(issuer),
    )?;
    let claims = policy::mapped_claims(&identity.claims, &provider.settings.claim_mapping)?;
    Ok(ExchangedStart {
        subject: format!("{}{}", provider.settings.subject_prefix, identity.sub),
        scope,
        exchanged: ExchangedSession {
            idp: provider.id.clone(),
            aud,
            client_id: req.client_id.to_owned(),
            claims,
            anonymous_sub,
            act,
        },
    })
}
