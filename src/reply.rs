//! Every answer of the worker, built once: status, headers (content type, caching, CORS, quota,
//! `Retry-After`, `WWW-Authenticate`, `Allow`, request id, version) and body. The public flows
//! (`crate::flow`) end in a [`Reply`]; the workers-rs path turns its errors into one too, so an
//! `ApiError` becomes HTTP in exactly one place.

use std::borrow::Cow;

use crate::api_error::ApiError;
use crate::cors;
use crate::limits::Admission;

/// How a response may be cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// Token responses and errors: `no-store` (RFC 6749 §5.1).
    NoStore,
    /// Public documents (JWKS, metadata): cacheable by the edge and by verifiers for `max_age` seconds.
    Public { max_age: u32 },
}

impl Caching {
    /// The `Cache-Control` value.
    pub fn header_value(self) -> HeaderValue {
        match self {
            Self::NoStore => Cow::Borrowed("no-store"),
            Self::Public { max_age } => Cow::Owned(format!("public, max-age={max_age}")),
        }
    }
}

/// A header's value: most are fixed strings, which the worker turns into JavaScript strings once.
pub type HeaderValue = Cow<'static, str>;

/// What browser code may read of a response: what tells it when to retry.
pub const EXPOSE_HEADERS: &str =
    "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset";

/// Which origin, if any, a response is shared with (CORS).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Cors {
    #[default]
    None,
    /// Public documents: any origin may read them.
    Any,
    /// An org endpoint, answering an origin the org allows.
    Origin(String),
}

impl Cors {
    /// The headers that share a response with the origin.
    pub fn headers(&self) -> Vec<(&'static str, HeaderValue)> {
        let origin = match self {
            Self::None => return Vec::new(),
            Self::Any => Cow::Borrowed("*"),
            Self::Origin(o) => Cow::Owned(o.clone()),
        };
        let mut headers = Vec::with_capacity(3);
        headers.push(("Access-Control-Allow-Origin", origin));
        if matches!(self, Self::Origin(_)) {
            headers.push(("Vary", Cow::Borrowed("Origin")));
        }
        headers.push((
            "Access-Control-Expose-Headers",
            Cow::Borrowed(EXPOSE_HEADERS),
        ));
        headers
    }
}

/// An answer: status, headers and body, and what the request's log line says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, HeaderValue)>,
    /// `None`: an empty body.
    pub body: Option<String>,
    /// The log line's `outcome`: `ok`, or the error code answered.
    pub outcome: &'static str,
}

impl Reply {
    /// A JSON answer. An empty `body` is not JSON: it answers 500 instead, so no endpoint can
    /// answer a success without its document.
    pub fn json(status: u16, body: String, caching: Caching) -> Self {
        if body.is_empty() {
            return Self::error(&ApiError::Internal);
        }
        let mut headers = vec![
            ("Content-Type", Cow::Borrowed("application/json")),
            ("Cache-Control", caching.header_value()),
        ];
        if caching == Caching::NoStore {
            headers.push(("Pragma", Cow::Borrowed("no-cache")));
        }
        Self {
            status,
            headers,
            body: Some(body),
            outcome: "ok",
        }
    }

