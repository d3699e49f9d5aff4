//! A token presented back to this worker (introspection, RFC 7009 revocation): a refresh token,
//! to be opened with the org's refresh-token keys, or a JWS that may be one of the org's access
//! tokens (or, for introspection, an org key's), whose signature is to be verified with the
//! public key it names. Anything else is neither, and needs no effect.

use super::Effect;
use crate::introspection::Candidate;
use crate::org_key::OrgKeyRecord;
use crate::org_state::OrgState;
use crate::refresh_token::{self, PREFIX};

pub enum Presented {
    /// A refresh token: the effect that opens it.
    Refresh(Effect),
    /// A JWS naming a key of the org: what its signature verifies, and the effect that does.
    Signed(Box<Candidate>, Effect),
    Neither,
}

/// What `token` is, for `org`; signed by its signing keys or by one of `org_keys`.
pub fn presented(org: &OrgState, token: &str, org_keys: &[OrgKeyRecord]) -> Presented {
    if token.starts_with(PREFIX) {
        return match refresh_token::decode(token) {
            Ok((iv, ciphertext)) => Presented::Refresh(Effect::Open {
                iv,
                aad: refresh_token::aad(&org.record.id),
                ciphertext,
            }),
            Err(_) => Presented::Neither,
        };
    }
    match Candidate::parse(token, &org.own_jwks, org_keys) {
        Some(candidate) => {
            let effect = Effect::VerifyOwn {
                public_key: candidate.public_key,
                signature: candidate.signature().to_vec(),
                input: candidate.signing_input().to_owned(),
            };
            Presented::Signed(Box::new(candidate), effect)
        }
        None => Presented::Neither,
    }
}
