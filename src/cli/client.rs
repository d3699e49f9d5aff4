//! The CLI's connection to the worker: which credential to use (from the environment only, never
//! argv), and one function per HTTP call that returns the status and JSON body.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::admin_credential::{admin_audience, mint};
use crate::ids::random_id;
use crate::org_key::{decode_secret, is_key_id};

pub const KEY_ID_ENV: &str = "TX_KEY_ID";
pub const KEY_SECRET_ENV: &str = "TX_KEY_SECRET";
pub const OPERATOR_TOKEN_ENV: &str = "TX_OPERATOR_TOKEN";
/// Lifetime of the credentials the CLI mints for itself: one command, with room for clock skew.
const CREDENTIAL_SECS: u64 = 120;

/// Why a command could not run; each maps to an exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad or missing input (exit 2).
    Usage(String),
    /// The worker answered with an error (exit 1).
    Api { status: u16, body: Value },
    /// The worker could not be reached or answered garbage (exit 3).
    Transport(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Api { .. } => 1,
            Self::Usage(_) => 2,
            Self::Transport(_) => 3,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage(m) => f.write_str(m),
            Self::Transport(m) => write!(f, "cannot reach the worker: {m}"),
            Self::Api { status, body } => {
                let code = body["error"].as_str().unwrap_or("error");
                let description = body["error_description"]
                    .as_str()
                    .or_else(|| body["message"].as_str())
                    .unwrap_or("");
                write!(f, "{status} {code}: {description}")
            }
        }
    }
}

/// The credential a command authenticates with.
pub enum Credential {
    OrgKey { id: String, seed: [u8; 32] },
    Operator(String),
}

impl Credential {
    /// From `TX_KEY_ID` + `TX_KEY_SECRET`, else `TX_OPERATOR_TOKEN`.
    pub fn from_env() -> Result<Self, CliError> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, CliError> {
        match (var(KEY_ID_ENV), var(KEY_SECRET_ENV)) {
            (Some(id), Some(secret)) => {
                if !is_key_id(&id) {
                    return Err(CliError::Usage(format!(
                        "{KEY_ID_ENV} is not a key id (key_…)"
                    )));
                }
                let seed = decode_secret(&secret).ok_or_else(|| {
                    CliError::Usage(format!("{KEY_SECRET_ENV} is not a key secret (sec_…)"))
                })?;
                Ok(Self::OrgKey { id, seed })
            }
            (Some(_), None) | (None, Some(_)) => Err(CliError::Usage(format!(
                "set both {KEY_ID_ENV} and {KEY_SECRET_ENV}"
            ))),
            (None, None) => var(OPERATOR_TOKEN_ENV)
                .map(Self::Operator)
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "no credential: set {KEY_ID_ENV} and {KEY_SECRET_ENV} (an org key), or {OPERATOR_TOKEN_ENV}"
                    ))
                }),
        }
    }

    /// The `Authorization` header value for a call to the worker at `base_url`.
    fn authorization(&self, base_url: &str) -> Result<String, CliError> {
        match self {
            Self::Operator(token) => Ok(format!("Bearer {token}")),
            Self::OrgKey { id, seed } => {
                let token = mint(
                    id,
                    seed,
                    &admin_audience(base_url),
                    now(),
                    CREDENTIAL_SECS,
                    &random_id("", &random16()?),
                )
                .map_err(|e| CliError::Usage(format!("{KEY_SECRET_ENV}: {e}")))?;
                Ok(format!("Bearer {token}"))
            }
        }
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn random16() -> Result<[u8; 16], CliError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| CliError::Usage(format!("no randomness: {e}")))?;
    Ok(b)
}

pub struct Client {
    base_url: String,
    credential: Credential,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(base_url: &str, credential: Credential) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            credential,
            agent,
        }
    }

    /// Calls the admin API (`path` under `/admin/v1`); the JSON body of a 2xx, or the error.
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let url = format!("{}/admin/v1{path}", self.base_url);
        let auth = self.credential.authorization(&self.base_url)?;
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("authorization", &auth)
                .call(),
            (m, body) => {
                let text = body.map(Value::to_string).unwrap_or_default();
                let req = match m {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                req.header("authorization", &auth)
                    .header("content-type", "application/json")
                    .send(text)
            }
        };
        let mut response = result.map_err(|e| CliError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| CliError::Transport(e.to_string()))?;
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|_| CliError::Transport(format!("{status}: not JSON: {text:.200}")))?
        };
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(CliError::Api {
                status,
                body: value,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn credentials_come_from_the_environment() {
        let secret = crate::org_key::encode_secret(&[1; 32]);
        let id = "key_AAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(
            Credential::from_vars(vars(&[(KEY_ID_ENV, id), (KEY_SECRET_ENV, &secret)])),
            Ok(Credential::OrgKey { .. })
        ));
        assert!(matches!(
            Credential::from_vars(vars(&[(OPERATOR_TOKEN_ENV, "t")])),
            Ok(Credential::Operator(_))
        ));
        for bad in [
            vec![(KEY_ID_ENV, id)],
            vec![(KEY_ID_ENV, "nope"), (KEY_SECRET_ENV, secret.as_str())],
            vec![(KEY_ID_ENV, id), (KEY_SECRET_ENV, "sec_short")],
            vec![],
        ] {
            let e = Credential::from_vars(vars(&bad)).err().unwrap();
            assert_eq!(e.exit_code(), 2);
            assert!(!e.to_string().contains(&secret), "never echo the secret");
        }
    }

    #[test]
    fn api_errors_print_code_and_description() {
        let e = CliError::Api {
            status: 403,
            body: serde_json::json!({"error":"insufficient_scope","error_description":"this credential lacks the scope keys:write"}),
        };
        assert_eq!(
            e.to_string(),
            "403 insufficient_scope: this credential lacks the scope keys:write"
        );
        assert_eq!(e.exit_code(), 1);
    }
}