    /// The error's OAuth JSON (RFC 6749 §5.2), its status, and the headers it calls for.
    pub fn error(e: &ApiError) -> Self {
        let mut reply = Self::json(e.status(), e.to_json(), Caching::NoStore);
        reply.outcome = e.code();
        let extra = match e {
            ApiError::MethodNotAllowed { allow } => Some(("Allow", Cow::Borrowed(*allow))),
            ApiError::InvalidToken(_) => Some((
                "WWW-Authenticate",
                Cow::Borrowed("Bearer error=\"invalid_token\""),
            )),
            ApiError::RateLimited { retry_after, .. } => {
                Some(("Retry-After", Cow::Owned(retry_after.to_string())))
            }
            ApiError::InsufficientScope(scope) => Some((
                "WWW-Authenticate",
                Cow::Owned(format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
                )),
            )),
            _ => None,
        };
        reply.headers.extend(extra);
        reply
    }

    /// An empty answer with `status`, not to be stored (RFC 7009's 200, a deletion's 204).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: vec![
                ("Cache-Control", Cow::Borrowed("no-store")),
                ("Pragma", Cow::Borrowed("no-cache")),
            ],
            body: None,
            outcome: "ok",
        }
    }

    /// The answer to an allowed CORS preflight.
    pub fn preflight() -> Self {
        Self {
            status: 204,
            headers: vec![
                (
                    "Access-Control-Allow-Methods",
                    Cow::Borrowed(cors::ALLOW_METHODS),
                ),
                (
                    "Access-Control-Allow-Headers",
                    Cow::Borrowed(cors::ALLOW_HEADERS),
                ),
                ("Access-Control-Max-Age", Cow::Borrowed(cors::MAX_AGE_SECS)),
            ],
            body: None,
            outcome: "ok",
        }
    }

    /// Shared with `cors`'s origin.
    pub fn shared(mut self, cors: &Cors) -> Self {
        self.headers.extend(cors.headers());
        self
    }

    /// With the org's monthly quota after this request (`X-RateLimit-*`).
    pub fn with_quota(mut self, admission: Option<&Admission>) -> Self {
        if let Some(a) = admission {
            self.headers.extend(quota_headers(a));
        }
        self
    }

    /// With the headers every response of the worker has: its request id and the version.
    pub fn stamped(mut self, request_id: &str, version: &'static str) -> Self {
        self.headers
            .push(("X-Request-Id", Cow::Owned(request_id.to_owned())));
        self.headers
            .push(("X-Token-Exchange-Version", Cow::Borrowed(version)));
        self
    }
}

/// The quota headers of a metered response.
pub fn quota_headers(a: &Admission) -> [(&'static str, HeaderValue); 3] {
    [
        ("X-RateLimit-Limit", Cow::Owned(a.limit.to_string())),
        ("X-RateLimit-Remaining", Cow::Owned(a.remaining.to_string())),
        ("X-RateLimit-Reset", Cow::Owned(a.reset.to_string())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_scope::AdminScope;

    fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
        reply
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
    }

    #[test]
    fn errors_carry_their_headers_and_code() {
        let r = Reply::error(&ApiError::RateLimited {
            retry_after: 7,
            message: "slow down".into(),
        });
        assert_eq!((r.status, r.outcome), (429, "rate_limit_exceeded"));
        assert_eq!(header(&r, "Retry-After"), Some("7"));
        assert_eq!(header(&r, "Cache-Control"), Some("no-store"));
        let r = Reply::error(&ApiError::InvalidToken("x".into()));
        assert_eq!(
            header(&r, "WWW-Authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
        let r = Reply::error(&ApiError::InsufficientScope(AdminScope::KeysWrite));
        assert!(header(&r, "WWW-Authenticate")
            .unwrap()
            .contains("scope=\"keys:write\""));
        let r = Reply::error(&ApiError::MethodNotAllowed { allow: "GET" });
        assert_eq!(header(&r, "Allow"), Some("GET"));
        let v: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(v["error"], "invalid_request");
    }

    #[test]
    fn a_success_never_has_an_empty_body() {
        let r = Reply::json(200, String::new(), Caching::NoStore);
        assert_eq!((r.status, r.outcome), (500, "server_error"));
        assert!(r.body.is_some_and(|b| b.contains("server_error")));
    }

    #[test]
    fn cors_and_quota_and_stamp() {
        let admission = Admission {
            allowed: true,
            limit: 10,
            remaining: 9,
            reset: 100,
        };
        let r = Reply::json(200, "{}".into(), Caching::NoStore)
            .shared(&Cors::Origin("https://app.example".into()))
            .with_quota(Some(&admission))
            .stamped("rid", "1.0");
        assert_eq!(
            header(&r, "Access-Control-Allow-Origin"),
            Some("https://app.example")
        );
        assert_eq!(header(&r, "Vary"), Some("Origin"));
        assert_eq!(header(&r, "X-RateLimit-Remaining"), Some("9"));
        assert_eq!(header(&r, "X-Request-Id"), Some("rid"));
        assert_eq!(header(&r, "Pragma"), Some("no-cache"));
        let docs =
            Reply::json(200, "{}".into(), Caching::Public { max_age: 60 }).shared(&Cors::Any);
        assert_eq!(header(&docs, "Access-Control-Allow-Origin"), Some("*"));
        assert_eq!(header(&docs, "Vary"), None);
        assert_eq!(header(&docs, "Cache-Control"), Some("public, max-age=60"));
        assert_eq!(header(&docs, "Pragma"), None);
        assert!(Cors::None.headers().is_empty());
    }
}
