//! `POST /orgs/{org}/token` with the token-exchange grant (RFC 8693): verify the identity
//! provider's token, decide scope and audience, start a session, sign. Warm, this touches no
//! storage: the org (with its providers) and the provider's keys are cached in the isolate.

use worker::{Env, Response};

use super::http::{self, Caching};
use super::org_cache::{now_ms, OrgContext};
use super::sessions;
use super::{shards, upstream_keys, webcrypto};
use crate::api_error::ApiError;
use crate::body::Params;
use crate::exchange::actor::{self, ActorLink, PresentedActor};
use crate::exchange::request::{ExchangeRequest, TOKEN_TYPE_ACCESS_TOKEN};
use crate::exchange::subject_token::UpstreamIdentity as Identity;
use crate::exchange::{policy, subject_token};
use crate::provider::ProviderRecord;
use crate::refresh_token::{ExchangedSession, RefreshPayload};

pub async fn exchange(
    env: &Env,
    ctx: &OrgContext,
    params: &Params,
    issuer: &str,
) -> Result<Response, ApiError> {
    let req = ExchangeRequest::parse(params)?;
    let provider = provider_of(ctx, &req)?;
    let parsed = subject_token::parse(req.subject_token, &provider.settings)?;
    upstream_keys::verify_signature(env, &ctx.org.record.id, provider, &parsed).await?;
    let now = now_ms() / 1000;
    let identity = subject_token::validate(parsed.into_payload(), &provider.settings, now)?;
    let (anonymous_sub, act) = match req.actor_token {
        None => (None, None),
        Some(token) => {
            let presented = PresentedActor::parse(token, &ctx.org.own_jwks)?;
            let signed = webcrypto::verify_ed25519(
                &presented.public_key,
                presented.signature(),
                presented.signing_input().as_bytes(),
            )
            .await?;
            if !signed {
                return Err(actor::bad_signature());
            }
            let (link, facts) = presented.link(issuer, now)?;
            // One of our own tokens: the one Durable Object call, for its revocation state.
            if !shards::check(env, &ctx.org.record.id, facts, None).await? {
                return Err(actor::revoked());
            }
            match link {
                ActorLink::Upgrade { anonymous_sub } => (Some(anonymous_sub), None),
                ActorLink::Delegation { act } => (None, Some(act)),
            }
        }
    };
    let session = exchanged_session(ctx, &req, provider, identity, issuer, (anonymous_sub, act))?;
    let (issued, session) = sessions::start(
        ctx,
        issuer,
        Some(&session.subject),
        &session.scope,
        None,
        Some(session.exchanged),
    )
    .await?;
    Ok(http::json(
        200,
        token_body(&issued, &session),
        Caching::NoStore,
    ))
}

/// The provider whose issuer the subject token claims.
pub fn provider_of<'c>(
    ctx: &'c OrgContext,
    req: &ExchangeRequest,
) -> Result<&'c ProviderRecord, ApiError> {
    let claimed = subject_token::claimed_issuer(req.subject_token)?;
    ctx.org
        .provider_for_issuer(&claimed)
        .ok_or_else(|| ApiError::invalid_request("subject_token: issuer not accepted by this org"))
}

/// What a verified exchange starts: the session's subject, scope and established facts.
pub struct ExchangedStart {
    pub subject: String,
    pub scope: String,
    pub exchanged: ExchangedSession,
}

/// Decides scope, audience and mapped claims of a verified identity.
pub fn exchanged_session(
    ctx: &OrgContext,
    req: &ExchangeRequest,
    provider: &ProviderRecord,
    identity: Identity,
    issuer: &str,
    (anonymous_sub, act): (Option<String>, Option<serde_json::Value>),
) -> Result<ExchangedStart, ApiError> {
    let scope = policy::granted_scope(req.scope, &provider.settings)?.to_scope_string();
    let aud = policy::targets(
        req.audience,
        req.resource,
        &provider.settings,
        &ctx.org.record.audiences(issuer),
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

/// The token response of an exchange: a session's, with `issued_token_type`.
pub fn token_body(issued: &crate::issuance::Issued, session: &RefreshPayload) -> String {
    crate::issuance::token_body(
        issued,
        session,
        &session.scope,
        Some(TOKEN_TYPE_ACCESS_TOKEN),
    )
}
