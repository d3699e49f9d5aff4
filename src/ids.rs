//! Identifiers minted from caller-supplied randomness (128 bits each), base64url-encoded.

use crate::jose::base64url;

/// Prefixes make ids recognisable in logs and support tickets.
pub const SUBJECT_PREFIX: &str = "anon_";
pub const SESSION_PREFIX: &str = "sid_";

pub fn random_id(prefix: &str, random: &[u8; 16]) -> String {
    let mut id = String::with_capacity(prefix.len() + 22);
    id.push_str(prefix);
    id.push_str(&base64url::encode(random));
    id
}

/// The ids of a new anonymous session and its first access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIds {
    pub subject: String,
    pub session_id: String,
    pub jti: String,
}

impl SessionIds {
    pub fn from_random(random: &[u8; 48]) -> Self {
        let (s, rest) = random.split_at(16);
        let (sid, jti) = rest.split_at(16);
        Self {
            subject: random_id(SUBJECT_PREFIX, &to16(s)),
            session_id: random_id(SESSION_PREFIX, &to16(sid)),
            jti: random_id("", &to16(jti)),
        }
    }
}

fn to16(s: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&s[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_prefixed_and_128_bit() {
        let mut r = [0u8; 48];
        for (i, b) in r.iter_mut().enumerate() {
            *b = i as u8;
        }
        let ids = SessionIds::from_random(&r);
        assert!(ids.subject.starts_with("anon_"));
        assert!(ids.session_id.starts_with("sid_"));
        assert_eq!(ids.jti.len(), 22);
        assert_eq!(base64url::decode(&ids.subject[5..]).unwrap(), &r[..16]);
        assert_eq!(base64url::decode(&ids.session_id[4..]).unwrap(), &r[16..32]);
        assert_eq!(base64url::decode(&ids.jti).unwrap(), &r[32..]);
    }
}
