//! The last of the older lean exports: introspection of an access token with the operator token
//! (`introspection.rs`), called by `src/entry.mjs` with plain values, declining (`undefined`) to
//! the workers-rs path for everything else (a cold org, org-key credentials, refresh tokens, any
//! error). It goes when introspection is a flow (`crate::flow`), as the anonymous session, the
//! token endpoint and the documents already are.

mod introspection;

use std::rc::Rc;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use worker::Env;

use super::config;
use super::org_cache::{self, OrgContext};
use crate::body::{parse_params, Params};
use crate::cors::allowed_origin;
use crate::org::OrgId;

/// What the entry needs once per isolate, so it stays defined in one place: the version header's
/// value, the CORS `Access-Control-Expose-Headers` value, the body
/// size limit, and the session shards' purge period.
#[wasm_bindgen]
pub fn hot_constants() -> Vec<String> {
    vec![
        crate::request_log::version(option_env!("TX_BUILD_REVISION")),
        crate::reply::EXPOSE_HEADERS.to_owned(),
        crate::body::MAX_BODY_BYTES.to_string(),
        super::session_shard::purge_every_ms().to_string(),
    ]
}

/// The org, if this isolate has validated its configuration and holds the org fresh.
fn warm_org(org: &str) -> Option<Rc<OrgContext>> {
    if !config::validated() {
        return None;
    }
    org_cache::peek(&OrgId::parse(org)?)
}

/// The origin a response is shared with (CORS): `Some(None)` without an `Origin` header, `None`
/// (decline: the full path answers 403) for an origin the org does not allow.
fn shared_with(ctx: &OrgContext, origin: Option<String>) -> Option<Option<String>> {
    match origin {
        None => Some(None),
        Some(o) => Some(Some(
            allowed_origin(&o, &ctx.org.record.settings.allowed_origins)?.to_owned(),
        )),
    }
}

/// What every hot request shares: the warm org, the parsed body, the origin it answers (CORS),
/// its issuer, and, for an issuance, its admission under the org's monthly quota.
struct Warm {
    ctx: Rc<OrgContext>,
    params: Params,
    cors_origin: Option<String>,
    issuer: String,
}

impl Warm {
    /// A request to a warm org, from an origin it allows, with a body that parses.
    fn open(
        env: &Env,
        org: &str,
        request_origin: &str,
        origin: Option<String>,
        content_type: Option<String>,
        body: &[u8],
    ) -> Option<Self> {
        let ctx = warm_org(org)?;
        let cors_origin = shared_with(&ctx, origin)?;
        let params = parse_params(content_type.as_deref(), body).ok()?;
        let issuer = ctx
            .org
            .record
            .issuer(&config::issuer_origin_of(env, request_origin));
        Some(Self {
            ctx,
            params,
            cors_origin,
            issuer,
        })
    }
}

fn optional(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::UNDEFINED, JsValue::from_str)
}

fn bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}
