//! `SessionShard`, the SQLite-backed Durable Object that holds one shard of an org's refresh
//! families (one shard per hash of the subject, see `family::shard_of`). Every refresh makes
//! exactly one call here; the decision is `family::decide`, made and written without an `await`
//! in between, so concurrent refreshes of one family are serialized.
//!
//! Storage schema:
//!
//! ```sql
//! families (sid TEXT PRIMARY KEY, sub TEXT, generation INTEGER, child TEXT,
//!           rotated_at INTEGER, last_used INTEGER, expires_at INTEGER, revoked_at INTEGER NULL)
//! revocations (kind TEXT, value TEXT, at INTEGER, expires_at INTEGER, PRIMARY KEY (kind, value))
//! counters (name TEXT PRIMARY KEY, value INTEGER)   -- calls
//! ```
//!
//! Operations: `/refresh` (rotate, repeat the child, or detect reuse; refused when a revocation
//! covers the session), `/revoke` (record a revocation; a session or subject revocation also marks
//! its families revoked), `/check` (is a token covered by a revocation, or a refresh token spent;
//! a single-use token, an admin credential, is spent by it),
//! `/purge` (what the alarm runs, on demand), `/stats`.
//!
//! A family row lives until its session's absolute end (`expires_at`), a revocation until nothing
//! it covers can be valid; an alarm purges expired rows (hourly while any remain), so storage
//! stays bounded by the live sessions that refreshed and the revocations that still matter.

use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::family::{
    decide, is_live_generation, CheckCall, CheckResult, Decision, Family, PurgeCall, RefreshCall,
    RevokeCall, ShardStats,
};
use crate::revocation::{covering, Kind, Revocation, TokenFacts};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS families (
  sid TEXT PRIMARY KEY, sub TEXT NOT NULL, generation INTEGER NOT NULL, child TEXT NOT NULL,
  rotated_at INTEGER NOT NULL, last_used INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  revoked_at INTEGER);
CREATE INDEX IF NOT EXISTS families_expiry ON families (expires_at);
CREATE TABLE IF NOT EXISTS revocations (
  kind TEXT NOT NULL, value TEXT NOT NULL, at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY (kind, value));
CREATE INDEX IF NOT EXISTS revocations_expiry ON revocations (expires_at);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);";

/// How often the purge alarm runs while rows remain.
const PURGE_EVERY_MS: i64 = 3_600_000;

#[durable_object]
pub struct SessionShard {
    state: State,
}

#[derive(Deserialize)]
struct FamilyRow {
    generation: f64,
    child: String,
    rotated_at: f64,
    last_used: f64,
    revoked_at: Option<f64>,
}

#[derive(Deserialize)]
struct RevocationRow {
    at: f64,
}

#[derive(Deserialize)]
struct Count {
    n: f64,
}

/// The shard's `refresh` and `check` calls, as `src/entry.mjs`'s wrapper of this class makes
/// them (their one path): answered from the request body's text, skipping workers-rs'
/// Request/Response conversion and its futures on the hottest Durable Object path. `undefined`
/// when the body is not a call or the storage failed (the wrapper answers 500). The wrapper keeps
/// the purge alarm set after a refresh; `fetch` below does after a revocation.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn shard_call(
    state: worker::worker_sys::DurableObjectState,
    op: &str,
    body: &str,
) -> Option<String> {
    let shard = SessionShard {
        state: State::from(state),
    };
    shard.answer(op, body)
}

/// The purge alarm's period, for `src/entry.mjs`'s wrapper of this class.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn shard_purge_every_ms() -> f64 {
    PURGE_EVERY_MS as f64
}

impl DurableObject for SessionShard {
    fn new(state: State, _env: Env) -> Self {
        // A failure here surfaces on the first query, as a 500 to the worker.
        let _ = state.storage().sql().exec(SCHEMA, None);
        Self { state }
    }

