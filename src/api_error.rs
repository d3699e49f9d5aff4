//! The one error type every endpoint answers with, and its mapping to an HTTP status and the
//! RFC 6749 §5.2 error code. The worker layer turns it into JSON in exactly one place.

use std::fmt;

use crate::admin_scope::AdminScope;
use crate::jose::JoseError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400 `invalid_request`: a parameter is missing, repeated, malformed or not allowed.
    InvalidRequest(String),
    /// 400 `invalid_grant`: the refresh token (or other grant) is invalid, expired or not ours.
    InvalidGrant(String),
    /// 400 `invalid_scope`: more scope was requested than may be granted.
    InvalidScope(String),
    /// 400 `invalid_target` (RFC 8693 §2.2.2, RFC 8707): an audience or resource not allowed.
    InvalidTarget(String),
    /// 400 `unsupported_grant_type`.
    UnsupportedGrantType(String),
    /// 401 `invalid_token`: a bearer credential is missing or wrong.
    InvalidToken(String),
    /// 403 `insufficient_scope` (RFC 6750 §3.1): a valid credential without the scope named.
    InsufficientScope(AdminScope),
    /// 403 `access_denied`: the caller is known but not allowed (origin, disabled feature).
    AccessDenied(String),
    /// 404 `not_found`: no such route or org (never says whether an org exists elsewhere).
    NotFound,
    /// 405: the route exists for other methods; carries the `Allow` header value.
    MethodNotAllowed { allow: &'static str },
    /// 413: the body is larger than `limit` bytes.
    PayloadTooLarge { limit: usize },
    /// 415: the body's media type is not one the endpoint accepts (`JsonOnly` for the admin API).
    UnsupportedMediaType,
    /// 415 on an endpoint that takes JSON only.
    JsonOnly,
    /// 409 `conflict`: the object already exists in a state that forbids the operation.
    Conflict(String),
    /// 503 `temporarily_unavailable`: configuration or a binding is missing; names it, never a value.
    Misconfigured(String),
    /// 429 `rate_limit_exceeded`: a per-IP limit or the org's monthly quota; retry after the
    /// given seconds.
    RateLimited { retry_after: u64, message: String },
    /// 503 `temporarily_unavailable`: an upstream (an identity provider) cannot be reached.
    Unavailable(String),
    /// 500 `server_error`: a storage or runtime failure. The description is generic on purpose.
    Internal,
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidRequest(_)
            | Self::InvalidGrant(_)
            | Self::InvalidScope(_)
            | Self::InvalidTarget(_)
            | Self::UnsupportedGrantType(_) => 400,
            Self::InvalidToken(_) => 401,
            Self::AccessDenied(_) | Self::InsufficientScope(_) => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType | Self::JsonOnly => 415,
            Self::Internal => 500,
            Self::RateLimited { .. } => 429,
            Self::Misconfigured(_) | Self::Unavailable(_) => 503,
        }
    }

    /// The `error` member of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_)
            | Self::MethodNotAllowed { .. }
            | Self::PayloadTooLarge { .. }
            | Self::UnsupportedMediaType
            | Self::JsonOnly => "invalid_request",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidToken(_) => "invalid_token",
            Self::AccessDenied(_) => "access_denied",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::NotFound => "not_found",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate_limit_exceeded",
            Self::Misconfigured(_) | Self::Unavailable(_) => "temporarily_unavailable",
            Self::Internal => "server_error",
        }
    }

    /// The `error_description` member: human-readable, never a secret.
    pub fn description(&self) -> String {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidGrant(d)
            | Self::InvalidScope(d)
            | Self::InvalidTarget(d)
            | Self::Unavailable(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidToken(d)
            | Self::AccessDenied(d)
            | Self::Conflict(d) => d.clone(),
            Self::InsufficientScope(scope) => {
                format!("this credential lacks the scope {scope}")
            }
            Self::RateLimited { message, .. } => message.clone(),
            Self::NotFound => "no such resource".into(),
            Self::MethodNotAllowed { allow } => format!("method not allowed; use {allow}"),
            Self::PayloadTooLarge { limit } => format!("request body larger than {limit} bytes"),
            Self::JsonOnly => "content type must be application/json".into(),
            Self::UnsupportedMediaType => {
                "content type must be application/x-www-form-urlencoded or application/json".into()
            }
            Self::Misconfigured(what) => format!("service misconfigured: {what}"),
            Self::Internal => "internal error".into(),
        }
    }

    /// The JSON body: `{"error": ..., "error_description": ...}`; a 429 also has `message`.
    pub fn to_json(&self) -> String {
        let mut body =
            serde_json::json!({ "error": self.code(), "error_description": self.description() });
        if let Self::RateLimited { message, .. } = self {
            body["message"] = message.clone().into();
        }
        body.to_string()
    }

    pub fn invalid_request(msg: impl Into<String>) -> Self {
        Self::InvalidRequest(msg.into())
    }

    pub fn invalid_grant(msg: impl Into<String>) -> Self {
        Self::InvalidGrant(msg.into())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.description())
    }
}

impl std::error::Error for ApiError {}

impl From<JoseError> for ApiError {
    /// A token we were asked to trust failed a check: the grant is invalid, and the check is named.
    fn from(e: JoseError) -> Self {
        Self::InvalidGrant(format!("token rejected: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_status_and_code() {
        let cases = [
            (ApiError::invalid_request("x"), 400, "invalid_request"),
            (ApiError::invalid_grant("x"), 400, "invalid_grant"),
            (ApiError::InvalidScope("x".into()), 400, "invalid_scope"),
            (ApiError::InvalidTarget("x".into()), 400, "invalid_target"),
            (
                ApiError::Unavailable("x".into()),
                503,
                "temporarily_unavailable",
            ),
            (
                ApiError::UnsupportedGrantType("x".into()),
                400,
                "unsupported_grant_type",
            ),
            (ApiError::InvalidToken("x".into()), 401, "invalid_token"),
            (ApiError::AccessDenied("x".into()), 403, "access_denied"),
            (
                ApiError::InsufficientScope(AdminScope::KeysWrite),
                403,
                "insufficient_scope",
            ),
            (ApiError::NotFound, 404, "not_found"),
            (
                ApiError::MethodNotAllowed { allow: "POST" },
                405,
                "invalid_request",
            ),
            (ApiError::Conflict("x".into()), 409, "conflict"),
            (
                ApiError::PayloadTooLarge { limit: 1 },
                413,
                "invalid_request",
            ),
            (ApiError::UnsupportedMediaType, 415, "invalid_request"),
            (ApiError::JsonOnly, 415, "invalid_request"),
            (ApiError::Internal, 500, "server_error"),
            (
                ApiError::RateLimited {
                    retry_after: 1,
                    message: "m".into(),
                },
                429,
                "rate_limit_exceeded",
            ),
            (
                ApiError::Misconfigured("MASTER_KEY".into()),
                503,
                "temporarily_unavailable",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.code(), code, "{err:?}");
        }
    }

    #[test]
    fn json_has_the_rfc6749_shape() {
        let v: serde_json::Value =
            serde_json::from_str(&ApiError::invalid_grant("expired").to_json()).unwrap();
        assert_eq!(v["error"], "invalid_grant");
        assert_eq!(v["error_description"], "expired");
        assert_eq!(v.as_object().unwrap().len(), 2);
    }
}
