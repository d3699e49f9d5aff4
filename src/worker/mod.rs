//! The worker layer: the effects of the public flows (`driver`), the workers-rs path of the admin
//! API and `/healthz` (this module's `fetch`), the Durable Objects, and the glue to KV and
//! WebCrypto. Thin on purpose; every decision it makes is a call into a pure module.

mod admin;
mod admin_call;
mod auth;
mod clock;
mod config;
mod driver;
mod health;
mod http;
mod kv;
mod metering;
mod org_cache;
mod org_keys;
mod org_usage;
mod providers;
mod revocations;
mod sealing;
mod session_shard;
mod shards;
mod upstream_keys;
mod webcrypto;

use worker::{console_log, event, Context, Env, Request, Response};

use crate::api_error::ApiError;
use crate::request_log::{request_id, version, LogLine};
use crate::request_url::RequestUrl;
use crate::route::{dispatch, Dispatch, Route};

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let started = clock::now_ms();
    let random: [u8; 8] = webcrypto::random().unwrap_or_default();
    let request_id = request_id(http::header(&req, "cf-ray").as_deref(), &random);
    let mut route = None;
    let result = serve(&mut req, &env, &ctx, &mut route).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    let mut response = result.unwrap_or_else(|e| http::error(&e));
    let headers = response.headers_mut();
    let _ = headers.set("X-Request-Id", &request_id);
    let _ = headers.set(
        "X-Token-Exchange-Version",
        &version(option_env!("TX_BUILD_REVISION")),
    );
    let method = req.method();
    let line = LogLine {
        request_id: &request_id,
        method: method.as_ref(),
        endpoint: route.as_ref().map_or("none", |r: &Route| r.endpoint.name()),
        org: route.as_ref().map(|r| r.org.as_str()),
        status: response.status_code(),
        outcome,
        duration_ms: clock::now_ms().saturating_sub(started),
    };
    console_log!("{}", line.to_json());
    Ok(response)
}

async fn serve(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    logged: &mut Option<Route>,
) -> Result<Response, ApiError> {
    let raw_url = req.inner().url();
    let url =
        RequestUrl::parse(&raw_url).ok_or_else(|| ApiError::invalid_request("malformed URL"))?;
    let method = req.method().to_string();
    let dispatched = dispatch(&method, url.path());
    // The health check reports a bad configuration; everything else is refused with it (503).
    if !matches!(dispatched, Ok(Dispatch::Health)) {
        config::validate(env).await?;
    }
    let dispatched = dispatched?;
    if let Dispatch::Preflight(r) | Dispatch::Handle(r) = &dispatched {
        *logged = Some(r.clone());
    }
    match dispatched {
        Dispatch::Health => boxed(health::check(env, &method)).await,
        Dispatch::ListOrgs => boxed(admin::list_orgs(req, env, ctx, &url)).await,
        // The public endpoints and their preflights are flows (`crate::flow`, `driver`): the
        // entry never hands them here.
        Dispatch::Preflight(_) => Err(ApiError::NotFound),
        Dispatch::Handle(route) if route.endpoint.is_public() => Err(ApiError::NotFound),
        Dispatch::Handle(route) => boxed(admin::handle(req, env, ctx, &route, &url)).await,
    }
}

/// A handler's future, boxed: compiled as a function of its own instead of inlined into its
/// caller's state machine. Startup: V8 compiles wasm functions lazily, on first call, so a cold
/// isolate compiles only the handlers its first requests reach. Inlined, the whole workers-rs
/// path was one 175 KB function, and a fresh isolate's first request took 25 ms instead of 15
/// (bench/results/history.md). The cost is one allocation per boxed call, on the workers-rs path
/// only: the public endpoints (flows) never come here.
fn boxed<'a, T>(
    future: impl std::future::Future<Output = T> + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>> {
    Box::pin(future)
}