    /// Every call but `refresh` and `check`, which `src/entry.mjs`'s wrapper of this class
    /// answers through [`shard_call`] (and keeps the purge alarm set after a refresh).
    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        if path != "/stats" {
            self.count_call()?;
        }
        match path.as_str() {
            "/revoke" => {
                let call: RevokeCall = super::http::request_json(&mut req).await?;
                self.revoke(&call.revocation)?;
                self.ensure_purge_alarm().await?;
                Response::from_json(&serde_json::json!({ "revoked": true }))
            }
            "/purge" => {
                let call: PurgeCall = super::http::request_json(&mut req).await?;
                self.purge(call.as_of.unwrap_or_else(now_secs))?;
                Response::from_json(&self.stats()?)
            }
            "/stats" => Response::from_json(&self.stats()?),
            _ => Response::error("no such shard operation", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let rows = self.purge(now_secs())?;
        if rows > 0 {
            self.state
                .storage()
                .set_alarm(js_sys::Date::now() as i64 + PURGE_EVERY_MS)
                .await?;
        }
        Response::ok("purged")
    }
}

fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

impl SessionShard {
    /// Reads, decides and writes with no `await` in between: atomic within the object.
    /// A `refresh` or `check` call from its body's text: parsed, counted, decided; its JSON
    /// answer, or `None` for another operation, a body that is not the call, or a storage failure.
    fn answer(&self, op: &str, body: &str) -> Option<String> {
        match op {
            "refresh" => {
                let call: RefreshCall = serde_json::from_str(body).ok()?;
                self.count_call().ok()?;
                serde_json::to_string(&self.refresh(&call).ok()?).ok()
            }
            "check" => {
                let call: CheckCall = serde_json::from_str(body).ok()?;
                self.count_call().ok()?;
                serde_json::to_string(&self.check(&call).ok()?).ok()
            }
            _ => None,
        }
    }

    fn refresh(&self, call: &RefreshCall) -> Result<Decision> {
        let sql = self.state.storage().sql();
        let now = now_secs();
        let family = self.family(&call.sid)?;
        let facts = TokenFacts {
            sub: call.sub.clone(),
            sid: Some(call.sid.clone()),
            issued_at: call.auth_time,
            ..TokenFacts::default()
        };
        let decision = if self.covered(&facts)? {
            if family.as_ref().is_some_and(|f| f.revoked_at.is_none()) {
                self.mark_revoked("sid = ?", &call.sid, now)?;
            }
            Decision::Revoked
        } else {
            decide(family.as_ref(), call.generation, now, call.rules)
        };
        match &decision {
            Decision::Rotate => {
                sql.exec(
                    "INSERT INTO families (sid, sub, generation, child, rotated_at, last_used, expires_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (sid) DO UPDATE SET generation = excluded.generation,
                       child = excluded.child, rotated_at = excluded.rotated_at,
                       last_used = excluded.last_used",
                    vec![
                        call.sid.clone().into(),
                        call.sub.clone().into(),
                        f64::from(call.generation + 1).into(),
                        call.candidate.clone().into(),
                        (now as f64).into(),
                        (now as f64).into(),
                        (call.session_exp as f64).into(),
                    ],
                )?;
            }
            Decision::SameChild { .. } => {
                sql.exec(
                    "UPDATE families SET last_used = ? WHERE sid = ?",
                    vec![(now as f64).into(), call.sid.clone().into()],
                )?;
            }
            Decision::Reuse => self.mark_revoked("sid = ?", &call.sid, now)?,
            Decision::Revoked => {}
        }
        Ok(decision)
    }

