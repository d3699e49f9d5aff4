//! The parts of a request's URL the worker reads: its origin, its path and its query.
//!
//! The runtime hands a request's URL over already parsed and serialized by its own WHATWG URL
//! parser: scheme and host lowercased, host in ASCII (punycode), default port dropped, path
//! starting with `/`. So splitting that string is exact, and the worker's wasm does without the
//! `url` crate (about 20 KB gzipped). The JavaScript entry (`src/entry.mjs`) splits it the same way.

use std::borrow::Cow;

/// A request URL, as the runtime serialized it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUrl<'a> {
    origin: Cow<'a, str>,
    path: &'a str,
    query: &'a str,
}

impl<'a> RequestUrl<'a> {
    /// `None` unless `url` is absolute (`scheme://authority…`).
    pub fn parse(url: &'a str) -> Option<Self> {
        let scheme_end = url.find("://")?;
        let scheme = &url[..scheme_end];
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return None;
        }
        let authority_start = scheme_end + 3;
        let rest = &url[authority_start..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if host.is_empty() {
            return None;
        }
        let origin = if host.len() == authority.len() {
            Cow::Borrowed(&url[..authority_start + authority_len])
        } else {
            Cow::Owned(format!("{scheme}://{host}"))
        };
        let rest = &rest[authority_len..];
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        Some(RequestUrl {
            origin,
            path: if path.is_empty() { "/" } else { path },
            query,
        })
    }

    /// `scheme://host[:port]`, without any user info.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The path, percent-encoded as it came (`/` at least).
    pub fn path(&self) -> &str {
        self.path
    }

    /// The query's `application/x-www-form-urlencoded` pairs, decoded.
    pub fn query_pairs(&self) -> form_urlencoded::Parse<'a> {
        form_urlencoded::parse(self.query.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, String, Vec<(String, String)>) {
        let u = RequestUrl::parse(url).expect("absolute URL");
        let pairs = u
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        (u.origin().to_owned(), u.path().to_owned(), pairs)
    }

    #[test]
    fn splits_origin_path_and_query() {
        assert_eq!(
            parts("https://auth.example.com/orgs/acme/token?a=1&b=x%20y#frag"),
            (
                "https://auth.example.com".into(),
                "/orgs/acme/token".into(),
                vec![("a".into(), "1".into()), ("b".into(), "x y".into())]
            )
        );
    }

    #[test]
    fn keeps_a_port_and_an_ip_host() {
        assert_eq!(
            parts("http://127.0.0.1:8787/healthz").0,
            "http://127.0.0.1:8787"
        );
        assert_eq!(parts("http://[::1]:8787/x").0, "http://[::1]:8787");
    }

    #[test]
    fn an_empty_path_is_the_root() {
        assert_eq!(parts("https://a.example").1, "/");
        assert_eq!(parts("https://a.example?x=1").1, "/");
        assert_eq!(parts("https://a.example#f").1, "/");
    }

    #[test]
    fn the_path_stays_percent_encoded_and_stops_at_query_or_fragment() {
        assert_eq!(parts("https://a.example/a%3F%23%2Fb?c").1, "/a%3F%23%2Fb");
        assert_eq!(parts("https://a.example/p#f?not-query").1, "/p");
        assert!(parts("https://a.example/p#f?not-query").2.is_empty());
    }

    #[test]
    fn the_origin_drops_user_info() {
        assert_eq!(parts("https://user:pw@a.example/x").0, "https://a.example");
    }

    #[test]
    fn rejects_what_is_not_an_absolute_url() {
        for url in [
            "/orgs/acme/token",
            "no-scheme",
            "://host/x",
            "https:///x",
            "ht tp://a/x",
        ] {
            assert_eq!(RequestUrl::parse(url), None, "{url}");
        }
    }
}
