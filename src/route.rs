//! Which endpoint a method and path address. Pure, so every path rule is unit-tested natively.

use crate::admin_scope::AdminScope;
use crate::api_error::ApiError;
use crate::org::OrgId;
use crate::org_key::is_key_id;
use crate::provider::is_provider_id;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// RFC 8414 metadata, at the RFC's location and appended to the issuer.
    Metadata,
    Jwks,
    AnonymousSession,
    Token,
    /// RFC 7009: a client revokes its own token.
    Revoke,
    /// RFC 7662: an org's server asks whether a token is active.
    Introspect,
    /// Operator API: read or create/update an org.
    AdminOrg,
    /// Operator API: list or create an org's signing keys.
    AdminSigningKeys,
    /// Admin API: retire one signing key.
    AdminRetireSigningKey(String),
    /// Admin API: add a signing key and retire the current ones once it signs.
    AdminRotateSigningKeys,
    /// Admin API: list or create org keys.
    AdminOrgKeys,
    /// Admin API: read or revoke (`DELETE`) one org key.
    AdminOrgKey(String),
    /// Admin API: the org's audit log.
    AdminAudit,
    /// Admin API: revoke a session, a subject, a token or a key.
    AdminRevocations,
    /// Admin API: re-seal the org's secrets under the current master key.
    AdminReseal,
    /// Admin API: purge the org's session shards now (what their alarms do hourly).
    AdminSessionStorePurge,
    /// Admin API: what the org's session shards hold (families, revocations, calls served).
    AdminSessionStore,
    /// Admin API: list identity providers.
    AdminProviders,
    /// Admin API: read, create or replace (`PUT`), or delete one identity provider.
    AdminProvider(String),
}