    fn family(&self, sid: &str) -> Result<Option<Family>> {
        let rows: Vec<FamilyRow> = self
            .state
            .storage()
            .sql()
            .exec(
                "SELECT generation, child, rotated_at, last_used, revoked_at FROM families WHERE sid = ?",
                vec![sid.to_owned().into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().map(|r| Family {
            generation: r.generation as u32,
            child: r.child,
            rotated_at: r.rotated_at as u64,
            last_used: r.last_used as u64,
            revoked_at: r.revoked_at.map(|t| t as u64),
        }))
    }

    /// Marks the families matching `condition` (on `value`) revoked, if they are not already.
    fn mark_revoked(&self, condition: &str, value: &str, now: u64) -> Result<()> {
        self.state.storage().sql().exec(
            &format!("UPDATE families SET revoked_at = ? WHERE {condition} AND revoked_at IS NULL"),
            vec![(now as f64).into(), value.to_owned().into()],
        )?;
        Ok(())
    }

    /// Whether a stored revocation covers the token or session described.
    fn covered(&self, facts: &TokenFacts) -> Result<bool> {
        let sql = self.state.storage().sql();
        let mut rows = Vec::new();
        for (kind, value) in facts.lookups() {
            let found: Vec<RevocationRow> = sql
                .exec(
                    "SELECT at FROM revocations WHERE kind = ? AND value = ?",
                    vec![kind.name().to_owned().into(), value.to_owned().into()],
                )?
                .to_array()?;
            rows.extend(found.into_iter().map(|r| Revocation {
                kind,
                value: value.to_owned(),
                at: r.at as u64,
                expires_at: 0,
            }));
        }
        Ok(covering(&rows, facts).is_some())
    }

    /// Records a revocation (a later one of the same subject moves its time forward); a session
    /// or subject revocation also marks the families it covers revoked.
    fn revoke(&self, r: &Revocation) -> Result<()> {
        // A session revocation need not outlive the session: when its family is known, its end.
        let expires_at = match r.kind {
            Kind::Sid => {
                let ends: Vec<Count> = self
                    .state
                    .storage()
                    .sql()
                    .exec(
                        "SELECT expires_at AS n FROM families WHERE sid = ?",
                        vec![r.value.clone().into()],
                    )?
                    .to_array()?;
                ends.first()
                    .map_or(r.expires_at, |e| r.expires_at.min(e.n as u64))
            }
            _ => r.expires_at,
        };
        self.state.storage().sql().exec(
            "INSERT INTO revocations (kind, value, at, expires_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (kind, value) DO UPDATE SET at = MAX(at, excluded.at),
               expires_at = MAX(expires_at, excluded.expires_at)",
            vec![
                r.kind.name().to_owned().into(),
                r.value.clone().into(),
                (r.at as f64).into(),
                (expires_at as f64).into(),
            ],
        )?;
        match r.kind {
            Kind::Sid => self.mark_revoked("sid = ?", &r.value, r.at),
            Kind::Sub => self.mark_revoked("sub = ?", &r.value, r.at),
            Kind::Jti | Kind::Kid => Ok(()),
        }
    }

    fn check(&self, call: &CheckCall) -> Result<CheckResult> {
        let facts = &call.facts;
        if self.covered(facts)? {
            return Ok(CheckResult { active: false });
        }
        let family = match &facts.sid {
            Some(sid) => self.family(sid)?,
            None => None,
        };
        let active = match call.generation {
            Some(generation) => is_live_generation(family.as_ref(), generation),
            None => family.is_none_or(|f| f.revoked_at.is_none()),
        };
        // A single-use token is spent now: its jti is recorded like a revocation (checked above,
        // in the same atomic step), kept until the token has expired.
        if let (true, Some(until), Some(jti)) = (active, call.spend_until, &facts.jti) {
            self.revoke(&Revocation {
                kind: Kind::Jti,
                value: jti.clone(),
                at: now_secs(),
                expires_at: until,
            })?;
        }
        Ok(CheckResult { active })
    }

    /// Deletes every row that can no longer matter at `as_of`; returns how many remain.
    fn purge(&self, as_of: u64) -> Result<u64> {
        let sql = self.state.storage().sql();
        for table in ["families", "revocations"] {
            sql.exec(
                &format!("DELETE FROM {table} WHERE expires_at <= ?"),
                vec![(as_of as f64).into()],
            )?;
        }
        Ok(self.count("SELECT COUNT(*) AS n FROM families")?
            + self.count("SELECT COUNT(*) AS n FROM revocations")?)
    }

    fn count_call(&self) -> Result<()> {
        self.state.storage().sql().exec(
            "INSERT INTO counters (name, value) VALUES ('calls', 1)
             ON CONFLICT (name) DO UPDATE SET value = value + 1",
            None,
        )?;
        Ok(())
    }

    async fn ensure_purge_alarm(&self) -> Result<()> {
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_none() {
            storage
                .set_alarm(js_sys::Date::now() as i64 + PURGE_EVERY_MS)
                .await?;
        }
        Ok(())
    }

    fn count(&self, query: &str) -> Result<u64> {
        let rows: Vec<Count> = self.state.storage().sql().exec(query, None)?.to_array()?;
        Ok(rows.first().map_or(0, |r| r.n as u64))
    }

    fn stats(&self) -> Result<ShardStats> {
        Ok(ShardStats {
            families: self.count("SELECT COUNT(*) AS n FROM families")?,
            revoked_families: self
                .count("SELECT COUNT(*) AS n FROM families WHERE revoked_at IS NOT NULL")?,
            revocations: self.count("SELECT COUNT(*) AS n FROM revocations")?,
            calls: self
                .count("SELECT COALESCE(SUM(value), 0) AS n FROM counters WHERE name = 'calls'")?,
        })
    }
}
