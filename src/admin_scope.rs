//! What an org key may do: the admin scope vocabulary, the named scope sets (`--use production`,
//! `ci`, `admin`), and the rule that a key can only hand out scopes it holds itself.

use std::fmt;

/// One permission of the admin API. The string form is what keys, tokens and docs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdminScope {
    /// Read the org record and its settings.
    OrgRead,
    /// Change the org's settings.
    OrgWrite,
    /// List and read org keys and signing keys.
    KeysRead,
    /// Create and revoke org keys; create, rotate and retire signing keys.
    KeysWrite,
    /// List and read identity providers.
    ProvidersRead,
    /// Create, update and delete identity providers.
    ProvidersWrite,
    /// List the audit log.
    AuditRead,
    /// Introspect tokens (RFC 7662).
    TokensIntrospect,
    /// Read session state.
    SessionsRead,
    /// Revoke sessions, subjects and tokens.
    SessionsRevoke,
}

impl AdminScope {
    pub const ALL: [AdminScope; 10] = [
        Self::OrgRead,
        Self::OrgWrite,
        Self::KeysRead,
        Self::KeysWrite,
        Self::ProvidersRead,
        Self::ProvidersWrite,
        Self::AuditRead,
        Self::TokensIntrospect,
        Self::SessionsRead,
        Self::SessionsRevoke,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::OrgRead => "org:read",
            Self::OrgWrite => "org:write",
            Self::KeysRead => "keys:read",
            Self::KeysWrite => "keys:write",
            Self::ProvidersRead => "providers:read",
            Self::ProvidersWrite => "providers:write",
            Self::AuditRead => "audit:read",
            Self::TokensIntrospect => "tokens:introspect",
            Self::SessionsRead => "sessions:read",
            Self::SessionsRevoke => "sessions:revoke",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for AdminScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The named scope sets, as `--use NAME` on the command line and `"use": NAME` in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// An org's production servers: introspect tokens, read session state, revoke sessions.
    Production,
    /// Deployment pipelines: identity providers and org settings, read and write; read keys.
    Ci,
    /// Org administrators: everything, including creating and revoking keys.
    Admin,
}

impl KeyUse {
    pub const ALL: [KeyUse; 3] = [Self::Production, Self::Ci, Self::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Ci => "ci",
            Self::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.name() == name)
    }

    pub fn scopes(self) -> AdminScopes {
        use AdminScope::*;
        match self {
            Self::Production => AdminScopes::of(&[TokensIntrospect, SessionsRead, SessionsRevoke]),
            Self::Ci => {
                AdminScopes::of(&[ProvidersRead, ProvidersWrite, OrgRead, OrgWrite, KeysRead])
            }
            Self::Admin => AdminScopes::of(&AdminScope::ALL),
        }
    }
}

/// A set of admin scopes, kept sorted in vocabulary order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminScopes(Vec<AdminScope>);

/// A scope list that names something outside the vocabulary, or names nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeListError {
    Unknown(String),
    Empty,
}

impl fmt::Display for ScopeListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(name) => write!(f, "unknown scope {name:?}"),
            Self::Empty => f.write_str("at least one scope is required"),
        }
    }
}

impl AdminScopes {
    /// The set of `scopes`, in [`AdminScope::ALL`]'s order (which is `Ord`'s), without repeats.
    pub fn of(scopes: &[AdminScope]) -> Self {
        Self(
            AdminScope::ALL
                .into_iter()
                .filter(|s| scopes.contains(s))
                .collect(),
        )
    }

    /// Parses scope names; unknown names are refused (a typo must not silently grant nothing).
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ScopeListError> {
        let scopes = names
            .into_iter()
            .map(|n| AdminScope::parse(n).ok_or_else(|| ScopeListError::Unknown(n.to_owned())))
            .collect::<Result<Vec<_>, _>>()?;
        if scopes.is_empty() {
            return Err(ScopeListError::Empty);
        }
        Ok(Self::of(&scopes))
    }

    pub fn contains(&self, scope: AdminScope) -> bool {
        self.0.contains(&scope)
    }

    /// The first scope of `self` that `holder` lacks: what a key may not hand out.
    pub fn first_missing_from(&self, holder: &AdminScopes) -> Option<AdminScope> {
        self.0.iter().copied().find(|s| !holder.contains(*s))
    }

    pub fn iter(&self) -> impl Iterator<Item = AdminScope> + '_ {
        self.0.iter().copied()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.name()).collect()
    }

    /// The named set equal to this one, if any.
    pub fn named_use(&self) -> Option<KeyUse> {
        KeyUse::ALL.into_iter().find(|u| u.scopes() == *self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in AdminScope::ALL {
            assert_eq!(AdminScope::parse(s.name()), Some(s));
        }
        assert_eq!(AdminScope::parse("keys:admin"), None);
        for u in KeyUse::ALL {
            assert_eq!(KeyUse::parse(u.name()), Some(u));
            assert_eq!(u.scopes().named_use(), Some(u));
        }
    }

    #[test]
    fn the_named_sets() {
        let p = KeyUse::Production.scopes();
        assert_eq!(
            p.names(),
            ["tokens:introspect", "sessions:read", "sessions:revoke"]
        );
        let ci = KeyUse::Ci.scopes();
        assert_eq!(
            ci.names(),
            [
                "org:read",
                "org:write",
                "keys:read",
                "providers:read",
                "providers:write"
            ]
        );
        assert!(!ci.contains(AdminScope::KeysWrite));
        let admin = KeyUse::Admin.scopes();
        assert!(AdminScope::ALL.iter().all(|s| admin.contains(*s)));
    }

    #[test]
    fn parsing_refuses_unknown_and_empty_and_dedups() {
        assert_eq!(
            AdminScopes::parse(["keys:read", "nope"]),
            Err(ScopeListError::Unknown("nope".into()))
        );
        assert_eq!(AdminScopes::parse([]), Err(ScopeListError::Empty));
        let s = AdminScopes::parse(["keys:write", "keys:read", "keys:write"]).unwrap();
        assert_eq!(s.names(), ["keys:read", "keys:write"]);
        assert_eq!(s.named_use(), None);
    }

    #[test]
    fn a_key_hands_out_only_what_it_holds() {
        let ci = KeyUse::Ci.scopes();
        let admin = KeyUse::Admin.scopes();
        assert_eq!(ci.first_missing_from(&admin), None);
        assert_eq!(admin.first_missing_from(&ci), Some(AdminScope::KeysWrite));
    }

    #[test]
    fn all_is_in_ord_order_so_sets_are_sorted() {
        assert!(AdminScope::ALL.windows(2).all(|w| w[0] < w[1]));
        let set = AdminScopes::of(&[
            AdminScope::SessionsRevoke,
            AdminScope::OrgRead,
            AdminScope::OrgRead,
        ]);
        assert_eq!(
            set,
            AdminScopes::of(&[AdminScope::OrgRead, AdminScope::SessionsRevoke])
        );
    }
}
