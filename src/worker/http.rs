//! Reading requests and turning a [`Reply`] into a workers-rs `Response` (the replies themselves,
//! errors included, are built by `crate::reply`).

use worker::{Headers, Request, Response};

use crate::api_error::ApiError;
use crate::body::MAX_BODY_BYTES;
pub use crate::reply::Caching;
use crate::reply::Reply;

/// The reply as a workers-rs response.
pub fn response(reply: Reply) -> Response {
    let headers = Headers::new();
    for (name, value) in &reply.headers {
        let _ = headers.append(name, value);
    }
    let builder = Response::builder()
        .with_status(reply.status)
        .with_headers(headers);
    match reply.body {
        Some(body) => builder.fixed(body.into_bytes()),
        None => builder.empty(),
    }
}

pub fn json(status: u16, body: String, caching: Caching) -> Response {
    response(Reply::json(status, body, caching))
}

pub fn error(e: &ApiError) -> Response {
    response(Reply::error(e))
}

/// 204 for a deletion, not to be stored.
pub fn no_content() -> Response {
    empty(204)
}

/// An empty answer with `status`, not to be stored (RFC 7009's 200).
pub fn empty(status: u16) -> Response {
    response(Reply::empty(status))
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
