// The worker's entry module (wrangler's `main`; scripts/build-worker.sh copies it next to the
// bundle worker-build makes, build/index.js). One entry, two paths:
//
// - Hot path: a new anonymous session, the refresh-token and token-exchange grants, the JWKS,
//   introspection of an access token with the operator token, and the session shards' refresh
//   and check calls: the requests clients and servers make most.
//   This module reads the request, calls plain wasm-bindgen exports (src/worker/hot/) with plain
//   values, awaits WebCrypto itself and builds the response. Rust still decides everything (org
//   cache, parsing, checks, claims, quota); what is skipped is the workers-rs machinery around it
//   (Request/Response conversion, a JS crossing per header, a wasm-bindgen-futures task per
//   await, the WorkerEntrypoint class and Proxies per request), which cost more than the work
//   itself (bench/results/history.md).
// - Full path: everything else, and any hot request the exports decline (answer `undefined`):
//   a cold isolate or org, an invalid request, an error. workers-rs serves it, authoritatively.
//
// worker-build's own default export re-creates the wasm instance after a crash; the generated
// glue called here does the same check on every call, and the Durable Object classes keep
// worker-build's wrappers.
import Rust, { OrgUsage, SessionShard as RustSessionShard } from './index.js';

const rust = Rust.prototype;
const [VERSION, EXPOSE_HEADERS, MAX_BODY_BYTES, PURGE_EVERY_MS] = rust.hot_constants();
const HOT_PATH = /^\/orgs\/([a-z0-9][a-z0-9-]{0,62})\/introspect$/;

export default {
  async fetch(request, env, ctx) {
    const { origin, path } = split(request.url);
    const hot = HOT_PATH.exec(path);
    if (hot !== null && request.method === 'POST') {
      const started = Date.now();
      const org = hot[1];
      const body = await readBody(request);
      if (body === undefined) return full(request, env, ctx);
      const declined = () => full(new Request(request, { body }), env, ctx);
      return introspect({ request, env, ctx, org, requestOrigin: origin, started, body, declined });
    }
    const need = rust.begin(env, ctx, request.method, request.url, request.headers);
    if (need === undefined) return full(request, env, ctx);
    if (need.kind === 'reply') return answer(need);
    return drive(need.flow, need, request, env);
  },
};

/**
 * Runs a public request's flow (src/flow/, src/worker/driver.rs) from its first effect `need`:
 * performs each effect it names and answers its reply. An effect that throws is reported as
 * `undefined`; the flow decides what that means.
 */
async function drive(flow, need, request, env) {
  for (;;) {
    let result;
    try {
      switch (need.kind) {
        case 'reply':
          flow.free();
          return answer(need);
        case 'rust':
          flow = await rust.perform(flow);
          break;
        case 'read_body':
          result = await readCapped(request, need);
          break;
        case 'limit':
          result = (await env[need.binding].limit({ key: need.key })).success;
          break;
        case 'sign_and_seal':
          result = await signAndSealEffect(need);
          break;
        case 'sign':
          result = new Uint8Array(await crypto.subtle.sign('Ed25519', need.key, need.input));
          break;
        case 'seal':
          result = new Uint8Array(await crypto.subtle.encrypt(
            { name: 'AES-GCM', iv: need.iv, additionalData: need.aad }, need.key, need.plaintext));
          break;
        case 'open':
          result = await openEffect(need);
          break;
        case 'shard_call':
          result = await shardCall(env[need.binding], need);
          break;
        case 'verify':
          result = await crypto.subtle.verify(need.algorithm, need.key, need.signature, need.input);
          break;
      }
    } catch {}
    need = flow.next(result);
  }
}

/** An `open` effect: the plaintext of the first key that opens the ciphertext, if any. */
async function openEffect({ keys, iv, aad, ciphertext }) {
  for (const key of keys) {
    try {
      return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, ciphertext));
    } catch {}
  }
  return undefined;
}

/** A `shard_call` effect: the session shard's JSON answer, or `undefined` unless it answers 200. */
async function shardCall(shards, { shard, op, body }) {
  const res = await shards.get(shards.idFromName(shard)).fetch(`https://shard/${op}`, { method: 'POST', body });
  return res.status === 200 ? res.text() : undefined;
}

/** A flow's reply, with its log line. */
function answer(reply) {
  console.log(reply.log);
  return new Response(reply.body, { status: reply.status, headers: reply.headers });
}

/**
 * A `read_body` effect: the body, up to `limit + 1` bytes. A declared length was checked by the
 * flow, so that body is read at once; one of unknown length is read as a stream and left once it
 * passes the limit.
 */
