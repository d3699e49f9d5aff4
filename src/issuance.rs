//! Issuing a session's tokens, decided without awaiting anything: a new session's access-token
//! signing input and refresh-token plaintext, a refresh's checks and rotation, and the token
//! response body. Signing and sealing happen outside (WebCrypto in the worker); the results come
//! back to [`Prepared::finish`]. Time and randomness are passed in.

use serde::Serialize;

use crate::api_error::ApiError;
use crate::body::Params;
use crate::family::{Decision, RefreshCall, RefreshRules};
use crate::ids::{random_id, SessionIds};
use crate::jose::jws;
use crate::org_state::{OrgState, SigningHeader};
use crate::refresh_token::{self, ExchangedSession, NewSession, RefreshPayload};
use crate::scope_set::ScopeSet;
use crate::session::{valid_device_id, SessionView};

/// Randomness one issuance needs, drawn in a single call: ids (48), refresh nonce (16), iv (12).
pub const RANDOM_LEN: usize = 76;

pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

/// Whether the org gives anonymous sessions, and the request's valid `device_id` if any.
pub fn anonymous_device<'p>(
    org: &OrgState,
    params: &'p Params,
) -> Result<Option<&'p str>, ApiError> {
    if !org.record.settings.anonymous_sessions {
        return Err(ApiError::AccessDenied(
            "anonymous sessions are disabled for this org".into(),
        ));
    }
    let device_id = params.get("device_id");
    if device_id.is_some_and(|d| !valid_device_id(d)) {
        return Err(ApiError::invalid_request(
            "device_id: 1 to 128 characters of A-Z a-z 0-9 . _ : -",
        ));
    }
    Ok(device_id)
}

/// What a new session is: who (`None`: a new anonymous identity), with which scope and device,
/// and what an exchange established.
pub struct SessionStart<'a> {
    pub subject: Option<&'a str>,
    pub scope: &'a str,
    pub device_id: Option<&'a str>,
    pub exchanged: Option<ExchangedSession>,
}

/// A session's first issuance: the access token's signing input and the refresh token's
/// plaintext, to be signed and sealed outside; then [`Prepared::finish`] assembles both tokens.
pub struct Prepared {
    pub signing_input: String,
    pub plaintext: Vec<u8>,
    pub aad: Vec<u8>,
    pub iv: [u8; 12],
    pub expires_in: u64,
    pub session: RefreshPayload,
}

impl Prepared {
    /// Both tokens, from the signature over `signing_input` and the sealed `plaintext`.
    pub fn finish(self, signature: &[u8; 64], sealed: &[u8]) -> (Issued, RefreshPayload) {
        let issued = Issued {
            access_token: jws::assemble(&self.signing_input, signature),
            expires_in: self.expires_in,
            refresh_token: refresh_token::encode(&self.iv, sealed),
        };
        (issued, self.session)
    }
}

/// Prepares a new session at `now` (seconds) from `random` (ids, refresh nonce, iv).
pub fn prepare_start(
    org: &OrgState,
    issuer: &str,
    start: SessionStart,
    now: u64,
    random: &[u8; RANDOM_LEN],
) -> Result<Prepared, ApiError> {
    let (id_bytes, rest) = split::<48>(random);
    let ids = SessionIds::from_random(&id_bytes);
    let mut session = RefreshPayload::first(
        &NewSession {
            org: &org.record.id,
            session_id: &ids.session_id,
            subject: start.subject.unwrap_or(&ids.subject),
            scope: start.scope,
            device_id: start.device_id,
            now,
            session_ttl_secs: org.record.settings.session_ttl_secs,
        },
        &split::<16>(rest).0,
    );
    session.exchanged = start.exchanged;
    let iv = split::<12>(&rest[16..]).0;
    let (signing_input, expires_in) =
        access_signing_input(org, issuer, &session, &ids.jti, start.scope)?;
    Ok(Prepared {
        signing_input,
        plaintext: session.to_json(),
        aad: refresh_token::aad(&org.record.id),
        iv,
        expires_in,
        session,
    })
}

/// A refresh decided up to its Durable Object call: the presented session, the rotated one (the
/// candidate child, to be sealed), the new access token's id and granted scope.
pub struct RefreshPlan {
    pub old: RefreshPayload,
    pub next: RefreshPayload,
    pub jti: String,
    pub granted: String,
    /// Sealing the candidate: its iv, AAD and plaintext.
    pub iv: [u8; 12],
    pub aad: Vec<u8>,
    pub plaintext: Vec<u8>,
}

