//! Rate limits and quotas. Per client IP, new anonymous sessions are limited by the runtime's Rate
//! Limiting binding, at the tier the org picks. Per org, tokens issued in a calendar month (UTC)
//! are limited by the org's plan; they are counted in the isolate and flushed to the org's usage
//! object in batches, so no request waits on a Durable Object for it.

use serde::{Deserialize, Serialize};

use crate::civil_time::{civil_from_days, days_from_civil};

/// How many new anonymous sessions one client IP may start per minute, per org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AnonymousRateLimit {
    Off,
    Strict,
    #[default]
    Standard,
    Relaxed,
}

impl AnonymousRateLimit {
    /// The Rate Limiting binding that enforces the tier (wrangler.toml `[[ratelimits]]`).
    pub fn binding(self) -> Option<&'static str> {
        match self {
            Self::Off => None,
            Self::Strict => Some("ANON_RATE_STRICT"),
            Self::Standard => Some("ANON_RATE_STANDARD"),
            Self::Relaxed => Some("ANON_RATE_RELAXED"),
        }
    }

    /// Sessions per [`RATE_PERIOD_SECS`] (what the binding is configured with).
    pub fn per_minute(self) -> Option<u64> {
        match self {
            Self::Off => None,
            Self::Strict => Some(10),
            Self::Standard => Some(30),
            Self::Relaxed => Some(120),
        }
    }
}

/// The Rate Limiting binding's window.
pub const RATE_PERIOD_SECS: u64 = 60;

/// An org's plan: how many tokens it may be issued per calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Free,
    Pro,
    Enterprise,
}

impl Tier {
    pub fn monthly_quota(self) -> Option<u64> {
        match self {
            Self::Free => Some(10_000),
            Self::Pro => Some(100_000),
            Self::Enterprise => None,
        }
    }
}

/// The quota month of `now` (`"2026-11"`) and when it ends (the next month's first second, UTC).
pub fn quota_month(now: u64) -> (String, u64) {
    let (y, m, _) = civil_from_days((now / 86_400) as i64);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let reset = days_from_civil(ny, nm, 1) * 86_400;
    (format!("{y:04}-{m:02}"), reset.max(0) as u64)
}

/// An isolate's count of an org's issuance this month: what the usage object confirmed at the last
/// flush, plus what this isolate issued since. A flush is due after [`FLUSH_EVERY`] requests or
/// [`FLUSH_AFTER_MS`], whichever comes first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaCounter {
    pub month: String,
    pub confirmed: u64,
    pub pending: u64,
    pub last_flush_ms: u64,
    pub flushing: bool,
}

pub const FLUSH_EVERY: u64 = 50;
pub const FLUSH_AFTER_MS: u64 = 10_000;

/// The answer to one metered request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    pub reset: u64,
}

impl QuotaCounter {
    /// Starts counting `month` afresh if the counter holds another one.
    fn enter(&mut self, month: &str, now_ms: u64) {
        if self.month != month {
            *self = Self {
                month: month.to_owned(),
                last_flush_ms: now_ms,
                ..Self::default()
            };
        }
    }

    /// The month's total as the usage object knows it, read when an isolate starts metering an org.
    pub fn load(&mut self, month: &str, total: u64, now_ms: u64) {
        self.enter(month, now_ms);
        self.confirmed = self.confirmed.max(total);
    }

    /// Counts one request of `month` against `limit`, if it fits.
    pub fn admit(&mut self, month: &str, reset: u64, limit: u64, now_ms: u64) -> Admission {
        self.enter(month, now_ms);
        let used = self.confirmed + self.pending;
        let allowed = used < limit;
        if allowed {
            self.pending += 1;
        }
        Admission {
            allowed,
            limit,
            remaining: limit.saturating_sub(self.confirmed + self.pending),
            reset,
        }
    }

    /// The count to send to the usage object now, if a flush is due (and none is under way).
    pub fn take_flush(&mut self, now_ms: u64) -> Option<u64> {
        let due = self.pending >= FLUSH_EVERY
            || (self.pending > 0 && now_ms.saturating_sub(self.last_flush_ms) >= FLUSH_AFTER_MS);
        if !due || self.flushing {
            return None;
        }
        self.flushing = true;
        self.last_flush_ms = now_ms;
        let n = self.pending;
        self.pending = 0;
        Some(n)
    }

