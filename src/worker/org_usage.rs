//! `OrgUsage`, one SQLite-backed Durable Object per org: tokens issued per calendar month.
//! Isolates add their counts in batches (`limits::QuotaCounter`); no request waits on it except an
//! isolate's first metered request of an org, which reads the month's total once.
//!
//! Storage schema: `usage (month TEXT PRIMARY KEY, count INTEGER)`.

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS usage (month TEXT PRIMARY KEY, count INTEGER NOT NULL);";

/// `/add`: `n` more tokens issued in `month` (0 to read). Answers the month's total.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddUsage {
    pub month: String,
    pub n: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UsageTotal {
    pub total: u64,
}

#[derive(Deserialize)]
struct Count {
    count: f64,
}

#[durable_object]
pub struct OrgUsage {
    state: State,
}

impl DurableObject for OrgUsage {
    fn new(state: State, _env: Env) -> Self {
        let _ = state.storage().sql().exec(SCHEMA, None);
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() != "/add" {
            return Response::error("no such usage operation", 404);
        }
        let add: AddUsage = super::http::request_json(&mut req).await?;
        let sql = self.state.storage().sql();
        sql.exec(
            "INSERT INTO usage (month, count) VALUES (?, ?)
             ON CONFLICT (month) DO UPDATE SET count = count + excluded.count",
            vec![add.month.clone().into(), (add.n as f64).into()],
        )?;
        let rows: Vec<Count> = sql
            .exec(
                "SELECT count FROM usage WHERE month = ?",
                vec![add.month.into()],
            )?
            .to_array()?;
        let total = rows.first().map_or(0, |r| r.count as u64);
        Response::from_json(&UsageTotal { total })
    }
}
