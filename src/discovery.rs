//! RFC 8414 authorization server metadata of an org.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// Ours: where a browser with no login gets an anonymous session.
    pub anonymous_session_endpoint: String,
    /// RFC 7009; public clients revoke their own tokens here.
    pub revocation_endpoint: String,
    /// RFC 7662; callers authenticate with an org key credential (scope `tokens:introspect`).
    pub introspection_endpoint: String,
    pub grant_types_supported: &'static [&'static str],
    pub response_types_supported: &'static [&'static str],
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    pub scopes_supported: Vec<String>,
}

pub fn metadata(issuer: &str, scopes: Vec<String>) -> Metadata {
    Metadata {
        issuer: issuer.to_owned(),
        token_endpoint: format!("{issuer}/token"),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        anonymous_session_endpoint: format!("{issuer}/sessions/anonymous"),
        revocation_endpoint: format!("{issuer}/revoke"),
        introspection_endpoint: format!("{issuer}/introspect"),
        grant_types_supported: &["refresh_token", crate::exchange::request::GRANT_TYPE],
        response_types_supported: &[],
        token_endpoint_auth_methods_supported: &["none"],
        scopes_supported: scopes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hang_off_the_issuer() {
        let m = serde_json::to_value(metadata("https://a.test/orgs/acme", vec!["session".into()]))
            .unwrap();
        assert_eq!(m["issuer"], "https://a.test/orgs/acme");
        assert_eq!(m["token_endpoint"], "https://a.test/orgs/acme/token");
        assert_eq!(
            m["grant_types_supported"],
            serde_json::json!([
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ])
        );
        assert_eq!(
            m["jwks_uri"],
            "https://a.test/orgs/acme/.well-known/jwks.json"
        );
        assert_eq!(
            m["anonymous_session_endpoint"],
            "https://a.test/orgs/acme/sessions/anonymous"
        );
    }
}