    /// The usage object's total after a flush of `month` (which includes what was flushed).
    pub fn confirm(&mut self, month: &str, total: Option<u64>, flushed: u64) {
        self.flushing = false;
        if self.month != month {
            return;
        }
        match total {
            Some(total) => self.confirmed = self.confirmed.max(total),
            // The flush failed: count it again next time.
            None => self.pending += flushed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_resets() {
        assert_eq!(quota_month(0), ("1970-01".into(), 31 * 86_400));
        // 2026-11-25 → resets 2026-12-01T00:00:00Z.
        assert_eq!(
            quota_month(1_795_614_566),
            ("2026-11".into(), 1_796_083_200)
        );
        // December rolls into January.
        let (m, reset) = quota_month(1_798_761_600 - 1); // 2026-12-31T23:59:59Z
        assert_eq!((m.as_str(), reset), ("2026-12", 1_798_761_600)); // 2027-01-01T00:00:00Z
        assert_eq!(quota_month(951_782_400).0, "2000-02");
    }

    #[test]
    fn admission_counts_until_the_limit() {
        let mut c = QuotaCounter::default();
        for i in 0..3 {
            let a = c.admit("2026-11", 99, 3, 0);
            assert!(a.allowed);
            assert_eq!(a.remaining, 2 - i);
        }
        let a = c.admit("2026-11", 99, 3, 0);
        assert!(!a.allowed);
        assert_eq!((a.remaining, a.reset), (0, 99));
        assert!(
            c.admit("2026-12", 199, 3, 0).allowed,
            "a new month starts over"
        );
    }

    #[test]
    fn an_isolate_starts_from_the_month_total() {
        let mut c = QuotaCounter::default();
        c.load("2026-11", 9, 5_000);
        assert_eq!(
            c.last_flush_ms, 5_000,
            "no flush is due the moment it starts"
        );
        let a = c.admit("2026-11", 99, 10, 5_001);
        assert!(a.allowed);
        assert_eq!(a.remaining, 0);
        assert!(!c.admit("2026-11", 99, 10, 5_002).allowed);
        c.load("2026-12", 3, 6_000);
        assert_eq!((c.confirmed, c.pending), (3, 0), "a new month starts over");
    }

    #[test]
    fn flushes_batch_and_confirm() {
        let mut c = QuotaCounter::default();
        for _ in 0..FLUSH_EVERY - 1 {
            c.admit("m", 0, 1_000_000, 0);
        }
        assert_eq!(
            c.take_flush(1),
            None,
            "neither enough requests nor enough time"
        );
        c.admit("m", 0, 1_000_000, 0);
        assert_eq!(c.take_flush(2), Some(FLUSH_EVERY));
        c.admit("m", 0, 1_000_000, 0);
        assert_eq!(
            c.take_flush(FLUSH_AFTER_MS * 3),
            None,
            "one flush at a time"
        );
        c.confirm("m", Some(FLUSH_EVERY + 40), FLUSH_EVERY);
        assert_eq!(
            c.confirmed,
            FLUSH_EVERY + 40,
            "other isolates' counts arrive with the total"
        );
        assert_eq!(
            c.take_flush(FLUSH_AFTER_MS * 3),
            Some(1),
            "time makes a small batch due"
        );
        c.confirm("m", None, 1);
        assert_eq!(c.pending, 1, "a failed flush is retried");
    }

    #[test]
    fn tiers() {
        assert_eq!(Tier::Free.monthly_quota(), Some(10_000));
        assert_eq!(Tier::Pro.monthly_quota(), Some(100_000));
        assert_eq!(Tier::Enterprise.monthly_quota(), None);
        assert_eq!(AnonymousRateLimit::default(), AnonymousRateLimit::Standard);
        assert_eq!(AnonymousRateLimit::Off.binding(), None);
        assert_eq!(AnonymousRateLimit::Strict.per_minute(), Some(10));
    }
}
