//! `GET /healthz`: is this worker fit to serve? The configuration (environment, development
//! settings, bindings, master key) and a KV read. No secret and no org data in the answer.

use serde_json::json;
use worker::{Env, Response};

use super::http::{self, Caching};
use super::{config, kv};
use crate::api_error::ApiError;
use crate::request_log::version;

pub async fn check(env: &Env, method: &str) -> Result<Response, ApiError> {
    if method != "GET" && method != "HEAD" {
        return Err(ApiError::MethodNotAllowed { allow: "GET" });
    }
    let config = config::validate(env).await;
    let store = match &config {
        Ok(_) => match config::orgs_kv(env) {
            Ok(store) => kv::probe(&store)
                .await
                .map_err(|_| "KV read failed".to_owned()),
            Err(e) => Err(e.description()),
        },
        Err(_) => Err("not checked".to_owned()),
    };
    let healthy = config.is_ok() && store.is_ok();
    let body = json!({
        "status": if healthy { "ok" } else { "unavailable" },
        "version": version(option_env!("TX_BUILD_REVISION")),
        "environment": config.as_ref().map(|e| e.name()).unwrap_or("unknown"),
        "checks": {
            "config": config.as_ref().map(|_| "ok".to_owned()).unwrap_or_else(|e| e.description()),
            "kv": store.map(|_| "ok".to_owned()).unwrap_or_else(|e| e),
        }
    });
    Ok(http::json(
        if healthy { 200 } else { 503 },
        body.to_string(),
        Caching::NoStore,
    ))
}
