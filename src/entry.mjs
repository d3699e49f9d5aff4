// The worker's entry module (wrangler's `main`; scripts/build-worker.sh copies it next to the
// bundle worker-build makes, build/index.js). Every public endpoint and its CORS preflight is a
// flow (src/flow/): `drive` performs the effects the flow names and answers its reply
// (src/worker/driver.rs says which effects Rust performs itself). Everything else (the admin API,
// /healthz, unknown paths and methods) goes to the workers-rs `fetch`. Why a JavaScript driver:
// README, "How it is built".
//
// worker-build's own default export re-creates the wasm instance after a crash; the generated
// glue called here does the same check on every call, and the Durable Object classes keep
// worker-build's wrappers.
import Rust, { OrgUsage, SessionShard as RustSessionShard } from './index.js';

const rust = Rust.prototype;
const PURGE_EVERY_MS = rust.shard_purge_every_ms();

export default {
  fetch(request, env, ctx) {
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
 * The session shard Durable Object (src/worker/session_shard.rs): its `refresh` and `check` calls,
 * one per refresh, introspection or actor token, go straight to `shard_call` with the body's
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
    const answer = rust.shard_call(this.state, op, await request.text());
    if (answer === undefined) return new Response('shard call failed', { status: 500 });
    if (op === 'refresh') {
      const storage = this.state.storage;
      if ((await storage.getAlarm()) === null) await storage.setAlarm(Date.now() + PURGE_EVERY_MS);
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
