//! The `scope` claim: RFC 6749 §3.3 scope-tokens separated by single spaces.

/// `scope = scope-token *( SP scope-token )`, `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`:
/// no empty string, no leading, trailing or doubled space, no `"` or `\`, ASCII only.
pub fn is_valid_scope(scope: &str) -> bool {
    scope.split(' ').all(is_valid_scope_token)
}

/// One scope-token: non-empty, printable ASCII other than space, `"` and `\`.
pub fn is_valid_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}
