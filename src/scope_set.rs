//! Sets of RFC 6749 §3.3 scope tokens: what a session, a provider or an org may grant, and the
//! algebra the grants are decided with.

use crate::jose::claims::is_valid_scope_token;

/// Longest scope token we accept: far above any real one, a bound on what a request can make us store.
const MAX_SCOPE_TOKEN_LEN: usize = 128;

/// A set of RFC 6749 §3.3 scope tokens, kept in first-seen order without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet(Vec<String>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidScopeSyntax;

impl ScopeSet {
    /// `scope = scope-token *( SP scope-token )`, `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
    /// The empty string is the empty set.
    pub fn parse(s: &str) -> Result<Self, InvalidScopeSyntax> {
        if s.is_empty() {
            return Ok(Self::default());
        }
        let mut set = Self::default();
        for token in s.split(' ') {
            if token.len() > MAX_SCOPE_TOKEN_LEN || !is_valid_scope_token(token) {
                return Err(InvalidScopeSyntax);
            }
            if !set.contains(token) {
                set.0.push(token.to_owned());
            }
        }
        Ok(set)
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }

    /// The tokens of `self` that `other` also has, in `self`'s order.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(
            self.0
                .iter()
                .filter(|t| other.contains(t))
                .cloned()
                .collect(),
        )
    }

    /// The first token of `self` that `other` lacks.
    pub fn first_missing_from(&self, other: &ScopeSet) -> Option<&str> {
        self.0
            .iter()
            .find(|t| !other.contains(t))
            .map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_scope_string(&self) -> String {
        self.0.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_syntax() {
        assert!(ScopeSet::parse("").unwrap().is_empty());
        let s = ScopeSet::parse("read write read").unwrap();
        assert_eq!(s.to_scope_string(), "read write");
        for bad in [" read", "read ", "a  b", "a\"b", "a\\b", "é", "a\tb"] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ScopeSet::parse(&"a".repeat(129)).is_err());
        assert!(ScopeSet::parse("!#[]~").is_ok());
    }

    #[test]
    fn scope_algebra() {
        let all = ScopeSet::parse("a b c").unwrap();
        let some = ScopeSet::parse("c a").unwrap();
        let other = ScopeSet::parse("a d").unwrap();
        assert!(some.is_subset_of(&all));
        assert!(!other.is_subset_of(&all));
        assert_eq!(other.first_missing_from(&all), Some("d"));
        assert_eq!(all.intersection(&other).to_scope_string(), "a");
    }
}
