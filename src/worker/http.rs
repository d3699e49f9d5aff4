//! Response building and request reading: the one place an `ApiError` becomes HTTP.

use worker::{Headers, Request, Response};

use crate::api_error::ApiError;
use crate::body::{parse_params, Params, MAX_BODY_BYTES};
use crate::cors;

/// How a response may be cached.
#[derive(Clone, Copy)]
pub enum Caching {
    /// Token responses and errors: `no-store` (RFC 6749 §5.1).
    NoStore,
    /// Public documents (JWKS, metadata): cacheable by the edge and by verifiers for `max_age` seconds.
    Public { max_age: u32 },
}

impl Caching {
    /// The `Cache-Control` value.
    pub fn header_value(self) -> String {
        match self {
            Self::NoStore => "no-store".to_owned(),
            Self::Public { max_age } => format!("public, max-age={max_age}"),
        }
    }
}

/// What browser code may read of a response: what tells it when to retry.
pub const EXPOSE_HEADERS: &str =
    "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset";

/// Which origin, if any, a response is shared with (CORS).
#[derive(Clone, Debug, Default)]
pub enum CorsGrant {
    #[default]
    None,
    /// Public documents: any origin may read them.
    Any,
    /// An org endpoint, answering an origin the org allows.
    Origin(String),
}

impl CorsGrant {
    pub fn apply(&self, headers: &mut Headers) {
        let origin = match self {
            Self::None => return,
            Self::Any => "*",
            Self::Origin(o) => {
                let _ = headers.append("Vary", "Origin");
                o.as_str()
            }
        };
        let _ = headers.set("Access-Control-Allow-Origin", origin);
        let _ = headers.set("Access-Control-Expose-Headers", EXPOSE_HEADERS);
    }
}

pub fn json(status: u16, body: String, caching: Caching) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    let _ = headers.set("Cache-Control", &caching.header_value());
    if matches!(caching, Caching::NoStore) {
        let _ = headers.set("Pragma", "no-cache");
    }
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body.into_bytes())
}

pub fn error(e: &ApiError) -> Response {
    let mut resp = json(e.status(), e.to_json(), Caching::NoStore);
    let headers = resp.headers_mut();
    match e {
        ApiError::MethodNotAllowed { allow } => {
            let _ = headers.set("Allow", allow);
        }
        ApiError::InvalidToken(_) => {
            let _ = headers.set("WWW-Authenticate", "Bearer error=\"invalid_token\"");
        }
        ApiError::RateLimited { retry_after, .. } => {
            let _ = headers.set("Retry-After", &retry_after.to_string());
        }
        ApiError::InsufficientScope(scope) => {
            let value = format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"");
            let _ = headers.set("WWW-Authenticate", &value);
        }
        _ => {}
    }
    resp
}

/// 204 for a deletion, not to be stored.
pub fn no_content() -> Response {
    empty(204)
}

/// An empty answer with `status`, not to be stored (RFC 7009's 200).
pub fn empty(status: u16) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Cache-Control", "no-store");
    let _ = headers.set("Pragma", "no-cache");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .empty()
}

/// The answer to an allowed CORS preflight.
pub fn preflight() -> Response {
    let headers = Headers::new();
    let _ = headers.set("Access-Control-Allow-Methods", cors::ALLOW_METHODS);
    let _ = headers.set("Access-Control-Allow-Headers", cors::ALLOW_HEADERS);
    let _ = headers.set("Access-Control-Max-Age", cors::MAX_AGE_SECS);
    Response::builder()
        .with_status(204)
        .with_headers(headers)
        .empty()
}

pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// A JSON body of a response from another object (a Durable Object stub), read by the runtime in
/// one call. workers-rs would read it as a stream, a JS crossing and a future per chunk, which
/// costs more than the Durable Object's own work (`make profile ENDPOINT=refresh`).
/// A request to one of our own Durable Objects: POST with `body`, else GET. Built on web-sys
/// rather than workers-rs' `Request::new_with_init`, whose `RequestInit` conversion (headers,
/// `cf` properties, redirect modes) is 11 KB of wasm that these calls do not use.
pub fn internal_request(url: &str, body: Option<&str>) -> Result<Request, ApiError> {
    let init = web_sys::RequestInit::new();
    if let Some(body) = body {
        init.set_method("POST");
        init.set_body(&wasm_bindgen::JsValue::from_str(body));
    }
    web_sys::Request::new_with_str_and_init(url, &init)
        .map(Request::from)
        .map_err(|_| ApiError::Internal)
}

pub async fn response_json<T: serde::de::DeserializeOwned>(res: Response) -> Result<T, ApiError> {
    let res = web_sys::Response::from(res);
    let text = res.text().map_err(|_| ApiError::Internal)?;
    let text = wasm_bindgen_futures::JsFuture::from(text)
        .await
        .map_err(|_| ApiError::Internal)?;
    serde_json::from_str(&text.as_string().unwrap_or_default()).map_err(|_| ApiError::Internal)
}

/// A JSON request body sent to a Durable Object, parsed by serde_json from its text (workers-rs'
/// `json` parses in JS and converts field by field).
pub async fn request_json<T: serde::de::DeserializeOwned>(req: &mut Request) -> worker::Result<T> {
    let text = req.text().await?;
    serde_json::from_str(&text).map_err(|e| worker::Error::RustError(e.to_string()))
}

/// The request's parameters: its body read (with the size limit) and parsed as form or JSON.
pub async fn read_params(req: &mut Request) -> Result<Params, ApiError> {
    let body = read_body(req).await?;
    parse_params(header(req, "Content-Type").as_deref(), &body)
}

/// Reads the body, refusing with 413 anything above the limit (by `Content-Length` before reading,
/// and by actual size after, for chunked bodies).
pub async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    let too_large = ApiError::PayloadTooLarge {
        limit: MAX_BODY_BYTES,
    };
    if let Some(len) = header(req, "Content-Length") {
        if len
            .trim()
            .parse::<usize>()
            .map_or(true, |n| n > MAX_BODY_BYTES)
        {
            return Err(too_large);
        }
    }
    let body = req
        .bytes()
        .await
        .map_err(|_| ApiError::invalid_request("could not read the request body"))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large);
    }
    Ok(body)
}