/// Checks the opened session (org, lifetime, idle time) at `now` and the requested scope against
/// what the session may hold now, and rotates it, from `random` (nonce, jti, iv).
pub fn plan_refresh(
    org: &OrgState,
    params: &Params,
    old: RefreshPayload,
    now: u64,
    random: &[u8; RANDOM_LEN],
) -> Result<RefreshPlan, ApiError> {
    old.check(&org.record.id, now)?;
    old.check_idle(now, org.record.settings.session_idle_ttl_secs)?;
    // The org may have narrowed what the session may hold since it began (its anonymous scope, or
    // the identity provider's allowed scopes): that applies now.
    let current_limit = match &old.exchanged {
        None => ScopeSet::parse(&org.record.settings.anonymous_scope).unwrap_or_default(),
        Some(ex) => {
            let provider = org.provider(&ex.idp).ok_or_else(|| {
                ApiError::invalid_grant(
                    "the identity provider of this session is no longer configured",
                )
            })?;
            ScopeSet::parse(&provider.settings.allowed_scopes.join(" ")).unwrap_or_default()
        }
    };
    let session_scope = ScopeSet::parse(&old.scope)
        .map_err(|_| ApiError::invalid_grant("refresh token is invalid"))?
        .intersection(&current_limit);
    let granted = match params.get("scope") {
        None => session_scope.clone(),
        Some(requested) => {
            let requested = ScopeSet::parse(requested)
                .map_err(|_| ApiError::InvalidScope("scope: malformed scope string".into()))?;
            if let Some(missing) = requested.first_missing_from(&session_scope) {
                return Err(ApiError::InvalidScope(format!(
                    "scope {missing} was not granted to this session"
                )));
            }
            requested
        }
    };
    let mut next = old.rotated(now, &split::<16>(random).0);
    next.scope = session_scope.to_scope_string();
    Ok(RefreshPlan {
        jti: random_id("", &split::<16>(&random[16..]).0),
        granted: granted.to_scope_string(),
        iv: split::<12>(&random[32..]).0,
        aad: refresh_token::aad(&org.record.id),
        plaintext: next.to_json(),
        old,
        next,
    })
}

impl RefreshPlan {
    /// The Durable Object call, with the candidate child sealed.
    pub fn call(&self, org: &OrgState, sealed: &[u8]) -> RefreshCall {
        RefreshCall {
            sid: self.old.sid.clone(),
            sub: self.old.sub.clone(),
            generation: self.old.generation,
            auth_time: self.old.auth_time,
            candidate: refresh_token::encode(&self.iv, sealed),
            session_exp: self.old.exp,
            rules: RefreshRules {
                reuse_interval_secs: org.record.settings.refresh_reuse_interval_secs,
            },
        }
    }

    /// The signing input of the new access token, and its lifetime in seconds.
    pub fn access_signing_input(
        &self,
        org: &OrgState,
        issuer: &str,
    ) -> Result<(String, u64), ApiError> {
        access_signing_input(org, issuer, &self.next, &self.jti, &self.granted)
    }
}

/// The refresh token to answer, from the shard's decision: the candidate, a recent child
/// again, or `invalid_grant` (reuse revoked the family, or it was revoked).
pub fn refresh_outcome(call: RefreshCall, decision: Decision) -> Result<String, ApiError> {
    match decision {
        Decision::Rotate => Ok(call.candidate),
        Decision::SameChild { child } => Ok(child),
        Decision::Reuse => Err(ApiError::invalid_grant(
            "refresh token was already used: the session is revoked",
        )),
        Decision::Revoked => Err(ApiError::invalid_grant("session has been revoked")),
    }
}

/// The org's active signing key's header, or 503 naming the misconfiguration.
pub fn signing_header(org: &OrgState) -> Result<&SigningHeader, ApiError> {
    org.signing.as_ref().ok_or_else(|| {
        ApiError::Misconfigured(format!(
            "org {} has no active signing key",
            org.record.id.as_str()
        ))
    })
}

/// The signing input of the session's access token, and its lifetime in seconds.
fn access_signing_input(
    org: &OrgState,
    issuer: &str,
    session: &RefreshPayload,
    jti: &str,
    scope: &str,
) -> Result<(String, u64), ApiError> {
    let header = signing_header(org)?;
    let audiences = match &session.exchanged {
        Some(ex) => ex.aud.clone(),
        None => org.record.audiences(issuer),
    };
    let view = SessionView {
        issuer,
        audiences: &audiences,
        subject: &session.sub,
        session_id: &session.sid,
        scope,
        device_id: session.device_id.as_deref(),
        exchanged: session.exchanged.as_ref(),
    };
    let claims = view.access_claims(
        jti,
        session.iat,
        org.record.settings.access_token_ttl_secs,
        session.exp,
    );
    let payload = serde_json::to_vec(&claims).map_err(|_| ApiError::Internal)?;
    Ok((
        jws::signing_input(&header.encoded, &payload),
        claims.exp - claims.iat,
    ))
}

/// The JSON of a token response (RFC 6749 §5.1), with the session's id and subject; with
/// `issued_token_type` for a token exchange (RFC 8693 §2.2.1). Members in name order.
pub fn token_body(
    issued: &Issued,
    session: &RefreshPayload,
    scope: &str,
    issued_token_type: Option<&str>,
) -> String {
    #[derive(Serialize)]
    struct TokenBody<'a> {
        access_token: &'a str,
        expires_in: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        issued_token_type: Option<&'a str>,
        refresh_token: &'a str,
        scope: &'a str,
        session_id: &'a str,
        subject: &'a str,
        token_type: &'a str,
    }
    serde_json::to_string(&TokenBody {
        access_token: &issued.access_token,
        expires_in: issued.expires_in,
        issued_token_type,
        refresh_token: &issued.refresh_token,
        scope,
        session_id: &session.sid,
        subject: &session.sub,
        token_type: "Bearer",
    })
    .unwrap_or_default()
}

/// The first `N` bytes of `bytes` as an array, and the rest. Callers pass buffers of known length.
fn split<const N: usize>(bytes: &[u8]) -> ([u8; N], &[u8]) {
    let mut head = [0u8; N];
    let n = N.min(bytes.len());
    head[..n].copy_from_slice(&bytes[..n]);
    (head, &bytes[n..])
}