async function readCapped(request, { limit, declared }) {
  if (request.body === null) return new Uint8Array(0);
  if (declared) return new Uint8Array(await request.arrayBuffer());
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  while (size <= limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  if (size > limit) reader.cancel().catch(() => {});
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/** A `sign_and_seal` effect: the access token's Ed25519 signature and the refresh token's AES-GCM seal. */
async function signAndSealEffect({ signKey, input, sealKey, iv, aad, plaintext }) {
  const [signature, sealed] = await Promise.all([
    crypto.subtle.sign('Ed25519', signKey, input),
    crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, sealKey, plaintext),
  ]);
  return { signature: new Uint8Array(signature), sealed: new Uint8Array(sealed) };
}

/**
 * `scheme://host[:port]` and the path of an absolute request URL (what the runtime gives), without
 * the cost of a URL object; the full path parses URLs properly for everything else.
 */
function split(url) {
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  if (slash < 0) return { origin: url, path: '/' };
  const query = url.indexOf('?', slash);
  return { origin: url.slice(0, slash), path: url.slice(slash, query < 0 ? undefined : query) };
}

/**
 * The session shard Durable Object (src/worker/session_shard.rs): its `refresh` and `check` calls,
 * one per refresh, introspection or actor token, go straight to `hot_shard_call` with the body's
 * text; everything else (revocations, purges, stats, the alarm) to the workers-rs class, which
 * also creates the schema.
 */
const SHARD_CALLS = { 'https://shard/refresh': 'refresh', 'https://shard/check': 'check' };

export class SessionShard {
  constructor(state, env) {
    this.state = state;
    this.shard = new RustSessionShard(state, env);
  }

  async fetch(request) {
    const op = SHARD_CALLS[request.url];
    if (op === undefined) return this.shard.fetch(request);
    const answer = rust.hot_shard_call(this.state, op, await request.text());
    if (answer === undefined) return new Response('shard call failed', { status: 500 });
    if (op === 'refresh') {
      const storage = this.state.storage;
      if ((await storage.getAlarm()) === null) await storage.setAlarm(Date.now() + Number(PURGE_EVERY_MS));
    }
    return new Response(answer, { headers: { 'content-type': 'application/json' } });
  }

  alarm() {
    return this.shard.alarm();
  }
}

export { OrgUsage };

/** The workers-rs path. */
function full(request, env, ctx) {
  return rust.fetch.call({ env, ctx }, request);
}

/** The body of a hot POST, or `undefined` when it is too large (the full path answers 413). */
async function readBody(request) {
  const length = request.headers.get('content-length');
  if (length !== null && !(Number(length) <= Number(MAX_BODY_BYTES))) return undefined;
  if (length === '0' || request.body === null) return new Uint8Array(0);
  return new Uint8Array(await request.arrayBuffer());
}

/**
 * Introspection (RFC 7662) of an access token by the operator (src/worker/hot/introspection.rs):
 * its signature, then the subject's shard's revocation check. Nothing here has a side effect, so
 * any failure hands the request to the full path, which answers it from the start.
 */
async function introspect({ request, env, org, requestOrigin, started, body, declined }) {
  const headers = request.headers;
  const issue = rust.hot_introspect(env, org, requestOrigin, headers.get('origin'), headers.get('content-type'),
    headers.get('authorization'), body);
  if (issue === undefined) return declined();
  let answer;
  try {
    const [key, signature, input] = issue.verify_parts;
    const call = (await crypto.subtle.verify('Ed25519', key, signature, input)) ? issue.verified() : undefined;
    if (call !== undefined) {
      const shards = env.SESSIONS;
      const res = await shards.get(shards.idFromName(call[0])).fetch('https://shard/check', { method: 'POST', body: call[1] });
      if (res.status === 200) answer = await res.text();
    }
  } catch {}
  const cors = issue.cors;
  if (answer === undefined) {
    issue.free();
    return declined();
  }
  const out = issue.finish(answer);
  if (out === undefined) return declined();
  return respond(request, started, 'introspect', org, 200, out, tokenHeaders(cors));
}

/** The headers of a token response: not stored, shared with `cors` (an origin) if any, quota. */
function tokenHeaders(cors, quota) {
  const headers = { 'cache-control': 'no-store', pragma: 'no-cache' };
  if (cors !== undefined) {
    headers['access-control-allow-origin'] = cors;
    headers.vary = 'Origin';
    headers['access-control-expose-headers'] = EXPOSE_HEADERS;
  }
  if (quota !== undefined) {
    headers['x-ratelimit-limit'] = String(quota[0]);
    headers['x-ratelimit-remaining'] = String(quota[1]);
    headers['x-ratelimit-reset'] = String(quota[2]);
  }
  return headers;
}

/** The response, with the headers and the one log line every response of the worker has (src/request_log.rs). */
function respond(request, started, endpoint, org, status, body, headers, outcome = 'ok') {
  const requestId = requestIdOf(request.headers.get('cf-ray'));
  headers['content-type'] = 'application/json';
  headers['x-request-id'] = requestId;
  headers['x-token-exchange-version'] = VERSION;
  console.log(JSON.stringify({
    request_id: requestId, method: request.method, endpoint, org, status, outcome, duration_ms: Date.now() - started,
  }));
  return new Response(body, { status, headers });
}

/** The edge's `cf-ray` when present and printable, else 8 random bytes in hex (as request_log::request_id). */
function requestIdOf(ray) {
  if (ray !== null && ray.length > 0 && ray.length <= 64 && /^[\x21-\x7e]+$/.test(ray)) return ray;
  crypto.getRandomValues(ID_BYTES);
  return ID_VIEW.getBigUint64(0).toString(16).padStart(16, '0');
}

/** Scratch space for request ids: 8 random bytes, read as one 64-bit number. */
const ID_BYTES = new Uint8Array(8);
const ID_VIEW = new DataView(ID_BYTES.buffer);
