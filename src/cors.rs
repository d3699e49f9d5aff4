//! CORS decisions: which browser origins may call an org's endpoints.
//!
//! Org endpoints (anonymous session, token) answer only origins the org allows. Public documents
//! (JWKS, metadata) answer any origin: any verifier may read them.

/// A serialized origin (RFC 6454): `scheme://host[:port]`, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<'a>(&'a str);

impl<'a> Origin<'a> {
    pub fn parse(s: &'a str) -> Option<Self> {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
        let port_ok = port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|c| c.is_ascii_digit()));
        (host_ok && port_ok).then_some(Self(s))
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// The origin a request may be answered for, if any.
pub fn allowed_origin<'a>(request_origin: &'a str, allowed: &[String]) -> Option<&'a str> {
    Origin::parse(request_origin)?;
    allowed
        .iter()
        .any(|a| a == request_origin)
        .then_some(request_origin)
}

pub const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
pub const ALLOW_HEADERS: &str = "authorization, content-type";
pub const MAX_AGE_SECS: &str = "600";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for ok in [
            "https://app.example.com",
            "http://localhost:8787",
            "http://127.0.0.1:3000",
        ] {
            assert!(Origin::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "null",
            "app.example.com",
            "ftp://x.test",
            "https://x.test/",
            "https://x.test/path",
            "https://X.test",
            "https://x.test:",
            "https://x.test:123456",
            "https://user@x.test",
            "https://",
        ] {
            assert!(Origin::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn only_listed_origins_are_allowed() {
        let allowed = vec!["http://localhost:8787".to_string()];
        assert_eq!(
            allowed_origin("http://localhost:8787", &allowed),
            Some("http://localhost:8787")
        );
        assert_eq!(allowed_origin("http://localhost:8788", &allowed), None);
        assert_eq!(allowed_origin("http://evil.test", &allowed), None);
        assert_eq!(allowed_origin("null", &["null".to_string()]), None);
        assert_eq!(allowed_origin("http://localhost:8787", &[]), None);
    }
}
