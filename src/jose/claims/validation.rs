//! Time, issuer and audience checks on decoded claims.

use super::Claims;
use crate::jose::error::JoseError;

/// The largest clock leeway [`validate`] accepts.
pub const MAX_LEEWAY_SECS: u64 = 300;

/// The leeway [`ValidationOptions::new`] uses.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// What [`validate`] requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationOptions<'a> {
    /// Current time, Unix seconds.
    pub now: u64,
    /// Tolerated clock skew, applied to every time check; at most [`MAX_LEEWAY_SECS`].
    pub leeway_secs: u64,
    /// `iss` must equal this.
    pub issuer: &'a str,
    /// `aud` must contain this.
    pub audience: &'a str,
    /// If set, `now - iat` may not exceed this (plus leeway).
    pub max_age_secs: Option<u64>,
}

impl<'a> ValidationOptions<'a> {
    /// [`DEFAULT_LEEWAY_SECS`], no maximum age.
    pub const fn new(now: u64, issuer: &'a str, audience: &'a str) -> Self {
        ValidationOptions {
            now,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            issuer,
            audience,
            max_age_secs: None,
        }
    }
}

/// Checks, each with its own error, in this order:
/// leeway at most [`MAX_LEEWAY_SECS`] (`LeewayTooLarge`); `iss` equal (`InvalidIssuer`); `aud`
/// contains the audience (`InvalidAudience`); `now < exp + leeway` (`Expired`);
/// `nbf <= now + leeway` (`NotYetValid`); `iat <= now + leeway` (`IssuedInFuture`);
/// `now - iat <= max_age + leeway` (`TooOld`).
pub fn validate(claims: &Claims, opts: &ValidationOptions) -> Result<(), JoseError> {
    let leeway = opts.leeway_secs;
    if leeway > MAX_LEEWAY_SECS {
        return Err(JoseError::LeewayTooLarge);
    }
    if claims.iss != opts.issuer {
        return Err(JoseError::InvalidIssuer);
    }
    if !claims.aud.contains(opts.audience) {
        return Err(JoseError::InvalidAudience);
    }
    let now = opts.now;
    let latest_valid_now = now.saturating_add(leeway);
    if now >= claims.exp.saturating_add(leeway) {
        return Err(JoseError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > latest_valid_now) {
        return Err(JoseError::NotYetValid);
    }
    if claims.iat > latest_valid_now {
        return Err(JoseError::IssuedInFuture);
    }
    if let Some(max_age) = opts.max_age_secs {
        if now.saturating_sub(claims.iat) > max_age.saturating_add(leeway) {
            return Err(JoseError::TooOld);
        }
    }
    Ok(())
}
