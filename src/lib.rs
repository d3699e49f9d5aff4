//! token-exchange: the auth endpoint of a multi-tenant platform.
//!
//! Everything except `worker` is the pure core: no `worker` types, deterministic (time and randomness
//! are passed in), unit-tested natively with `cargo test`. `worker` (wasm32 only) is the thin layer
//! that routes requests, touches KV and WebCrypto, and builds responses.

pub mod admin_credential;
pub mod admin_scope;
pub mod api_error;
pub mod audit;
pub mod body;
pub mod bounded_map;
pub mod civil_time;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod cors;
pub mod deploy_config;
pub mod discovery;
pub mod exchange;
pub mod family;
pub mod flow;
pub mod ids;
pub mod introspection;
pub mod issuance;
pub mod jose;
pub mod limits;
pub mod org;
pub mod org_key;
pub mod org_state;
pub mod principal;
pub mod provider;
pub mod refresh_token;
pub mod reply;
pub mod request_log;
pub mod request_url;
pub mod revocation;
pub mod route;
pub mod scope_set;
pub mod secret;
pub mod session;
pub mod signing_key;

#[cfg(target_arch = "wasm32")]
mod worker;
