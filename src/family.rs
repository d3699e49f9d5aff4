//! Refresh-token families: one per session (`sid`), advanced by one generation at each refresh.
//! This module decides, from a family's stored state and the generation a client presents, what a
//! refresh does. Races and retries are normal: the token rotated out less than the reuse interval
//! ago gets the same child again. Anything older is reuse, and kills the family.
//!
//! Which shard holds a subject's families (and every revocation that can cover them) is decided
//! here too: [`shard_of`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::org::OrgId;

/// Shards per org: no single object sits on every refresh of an org, and an org-wide revocation
/// (a signing key) is a bounded fan-out.
pub const SHARDS: u8 = 32;

/// The shard holding `sub`'s families and revocations.
pub fn shard_of(org: &OrgId, sub: &str) -> u8 {
    let digest = Sha256::new()
        .chain_update(org.as_str().as_bytes())
        .chain_update(b"\0")
        .chain_update(sub.as_bytes())
        .finalize();
    digest[0] % SHARDS
}

/// The Durable Object name of an org's shard.
pub fn shard_name(org: &OrgId, shard: u8) -> String {
    format!("{}/{shard:02}", org.as_str())
}

/// A family as the shard stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    /// The newest generation issued.
    pub generation: u32,
    /// The refresh token of `generation`, kept so a retry of its parent gets it again.
    pub child: String,
    /// When `generation` was issued (Unix seconds).
    pub rotated_at: u64,
    /// When the family was last refreshed.
    pub last_used: u64,
    /// Set when the family was revoked (reuse, or a revocation).
    pub revoked_at: Option<u64>,
}

/// The rules a refresh is judged by, from the org's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRules {
    /// A parent presented again within this many seconds of its rotation gets the same child.
    /// 0: strict, any second use is reuse.
    pub reuse_interval_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decision {
    /// Store `candidate` as generation `presented + 1` and hand it out.
    Rotate,
    /// A retry or a race within the interval: hand out the stored child again.
    SameChild { child: String },
    /// A rotated-out token used again: the family is revoked now.
    Reuse,
    /// The family was revoked before.
    Revoked,
}

/// A refresh as the worker asks its shard: the family, the generation presented, and the sealed
/// child the worker prepared (kept if this refresh rotates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshCall {
    pub sid: String,
    pub sub: String,
    pub generation: u32,
    /// When the session started: a subject revocation after it covers the session.
    pub auth_time: u64,
    pub candidate: String,
    /// The session's absolute end: the family is kept until then, then purged.
    pub session_exp: u64,
    pub rules: RefreshRules,
}

/// A revocation as the worker sends it to a shard; `sub` names the subject whose families a
/// session or subject revocation also marks revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeCall {
    pub revocation: crate::revocation::Revocation,
}

/// Is this token still good? `generation` is given for a refresh token: only the newest of its
/// family is (a rotated-out one is spent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckCall {
    pub facts: crate::revocation::TokenFacts,
    #[serde(default)]
    pub generation: Option<u32>,
    /// Single use: when the token is good, record its `jti` as spent until this time, so a second
    /// presentation is refused (admin credentials).
    #[serde(default)]
    pub spend_until: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub active: bool,
}

/// The name of the shard that checks a token of `facts` (`idFromName`) and the body of its
/// `/check` call; with `generation` for a refresh token (the live one of its family).
pub fn check_request(
    org: &OrgId,
    facts: crate::revocation::TokenFacts,
    generation: Option<u32>,
) -> Result<(String, String), crate::api_error::ApiError> {
    let shard = shard_name(org, shard_of(org, &facts.sub));
    let check = CheckCall {
        facts,
        generation,
        spend_until: None,
    };
    let body = serde_json::to_string(&check).map_err(|_| crate::api_error::ApiError::Internal)?;
    Ok((shard, body))
}

/// Whether a `/check` answer (its body) says the token is active; `None` if it is not one.
pub fn check_answer(body: &str) -> Option<bool> {
    serde_json::from_str::<CheckResult>(body)
        .ok()
        .map(|r| r.active)
}

/// Whether a refresh token of `generation` is the live one of its family.
pub fn is_live_generation(family: Option<&Family>, generation: u32) -> bool {
    match family {
        None => generation == 0,
        Some(f) => f.revoked_at.is_none() && f.generation == generation,
    }
}