impl Endpoint {
    /// The methods the endpoint answers, as an `Allow` header value.
    pub fn allow(&self) -> &'static str {
        match self {
            Self::Metadata | Self::Jwks => "GET, OPTIONS",
            Self::AnonymousSession | Self::Token | Self::Revoke | Self::Introspect => {
                "POST, OPTIONS"
            }
            Self::AdminOrg => "GET, PUT",
            Self::AdminSigningKeys => "GET, POST",
            Self::AdminRetireSigningKey(_)
            | Self::AdminRotateSigningKeys
            | Self::AdminRevocations
            | Self::AdminReseal
            | Self::AdminSessionStorePurge => "POST",
            Self::AdminOrgKeys => "GET, POST",
            Self::AdminOrgKey(_) => "GET, DELETE",
            Self::AdminAudit | Self::AdminProviders | Self::AdminSessionStore => "GET",
            Self::AdminProvider(_) => "GET, PUT, DELETE",
        }
    }

    /// The admin scope an org key needs for `method` on this endpoint (the operator needs none).
    /// `None` for public endpoints. This is the whole scope table of the admin API.
    pub fn required_scope(&self, method: &str) -> Option<AdminScope> {
        let read = method == "GET";
        Some(match self {
            Self::Metadata
            | Self::Jwks
            | Self::AnonymousSession
            | Self::Token
            | Self::Revoke
            | Self::Introspect => return None,
            Self::AdminOrg if read => AdminScope::OrgRead,
            Self::AdminOrg => AdminScope::OrgWrite,
            Self::AdminSigningKeys | Self::AdminOrgKeys | Self::AdminOrgKey(_) if read => {
                AdminScope::KeysRead
            }
            Self::AdminSigningKeys
            | Self::AdminOrgKeys
            | Self::AdminOrgKey(_)
            | Self::AdminRetireSigningKey(_)
            | Self::AdminRotateSigningKeys
            | Self::AdminReseal => AdminScope::KeysWrite,
            Self::AdminAudit => AdminScope::AuditRead,
            Self::AdminSessionStore => AdminScope::SessionsRead,
            // A key revocation also needs keys:write; the handler checks it.
            Self::AdminRevocations | Self::AdminSessionStorePurge => AdminScope::SessionsRevoke,
            Self::AdminProviders | Self::AdminProvider(_) if read => AdminScope::ProvidersRead,
            Self::AdminProviders | Self::AdminProvider(_) => AdminScope::ProvidersWrite,
        })
    }

    /// The endpoint's name in logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Metadata => "metadata",
            Self::Jwks => "jwks",
            Self::AnonymousSession => "anonymous_session",
            Self::Token => "token",
            Self::Revoke => "revoke",
            Self::Introspect => "introspect",
            Self::AdminOrg => "admin_org",
            Self::AdminSigningKeys => "admin_signing_keys",
            Self::AdminRetireSigningKey(_) => "admin_retire_signing_key",
            Self::AdminRotateSigningKeys => "admin_rotate_signing_keys",
            Self::AdminOrgKeys => "admin_org_keys",
            Self::AdminOrgKey(_) => "admin_org_key",
            Self::AdminAudit => "admin_audit",
            Self::AdminRevocations => "admin_revocations",
            Self::AdminReseal => "admin_reseal",
            Self::AdminSessionStorePurge => "admin_session_store_purge",
            Self::AdminSessionStore => "admin_session_store",
            Self::AdminProviders => "admin_providers",
            Self::AdminProvider(_) => "admin_provider",
        }
    }

    /// Browser-facing endpoints answer CORS preflights; the operator API is not for browsers.
    pub fn is_public(&self) -> bool {
        matches!(
            self,
            Self::Metadata
                | Self::Jwks
                | Self::AnonymousSession
                | Self::Token
                | Self::Revoke
                | Self::Introspect
        )
    }

    fn accepts(&self, method: &str) -> bool {
        self.allow().split(", ").any(|m| m == method)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub org: OrgId,
    pub endpoint: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatch {
    Handle(Route),
    /// An `OPTIONS` request to a public endpoint: a CORS preflight.
    Preflight(Route),
    /// `/healthz`, with any method (it answers 405 itself): whether the worker is fit to serve.
    Health,
    /// `GET /admin/v1/orgs` (operator only): every org's id.
    ListOrgs,
}

/// Resolves a request. Unknown paths (and org ids that cannot exist) are 404; known paths with the
/// wrong method are 405.
pub fn dispatch(method: &str, path: &str) -> Result<Dispatch, ApiError> {
    match (path, method) {
        ("/healthz", _) => return Ok(Dispatch::Health),
        ("/admin/v1/orgs", "GET") => return Ok(Dispatch::ListOrgs),
        ("/admin/v1/orgs", _) => return Err(ApiError::MethodNotAllowed { allow: "GET" }),
        _ => {}
    }
    let route = resolve(path).ok_or(ApiError::NotFound)?;
    if method == "OPTIONS" && route.endpoint.is_public() {
        return Ok(Dispatch::Preflight(route));
    }
    if !route.endpoint.accepts(method) || method == "OPTIONS" {
        return Err(ApiError::MethodNotAllowed {
            allow: route.endpoint.allow(),
        });
    }
    Ok(Dispatch::Handle(route))
}

fn resolve(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let (org, endpoint) = match segments.as_slice() {
        [".well-known", "oauth-authorization-server", "orgs", org] => (org, Endpoint::Metadata),
        ["orgs", org, ".well-known", "oauth-authorization-server" | "openid-configuration"] => {
            (org, Endpoint::Metadata)
        }
        ["orgs", org, ".well-known", "jwks.json"] => (org, Endpoint::Jwks),
        ["orgs", org, "sessions", "anonymous"] => (org, Endpoint::AnonymousSession),
        ["orgs", org, "token"] => (org, Endpoint::Token),
        ["orgs", org, "revoke"] => (org, Endpoint::Revoke),
        ["orgs", org, "introspect"] => (org, Endpoint::Introspect),
        ["admin", "v1", "orgs", org] => (org, Endpoint::AdminOrg),
        ["admin", "v1", "orgs", org, "signing-keys"] => (org, Endpoint::AdminSigningKeys),
        ["admin", "v1", "orgs", org, "signing-keys", "rotate"] => {
            (org, Endpoint::AdminRotateSigningKeys)
        }
        ["admin", "v1", "orgs", org, "signing-keys", kid, "retire"] if valid_kid(kid) => {
            (org, Endpoint::AdminRetireSigningKey((*kid).to_owned()))
        }
        ["admin", "v1", "orgs", org, "keys"] => (org, Endpoint::AdminOrgKeys),
        ["admin", "v1", "orgs", org, "keys", id] if is_key_id(id) => {
            (org, Endpoint::AdminOrgKey((*id).to_owned()))
        }
        ["admin", "v1", "orgs", org, "audit"] => (org, Endpoint::AdminAudit),
        ["admin", "v1", "orgs", org, "providers"] => (org, Endpoint::AdminProviders),
        ["admin", "v1", "orgs", org, "session-store"] => (org, Endpoint::AdminSessionStore),
        ["admin", "v1", "orgs", org, "revocations"] => (org, Endpoint::AdminRevocations),
        ["admin", "v1", "orgs", org, "reseal"] => (org, Endpoint::AdminReseal),
        ["admin", "v1", "orgs", org, "session-store", "purge"] => {
            (org, Endpoint::AdminSessionStorePurge)
        }
        ["admin", "v1", "orgs", org, "providers", id] if is_provider_id(id) => {
            (org, Endpoint::AdminProvider((*id).to_owned()))
        }
        _ => return None,
    };
    Some(Route {
        org: OrgId::parse(org)?,
        endpoint,
    })
}

/// Key ids are RFC 7638 thumbprints: 43 base64url characters.
fn valid_kid(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handled(method: &str, path: &str) -> Endpoint {
        match dispatch(method, path).unwrap() {
            Dispatch::Handle(r) => {
                assert_eq!(r.org.as_str(), "acme");
                r.endpoint
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn the_routes_without_an_org() {
        assert_eq!(dispatch("GET", "/healthz").unwrap(), Dispatch::Health);
        assert_eq!(dispatch("POST", "/healthz").unwrap(), Dispatch::Health);
        assert_eq!(
            dispatch("GET", "/admin/v1/orgs").unwrap(),
            Dispatch::ListOrgs
        );
        assert!(matches!(
            dispatch("POST", "/admin/v1/orgs"),
            Err(ApiError::MethodNotAllowed { allow: "GET" })
        ));
        assert!(matches!(
            dispatch("GET", "/healthz/x"),
            Err(ApiError::NotFound)
        ));
    }

    #[test]
    fn every_endpoint_resolves() {
        assert_eq!(
            handled("GET", "/.well-known/oauth-authorization-server/orgs/acme"),
            Endpoint::Metadata
        );
        assert_eq!(
            handled("GET", "/orgs/acme/.well-known/oauth-authorization-server"),
            Endpoint::Metadata
        );
        assert_eq!(
            handled("GET", "/orgs/acme/.well-known/openid-configuration"),
            Endpoint::Metadata
        );
        assert_eq!(
            handled("GET", "/orgs/acme/.well-known/jwks.json"),
            Endpoint::Jwks
        );
        assert_eq!(
            handled("POST", "/orgs/acme/sessions/anonymous"),
            Endpoint::AnonymousSession
        );
        assert_eq!(handled("POST", "/orgs/acme/token"), Endpoint::Token);
        assert_eq!(handled("POST", "/orgs/acme/revoke"), Endpoint::Revoke);
        assert_eq!(
            handled("POST", "/orgs/acme/introspect"),
            Endpoint::Introspect
        );
        assert_eq!(handled("PUT", "/admin/v1/orgs/acme"), Endpoint::AdminOrg);
        assert_eq!(
            handled("GET", "/admin/v1/orgs/acme/signing-keys"),
            Endpoint::AdminSigningKeys
        );
        let kid = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
        assert_eq!(
            handled(
                "POST",
                &format!("/admin/v1/orgs/acme/signing-keys/{kid}/retire")
            ),
            Endpoint::AdminRetireSigningKey(kid.into())
        );
        assert_eq!(
            handled("POST", "/admin/v1/orgs/acme/signing-keys/rotate"),
            Endpoint::AdminRotateSigningKeys
        );
        assert_eq!(
            handled("POST", "/admin/v1/orgs/acme/keys"),
            Endpoint::AdminOrgKeys
        );
        let id = "key_AAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(
            handled("DELETE", &format!("/admin/v1/orgs/acme/keys/{id}")),
            Endpoint::AdminOrgKey(id.into())
        );
        assert_eq!(
            handled("GET", "/admin/v1/orgs/acme/audit"),
            Endpoint::AdminAudit
        );
    }

    #[test]
    fn scope_table() {
        use AdminScope::*;
        let id = || "key_AAAAAAAAAAAAAAAAAAAAAA".to_string();
        let cases = [
            (Endpoint::AdminOrg, "GET", OrgRead),
            (Endpoint::AdminOrg, "PUT", OrgWrite),
            (Endpoint::AdminOrgKeys, "GET", KeysRead),
            (Endpoint::AdminOrgKeys, "POST", KeysWrite),
            (Endpoint::AdminOrgKey(id()), "GET", KeysRead),
            (Endpoint::AdminOrgKey(id()), "DELETE", KeysWrite),
            (Endpoint::AdminSigningKeys, "GET", KeysRead),
            (Endpoint::AdminSigningKeys, "POST", KeysWrite),
            (Endpoint::AdminRotateSigningKeys, "POST", KeysWrite),
            (Endpoint::AdminRetireSigningKey(id()), "POST", KeysWrite),
            (Endpoint::AdminAudit, "GET", AuditRead),
            (Endpoint::AdminProviders, "GET", ProvidersRead),
            (Endpoint::AdminSessionStore, "GET", SessionsRead),
            (Endpoint::AdminRevocations, "POST", SessionsRevoke),
            (Endpoint::AdminReseal, "POST", KeysWrite),
            (Endpoint::AdminSessionStorePurge, "POST", SessionsRevoke),
            (Endpoint::AdminProvider("p".into()), "GET", ProvidersRead),
            (Endpoint::AdminProvider("p".into()), "PUT", ProvidersWrite),
            (
                Endpoint::AdminProvider("p".into()),
                "DELETE",
                ProvidersWrite,
            ),
        ];
        for (endpoint, method, scope) in cases {
            assert_eq!(endpoint.required_scope(method), Some(scope), "{endpoint:?}");
        }
        assert_eq!(Endpoint::Token.required_scope("POST"), None);
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let e = dispatch("GET", "/orgs/acme/token").unwrap_err();
        assert_eq!(
            e,
            ApiError::MethodNotAllowed {
                allow: "POST, OPTIONS"
            }
        );
        assert_eq!(
            dispatch("DELETE", "/orgs/acme/.well-known/jwks.json")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            dispatch("OPTIONS", "/admin/v1/orgs/acme")
                .unwrap_err()
                .status(),
            405
        );
    }

    #[test]
    fn preflight_only_for_public_endpoints() {
        assert!(matches!(
            dispatch("OPTIONS", "/orgs/acme/token"),
            Ok(Dispatch::Preflight(_))
        ));
    }

    #[test]
    fn unknown_paths_and_impossible_orgs_are_404() {
        for p in [
            "/",
            "/orgs/acme",
            "/orgs/acme/token/",
            "/orgs/Acme/token",
            "/orgs//token",
            "/orgs/acme/../token",
            "/admin/v1/orgs/acme/signing-keys/short/retire",
            "/admin/v1/orgs/acme/keys/key_short",
            "/admin/v1/orgs/acme/keys/sec_AAAAAAAAAAAAAAAAAAAAAA",
            "/admin/v1/orgs/acme/providers/Bad_Id",
            "orgs/acme/token",
        ] {
            assert_eq!(dispatch("POST", p).unwrap_err(), ApiError::NotFound, "{p}");
        }
    }
}
