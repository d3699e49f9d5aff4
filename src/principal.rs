//! Who is calling the admin API, and what they may do: the platform operator may do anything;
//! an org key acts only inside its own org and only within its scopes.

use crate::admin_scope::{AdminScope, AdminScopes};
use crate::api_error::ApiError;
use crate::org::OrgId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Authorized by the `OPERATOR_TOKEN` secret.
    Operator,
    /// Authorized by a credential signed with an active org key.
    OrgKey {
        org: OrgId,
        key_id: String,
        scopes: AdminScopes,
    },
}

impl Principal {
    /// May this principal use `scope` on `org`? Another org's objects are 404, never 403: a key
    /// learns nothing about orgs other than its own. A missing scope is 403 naming it.
    pub fn authorize(&self, org: &OrgId, scope: AdminScope) -> Result<(), ApiError> {
        match self {
            Self::Operator => Ok(()),
            Self::OrgKey { org: own, .. } if own != org => Err(ApiError::NotFound),
            Self::OrgKey { scopes, .. } if !scopes.contains(scope) => {
                Err(ApiError::InsufficientScope(scope))
            }
            Self::OrgKey { .. } => Ok(()),
        }
    }

    /// May this principal create or revoke a key holding `scopes`? Only with all of them: no
    /// key can make a key more powerful than itself.
    pub fn may_delegate(&self, scopes: &AdminScopes) -> Result<(), ApiError> {
        match self {
            Self::Operator => Ok(()),
            Self::OrgKey { scopes: own, .. } => match scopes.first_missing_from(own) {
                Some(missing) => Err(ApiError::InsufficientScope(missing)),
                None => Ok(()),
            },
        }
    }

    /// How the audit log names the actor: `operator`, or the key id.
    pub fn actor(&self) -> &str {
        match self {
            Self::Operator => "operator",
            Self::OrgKey { key_id, .. } => key_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_scope::KeyUse;

    fn key(org: &str, u: KeyUse) -> Principal {
        Principal::OrgKey {
            org: OrgId::parse(org).unwrap(),
            key_id: "key_x".into(),
            scopes: u.scopes(),
        }
    }

    #[test]
    fn scopes_org_and_operator() {
        let acme = OrgId::parse("acme").unwrap();
        let ci = key("acme", KeyUse::Ci);
        assert!(ci.authorize(&acme, AdminScope::ProvidersWrite).is_ok());
        assert_eq!(
            ci.authorize(&acme, AdminScope::KeysWrite),
            Err(ApiError::InsufficientScope(AdminScope::KeysWrite))
        );
        let other = OrgId::parse("other").unwrap();
        assert_eq!(
            ci.authorize(&other, AdminScope::OrgRead),
            Err(ApiError::NotFound)
        );
        assert_eq!(
            key("acme", KeyUse::Admin).authorize(&other, AdminScope::KeysWrite),
            Err(ApiError::NotFound),
            "even a key holding the scope gets 404 for another org"
        );
        assert!(Principal::Operator
            .authorize(&other, AdminScope::KeysWrite)
            .is_ok());
    }

    #[test]
    fn delegation_never_widens() {
        let ci = key("acme", KeyUse::Ci);
        let admin = key("acme", KeyUse::Admin);
        assert!(admin.may_delegate(&KeyUse::Ci.scopes()).is_ok());
        assert!(ci.may_delegate(&KeyUse::Ci.scopes()).is_ok());
        assert_eq!(
            ci.may_delegate(&KeyUse::Admin.scopes()),
            Err(ApiError::InsufficientScope(AdminScope::KeysWrite))
        );
        assert!(Principal::Operator
            .may_delegate(&KeyUse::Admin.scopes())
            .is_ok());
        assert_eq!(ci.actor(), "key_x");
        assert_eq!(Principal::Operator.actor(), "operator");
    }
}