/// Purge what can no longer matter at `as_of` (default: now). A time in the future simulates the
/// passing of time; the worker accepts it only in development.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeCall {
    #[serde(default)]
    pub as_of: Option<u64>,
}

/// What a shard holds, for operators and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStats {
    pub families: u64,
    pub revoked_families: u64,
    pub revocations: u64,
    /// Calls this shard has served since it was created (every operation but these statistics).
    pub calls: u64,
}

/// What to do when generation `presented` is refreshed at `now`.
pub fn decide(family: Option<&Family>, presented: u32, now: u64, rules: RefreshRules) -> Decision {
    let Some(f) = family else {
        // The first refresh of a session creates its family. Only generation 0 can be first:
        // anything later means the record was lost (purged after its session ended).
        return if presented == 0 {
            Decision::Rotate
        } else {
            Decision::Revoked
        };
    };
    if f.revoked_at.is_some() {
        return Decision::Revoked;
    }
    if presented == f.generation {
        return Decision::Rotate;
    }
    let is_parent = presented.checked_add(1) == Some(f.generation);
    let within = now.saturating_sub(f.rotated_at) < rules.reuse_interval_secs;
    if is_parent && within {
        Decision::SameChild {
            child: f.child.clone(),
        }
    } else {
        Decision::Reuse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: RefreshRules = RefreshRules {
        reuse_interval_secs: 10,
    };

    fn family(generation: u32, rotated_at: u64) -> Family {
        Family {
            generation,
            child: format!("child-{generation}"),
            rotated_at,
            last_used: rotated_at,
            revoked_at: None,
        }
    }

    #[test]
    fn the_first_refresh_creates_the_family() {
        assert_eq!(decide(None, 0, 100, RULES), Decision::Rotate);
        assert_eq!(decide(None, 3, 100, RULES), Decision::Revoked);
    }

    #[test]
    fn the_current_token_rotates() {
        assert_eq!(
            decide(Some(&family(2, 100)), 2, 500, RULES),
            Decision::Rotate
        );
    }

    #[test]
    fn the_parent_within_the_interval_gets_the_same_child() {
        let f = family(3, 100);
        assert_eq!(
            decide(Some(&f), 2, 109, RULES),
            Decision::SameChild {
                child: "child-3".into()
            }
        );
        assert_eq!(
            decide(Some(&f), 2, 110, RULES),
            Decision::Reuse,
            "after the interval"
        );
        assert_eq!(
            decide(Some(&f), 1, 101, RULES),
            Decision::Reuse,
            "a grandparent"
        );
    }

    #[test]
    fn strict_mode_has_no_interval() {
        let strict = RefreshRules {
            reuse_interval_secs: 0,
        };
        assert_eq!(
            decide(Some(&family(3, 100)), 2, 100, strict),
            Decision::Reuse
        );
    }

    #[test]
    fn revoked_families_are_dead() {
        let mut f = family(1, 100);
        f.revoked_at = Some(150);
        assert_eq!(decide(Some(&f), 1, 200, RULES), Decision::Revoked);
        assert_eq!(decide(Some(&f), 0, 101, RULES), Decision::Revoked);
    }

    #[test]
    fn only_the_newest_refresh_token_is_live() {
        assert!(is_live_generation(None, 0));
        assert!(!is_live_generation(None, 1));
        let f = family(3, 100);
        assert!(is_live_generation(Some(&f), 3));
        assert!(!is_live_generation(Some(&f), 2));
        let mut dead = f.clone();
        dead.revoked_at = Some(1);
        assert!(!is_live_generation(Some(&dead), 3));
    }

    #[test]
    fn shards_are_stable_and_spread() {
        let org = OrgId::parse("acme").unwrap();
        assert_eq!(shard_of(&org, "anon_1"), shard_of(&org, "anon_1"));
        let used: std::collections::HashSet<u8> =
            (0..400).map(|i| shard_of(&org, &format!("s{i}"))).collect();
        assert_eq!(
            used.len(),
            SHARDS as usize,
            "400 subjects reach every shard"
        );
        assert!(used.iter().all(|s| *s < SHARDS));
        assert_eq!(shard_name(&org, 7), "acme/07");
    }
}
