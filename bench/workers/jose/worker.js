// The benchmark baseline: the hot endpoints of the Rust token-exchange worker, written the way a
// JavaScript developer would with npm `jose`, doing the same work, so CPU per request compares.
//
// How this is equivalent to the Rust worker, and where it differs
// ----------------------------------------------------------------
// Same on every request: the path routing and its 404/405 answers, CORS (documents `*`; org
// endpoints only for an allowed Origin, else 403), the org's context from an isolate cache (one KV
// read when cold, kept 30 s like src/worker/org_cache.rs; unknown orgs 5 s), the body rules of
// src/body.rs (16 KiB, form or JSON object of strings, repeated parameter refused, empty = absent),
// an X-Request-Id (cf-ray, else 8 random bytes as hex), X-Token-Exchange-Version, one JSON log line
// per request (request_id, method, endpoint, org, status, outcome, duration_ms), and OAuth JSON
// errors with no-store.
// - Anonymous session: one draw of 76 random bytes (ids, nonce, iv), the same access-token claims
//   in the same order and header {alg: EdDSA, typ: at+jwt, kid}, one Ed25519 signature through
//   WebCrypto (jose SignJWT), one AES-256-GCM seal through WebCrypto of the same refresh payload
//   (`rt1.` + base64url(iv || ct), AAD naming the org) under a key derived by HKDF-SHA-256 once per
//   org load, the same response members. No Durable Object, no KV when warm.
// - Refresh: open (AES-GCM), the same org/expiry/idle checks and scope narrowing, seal the child,
//   exactly one Durable Object call (POST /refresh, the same JSON body) to the shard of the subject
//   (32 per org, named `{org}/{nn}`), which counts the call, looks up the family and the sub and sid
//   revocations, decides (rotate, same child within the reuse interval, reuse revokes the family,
//   revoked) and writes in SQLite with no await in between, then makes sure a purge alarm is set;
//   then one signature.
// - Token exchange: the same parameter checks, the claimed `iss` read before verification to pick
//   the provider, the signature checked against the provider's JWKS (fetched with a 5 s timeout,
//   cached in the isolate per provider version, an unknown kid refetches at most once per 10 s),
//   the same claim checks (alg allow-list, iss, aud one of, sub, exp/nbf/iat with the provider's
//   leeway, max age), scope narrowing, audience/resource targets, claim mapping with its size caps,
//   then a session started like an anonymous one. No Durable Object unless an actor_token is given
//   (then one /check call, as ours).
// - JWKS: the body serialized once per org load; Cache-Control public, max-age=300.
// - Introspection: operator bearer token compared in constant time after SHA-256 of both sides;
//   the access token verified (EdDSA, our kid, iss, exp/nbf/iat with 30 s leeway, sub), then one
//   Durable Object call (/check with sub, sid, jti, kid) and the claims + active + token_type.
//   Refresh tokens are introspected as ours (open, checks, /check with the generation).
// Differences (known):
// - The org record is one KV value (settings, the private signing JWK, a 32-byte refresh secret,
//   providers); ours reads the org, its signing keys, org keys and providers, opens the sealed seed
//   with MASTER_KEY and keeps one HKDF master key per isolate. Cold path only (once per 30 s).
// - The issuer URL is the record's `issuer` (seed.mjs); ours formats it per request from the
//   ISSUER_ORIGIN var or the request's origin. Same value, `{origin}/orgs/{org}`; aud the same.
// - jose, not hand-written code: SignJWT structured-clones the claims and encodes the header on
//   every signature (ours encodes the header once); JSON.parse cannot refuse duplicate members (our
//   strict parser does); jose decodes base64url leniently; a refresh payload is checked for its
//   fields' presence here, by serde with deny_unknown_fields in ours.
// - The operator token's two SHA-256 are WebCrypto digests here (two async calls), sha2 in wasm
//   in ours; the comparison is crypto.subtle.timingSafeEqual.
// - A 500 also goes to console.error (ours logs only the JSON line; its outcome says server_error).
// - Signatures are checked through WebCrypto on both sides (RS256, and EdDSA for upstream tokens
//   and for our own tokens: introspection, actor tokens).
// - createRemoteJWKSet keeps a JWKS for a fixed 300 s (ours: the response's max-age clamped to
//   60 s..24 h, 300 s by default and for the fake IdP), refetches on an unknown kid after a 10 s
//   cooldown since the last fetch (ours: since the last unknown-kid refetch), and has no
//   stale-if-error (a failed refetch is 503 here; ours keeps serving the old keys). It filters the
//   key set per verification, as our `select` does. HS256 providers and inline JWKS: not here.
// - The shard hash is FNV-1a of `org\0sub` in JS (ours: the first byte of SHA-256 in wasm).
// - Not here: metering (the benchmark org's tier has none), per-IP limits (its tier is off),
//   org-key credentials and org-key-minted tokens, metadata, revoke, admin, health; the shard
//   implements /refresh, /check (without single-use spending) and /revoke (for the smoke check).
import { DurableObject } from 'cloudflare:workers';
import { SignJWT, jwtVerify, importJWK, createRemoteJWKSet, decodeJwt, base64url, errors } from 'jose';

const VERSION = '0.1.0+jose';
const enc = new TextEncoder();
const dec = new TextDecoder();
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const TT_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const TT_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const REFRESH_INFO = 'token-exchange/v1/refresh-token/';
const REFRESH_AAD = 'token-exchange/refresh-token/v1/';
const SHARDS = 32;
const MAX_BODY = 16 * 1024;
const DOCUMENT_MAX_AGE = 300;
const EXPOSE = 'Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset';
const PATH = /^\/orgs\/([a-z0-9][a-z0-9-]{0,62})\/(sessions\/anonymous|token|introspect|\.well-known\/jwks\.json)$/;
const ENDPOINTS = {
  'sessions/anonymous': ['anonymous_session', 'POST'],
  token: ['token', 'POST'],
  introspect: ['introspect', 'POST'],
  '.well-known/jwks.json': ['jwks', 'GET'],
};

class OAuthError extends Error {
  constructor(status, code, description, headers = {}) {
    super(description);
    Object.assign(this, { status, code, headers });
  }
}
const invalidRequest = (d) => new OAuthError(400, 'invalid_request', d);
const invalidGrant = (d) => new OAuthError(400, 'invalid_grant', d);
const invalidScope = (d) => new OAuthError(400, 'invalid_scope', d);
const rejected = (why) => invalidRequest(`subject_token rejected: ${why}`);
const unavailable = (d) => new OAuthError(503, 'temporarily_unavailable', d);
const notFound = () => new OAuthError(404, 'not_found', 'no such resource');

const nowSecs = () => Math.floor(Date.now() / 1000);
const b64 = (bytes) => base64url.encode(bytes);
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const validDeviceId = (s) => s.length <= 128 && /^[A-Za-z0-9._:-]+$/.test(s);

function json(status, body, cacheControl = 'no-store') {
  const headers = { 'Content-Type': 'application/json', 'Cache-Control': cacheControl };
  if (cacheControl === 'no-store') headers.Pragma = 'no-cache';
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers });
}

export default {
  async fetch(request, env) {
    const started = Date.now();
    const ray = request.headers.get('cf-ray');
    const requestId = ray && ray.length <= 64 && /^[\x21-\x7e]+$/.test(ray)
      ? ray : hex(crypto.getRandomValues(new Uint8Array(8)));
    const state = { cors: null, route: null };
    let response;
    let outcome = 'ok';
    try {
      response = await serve(request, env, state);
    } catch (e) {
      const err = e instanceof OAuthError ? e : new OAuthError(500, 'server_error', 'internal error');
      if (!(e instanceof OAuthError)) console.error(e);
      outcome = err.code;
      response = json(err.status, { error: err.code, error_description: err.message });
      for (const [k, v] of Object.entries(err.headers)) response.headers.set(k, v);
    }
    if (state.cors) {
      if (state.cors !== '*') response.headers.append('Vary', 'Origin');
      response.headers.set('Access-Control-Allow-Origin', state.cors);
      response.headers.set('Access-Control-Expose-Headers', EXPOSE);
    }
    response.headers.set('X-Request-Id', requestId);
    response.headers.set('X-Token-Exchange-Version', VERSION);
    console.log(JSON.stringify({
      request_id: requestId, method: request.method, endpoint: state.route?.endpoint ?? 'none',
      org: state.route?.org, status: response.status, outcome, duration_ms: Date.now() - started,
    }));
    return response;
  },
};

let validated = false;

async function serve(request, env, state) {
  const url = new URL(request.url);
  if (!validated) {
    if (!env.KV) throw unavailable('service misconfigured: KV binding KV is missing');
    if (!env.SHARDS) throw unavailable('service misconfigured: Durable Object binding SHARDS is missing');
    validated = true;
  }
  const m = PATH.exec(url.pathname);
  if (!m) throw notFound();
  const [endpoint, method] = ENDPOINTS[m[2]];
  const org = m[1];
  const allow = `${method}, OPTIONS`;
  if (request.method !== method && request.method !== 'OPTIONS') {
    throw new OAuthError(405, 'invalid_request', `method not allowed; use ${allow}`, { Allow: allow });
  }
  state.route = { org, endpoint };
  // CORS before any work: documents are anyone's; org endpoints answer the org's origins only.
  const origin = request.headers.get('Origin');
  if (endpoint === 'jwks') state.cors = '*';
  else if (origin !== null) {
    const ctx = await orgContext(env, org);
    if (!/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/.test(origin) || !ctx.settings.allowed_origins.includes(origin)) {
      throw new OAuthError(403, 'access_denied', `origin ${origin} is not allowed for this org`);
    }
    state.cors = origin;
  }
  if (request.method === 'OPTIONS') {
    return new Response(null, { status: 204, headers: {
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
      'Access-Control-Allow-Headers': 'authorization, content-type', 'Access-Control-Max-Age': '600' } });
  }
  const ctx = await orgContext(env, org);
  const issuer = ctx.issuer ?? `${url.origin}/orgs/${org}`;
  switch (endpoint) {
    case 'jwks':
      return json(200, ctx.jwksJson, `public, max-age=${DOCUMENT_MAX_AGE}`);
    case 'anonymous_session':
      return createAnonymous(ctx, await readParams(request), issuer);
    case 'token': {
      const params = await readParams(request);
      const grant = need(params, 'grant_type');
      if (grant === 'refresh_token') return refresh(env, ctx, params, issuer);
      if (grant === EXCHANGE) return exchange(env, ctx, params, issuer);
      throw new OAuthError(400, 'unsupported_grant_type',
        `grant_type ${grant} is not supported; supported: refresh_token, ${EXCHANGE}`);
    }
    default:
      await authenticate(request, env);
      return introspect(env, ctx, await readParams(request), issuer);
  }
}

// ---- The org, from KV once, then from the isolate -------------------------------------------

const orgs = new Map();

async function orgContext(env, org) {
  const now = Date.now();
  let entry = orgs.get(org);
  if (!entry || now >= entry.expires) {
    const ctx = await loadOrg(env, org);
    if (orgs.size >= 1024) orgs.clear();
    entry = { expires: now + (ctx ? 30_000 : 5_000), ctx };
    orgs.set(org, entry);
  }
  if (!entry.ctx) throw notFound();
  return entry.ctx;
}

async function loadOrg(env, org) {
  const record = await env.KV.get(`jose/org/${org}`, 'json');
  if (!record) return null;
  const { kty, crv, x, kid } = record.signing_key;
  const publicJwk = { kty, crv, x, kid, alg: 'EdDSA', use: 'sig' };
  const hkdf = await crypto.subtle.importKey('raw', base64url.decode(record.refresh_secret), 'HKDF', false, ['deriveKey']);
  return {
    id: org,
    issuer: record.issuer,
    settings: record.settings,
    providers: record.providers,
    kid,
    header: { alg: 'EdDSA', typ: 'at+jwt', kid },
    signingKey: await importJWK(record.signing_key, 'EdDSA'),
    verifyKey: await importJWK(publicJwk, 'EdDSA'),
    jwksJson: JSON.stringify({ keys: [publicJwk] }),
    refreshKey: await crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: enc.encode(REFRESH_INFO + org) },
      hkdf, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']),
  };
}

const audiences = (ctx, issuer) => (ctx.settings.audiences.length ? ctx.settings.audiences : [issuer]);

// ---- Request bodies and scopes --------------------------------------------------------------

async function readParams(request) {
  const tooLarge = new OAuthError(413, 'invalid_request', `request body larger than ${MAX_BODY} bytes`);
  const length = request.headers.get('Content-Length');
  if (length !== null && !(/^\s*\d+\s*$/.test(length) && Number(length) <= MAX_BODY)) throw tooLarge;
  const body = new Uint8Array(await request.arrayBuffer());
  if (body.length > MAX_BODY) throw tooLarge;
  const params = new Map();
  if (body.length === 0) return params;
  const add = (k, v) => {
    if (params.has(k)) throw invalidRequest(`repeated parameter: ${k}`);
    params.set(k, v);
  };
  const type = (request.headers.get('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    let text;
    try { text = new TextDecoder('utf-8', { fatal: true }).decode(body); } catch { throw invalidRequest('form body is not UTF-8'); }
    for (const [k, v] of new URLSearchParams(text)) add(k, v);
  } else if (type === 'application/json') {
    let object;
    try { object = JSON.parse(dec.decode(body)); } catch { object = null; }
    if (!object || typeof object !== 'object' || Array.isArray(object)) throw invalidRequest('JSON body must be an object');
    for (const [k, v] of Object.entries(object)) {
      if (v === null) continue;
      if (typeof v !== 'string') throw invalidRequest(`parameter ${k} must be a string`);
      add(k, v);
    }
  } else {
    throw new OAuthError(415, 'invalid_request', 'content type must be application/x-www-form-urlencoded or application/json');
  }
  return params;
}

const get = (params, name) => params.get(name) || undefined;
function need(params, name) {
  const v = get(params, name);
  if (v === undefined) throw invalidRequest(`missing parameter: ${name}`);
  return v;
}

/** RFC 6749 §3.3 scope tokens, unique, in first-seen order; null when malformed. */
function parseScope(s) {
  if (s === '') return [];
  const out = [];
  for (const t of s.split(' ')) {
    if (t.length > 128 || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(t)) return null;
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

// ---- Sessions: issue, seal, open --------------------------------------------------------------

async function createAnonymous(ctx, params, issuer) {
  if (!ctx.settings.anonymous_sessions) throw new OAuthError(403, 'access_denied', 'anonymous sessions are disabled for this org');
  const deviceId = get(params, 'device_id');
  if (deviceId !== undefined && !validDeviceId(deviceId)) throw invalidRequest('device_id: 1 to 128 characters of A-Z a-z 0-9 . _ : -');
  const { issued, session } = await start(ctx, issuer, undefined, ctx.settings.anonymous_scope, deviceId, undefined);
  return json(200, tokenBody(issued, session, session.scope));
}

/** A new session: ids, first refresh token and access token from one draw of randomness. */
async function start(ctx, issuer, subject, scope, deviceId, exchanged) {
  const r = crypto.getRandomValues(new Uint8Array(76));
  const now = nowSecs();
  const session = {
    v: 1, org: ctx.id, sid: `sid_${b64(r.subarray(16, 32))}`, sub: subject ?? `anon_${b64(r.subarray(0, 16))}`,
    generation: 0, auth_time: now, iat: now, exp: now + ctx.settings.session_ttl_secs, scope,
    device_id: deviceId, nonce: b64(r.subarray(48, 64)), exchanged,
  };
  const [accessToken, expiresIn] = await signAccess(ctx, issuer, session, b64(r.subarray(32, 48)), scope);
  const refreshToken = await seal(ctx, session, r.subarray(64, 76));
  return { issued: { accessToken, expiresIn, refreshToken }, session };
}

async function signAccess(ctx, issuer, s, jti, scope) {
  const ex = s.exchanged;
  const aud = ex ? ex.aud : audiences(ctx, issuer);
  const exp = Math.min(s.iat + ctx.settings.access_token_ttl_secs, s.exp);
  const claims = {
    iss: issuer, sub: s.sub, aud: aud.length === 1 ? aud[0] : aud, exp, iat: s.iat, jti,
    client_id: ex ? ex.client_id : 'anonymous', scope, sid: s.sid, anonymous: ex ? undefined : true,
    device_id: s.device_id, idp: ex?.idp, anonymous_sub: ex?.anonymous_sub, act: ex?.act, ...ex?.claims,
  };
  const token = await new SignJWT(claims).setProtectedHeader(ctx.header).sign(ctx.signingKey);
  return [token, exp - s.iat];
}

const aad = (ctx) => enc.encode(REFRESH_AAD + ctx.id);

async function seal(ctx, session, iv) {
  const plaintext = enc.encode(JSON.stringify(session));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad(ctx) }, ctx.refreshKey, plaintext));
  const raw = new Uint8Array(12 + ct.length);
  raw.set(iv);
  raw.set(ct, 12);
  return `rt1.${b64(raw)}`;
}

async function open(ctx, token) {
  const invalid = invalidGrant('refresh token is invalid');
  if (token.length > 12 * 1024 || !token.startsWith('rt1.')) throw invalid;
  let raw;
  try { raw = base64url.decode(token.slice(4)); } catch { throw invalid; }
  if (raw.length < 12 + 16 + 2) throw invalid;
  let session;
  try {
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: raw.subarray(0, 12), additionalData: aad(ctx) }, ctx.refreshKey, raw.subarray(12));
    session = JSON.parse(dec.decode(plain));
  } catch { throw invalid; }
  if (typeof session?.sid !== 'string' || typeof session.sub !== 'string' || !Number.isInteger(session.generation)) throw invalid;
  return session;
}

/** Whether a session may be refreshed (or introspected) now: its org, its end, its idle time. */
function checkSession(ctx, s, now) {
  if (s.v !== 1 || s.org !== ctx.id) throw invalidGrant('refresh token is not valid for this org');
  if (now >= s.exp) throw invalidGrant('session has expired; start a new one');
  const idle = ctx.settings.session_idle_ttl_secs;
  if (idle > 0 && now - s.iat > idle) throw invalidGrant('session ended: not refreshed within the org\'s idle lifetime');
}

const tokenBody = (issued, session, scope) => ({
  access_token: issued.accessToken, token_type: 'Bearer', expires_in: issued.expiresIn,
  refresh_token: issued.refreshToken, scope, session_id: session.sid, subject: session.sub,
});

async function refresh(env, ctx, params, issuer) {
  const old = await open(ctx, need(params, 'refresh_token'));
  const now = nowSecs();
  checkSession(ctx, old, now);
  let limit;
  if (old.exchanged) {
    const provider = ctx.providers.find((p) => p.id === old.exchanged.idp);
    if (!provider) throw invalidGrant('the identity provider of this session is no longer configured');
    limit = parseScope(provider.allowed_scopes.join(' ')) ?? [];
  } else {
    limit = parseScope(ctx.settings.anonymous_scope) ?? [];
  }
  const held = parseScope(old.scope);
  if (!held) throw invalidGrant('refresh token is invalid');
  const sessionScope = held.filter((t) => limit.includes(t));
  let granted = sessionScope;
  const requested = get(params, 'scope');
  if (requested !== undefined) {
    granted = parseScope(requested);
    if (!granted) throw invalidScope('scope: malformed scope string');
    const missing = granted.find((t) => !sessionScope.includes(t));
    if (missing !== undefined) throw invalidScope(`scope ${missing} was not granted to this session`);
  }
  const r = crypto.getRandomValues(new Uint8Array(76));
  const next = { ...old, generation: old.generation + 1, iat: now, nonce: b64(r.subarray(0, 16)), scope: sessionScope.join(' ') };
  const jti = b64(r.subarray(16, 32));
  const candidate = await seal(ctx, next, r.subarray(32, 44));
  // The one Durable Object call: the family's shard rotates, repeats a recent child, or detects reuse.
  const decision = await shardCall(env, ctx.id, old.sub, 'refresh', {
    sid: old.sid, sub: old.sub, generation: old.generation, auth_time: old.auth_time, candidate,
    session_exp: old.exp, rules: { reuse_interval_secs: ctx.settings.refresh_reuse_interval_secs },
  });
  let refreshToken;
  switch (decision.outcome) {
    case 'rotate': refreshToken = candidate; break;
    case 'same_child': refreshToken = decision.child; break;
    case 'reuse': throw invalidGrant('refresh token was already used: the session is revoked');
    default: throw invalidGrant('session has been revoked');
  }
  const scope = granted.join(' ');
  const [accessToken, expiresIn] = await signAccess(ctx, issuer, next, jti, scope);
  return json(200, tokenBody({ accessToken, expiresIn, refreshToken }, next, scope));
}

// ---- Token exchange (RFC 8693) ----------------------------------------------------------------

const upstreamSets = new Map();

/** The provider's remote JWKS, one per provider version per isolate. */
function upstreamKeys(org, provider) {
  const slot = `${org}/${provider.id}@${provider.updated_at}`;
  let set = upstreamSets.get(slot);
  if (!set) {
    if (upstreamSets.size >= 256) upstreamSets.clear();
    set = createRemoteJWKSet(new URL(provider.jwks_uri), { timeoutDuration: 5000, cacheMaxAge: 300_000, cooldownDuration: 10_000 });
    upstreamSets.set(slot, set);
  }
  return set;
}

const CLAIM_REASONS = {
  iss: 'unexpected issuer', aud: 'token is not for this audience', nbf: 'token is not yet valid',
  iat: 'token is issued in the future',
};

/** A jose failure as ours names it: 503 when the provider's keys cannot be had, else 400. */
function upstreamError(e, provider) {
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED': return rejected(e.claim === 'iat' ? 'token is older than the maximum age' : 'token has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return rejected(CLAIM_REASONS[e.claim] ?? (e.reason === 'missing' ? `missing required claim ${e.claim}` : `invalid claim ${e.claim}`));
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return rejected('signature does not verify');
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return rejected('alg is not allowed');
    case 'ERR_JWKS_NO_MATCHING_KEY': case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS': return rejected('no key is known for this kid');
    case 'ERR_JWS_INVALID': case 'ERR_JWT_INVALID': case 'ERR_JOSE_NOT_SUPPORTED': return rejected(e.message);
    default: return unavailable(`identity provider ${provider.id}: keys unavailable`);
  }
}

async function exchange(env, ctx, params, issuer) {
  const subjectToken = need(params, 'subject_token');
  const tokenType = need(params, 'subject_token_type');
  if (tokenType !== TT_JWT && tokenType !== TT_ID_TOKEN) throw invalidRequest(`subject_token_type: supported are ${TT_JWT} and ${TT_ID_TOKEN}`);
  const requestedType = get(params, 'requested_token_type');
  if (requestedType !== undefined && requestedType !== TT_ACCESS_TOKEN) throw invalidRequest(`requested_token_type: only ${TT_ACCESS_TOKEN} is issued`);
  const actorToken = get(params, 'actor_token');
  const actorType = get(params, 'actor_token_type');
  if ((actorToken === undefined) !== (actorType === undefined)) throw invalidRequest('actor_token and actor_token_type go together');
  if (actorType !== undefined && actorType !== TT_ACCESS_TOKEN && actorType !== TT_JWT) throw invalidRequest(`actor_token_type: supported are ${TT_ACCESS_TOKEN} and ${TT_JWT}`);
  const clientId = get(params, 'client_id') ?? 'public';
  if (!validDeviceId(clientId)) throw invalidRequest('client_id: 1 to 128 characters of A-Z a-z 0-9 . _ : -');

  if (subjectToken.length > 8192) throw rejected('token is too large');
  let claimed;
  try { claimed = decodeJwt(subjectToken).iss; } catch { throw rejected('malformed token'); }
  if (typeof claimed !== 'string') throw rejected('missing required claim iss');
  const provider = ctx.providers.find((p) => p.issuer === claimed);
  if (!provider) throw invalidRequest('subject_token: issuer not accepted by this org');
  const leeway = provider.leeway_secs;
  let upstream;
  try {
    ({ payload: upstream } = await jwtVerify(subjectToken, upstreamKeys(ctx.id, provider), {
      algorithms: provider.algorithms, issuer: provider.issuer, audience: provider.audiences,
      clockTolerance: leeway, maxTokenAge: provider.max_token_age_secs, requiredClaims: ['exp', 'sub'],
    }));
  } catch (e) { throw upstreamError(e, provider); }
  const now = nowSecs();
  if (typeof upstream.iat === 'number' && upstream.iat > now + leeway) throw rejected('token is issued in the future');
  if (typeof upstream.sub !== 'string' || !upstream.sub || enc.encode(upstream.sub).length > 256) throw rejected('invalid claim sub');

  // Scope: a subset of the provider's allowed scopes, or its defaults.
  let scope = parseScope(provider.default_scopes.join(' ')) ?? [];
  const requested = get(params, 'scope');
  if (requested !== undefined) {
    scope = parseScope(requested);
    if (!scope) throw invalidScope('scope: malformed scope string');
    const allowedScopes = parseScope(provider.allowed_scopes.join(' ')) ?? [];
    const missing = scope.find((t) => !allowedScopes.includes(t));
    if (missing !== undefined) throw invalidScope(`scope ${missing} is not allowed for this identity provider`);
  }
  // Audiences: the requested targets, each allowed; the org's audiences when none is requested.
  const orgAudiences = audiences(ctx, issuer);
  const audience = get(params, 'audience');
  const resource = get(params, 'resource');
  const invalidTarget = (d) => new OAuthError(400, 'invalid_target', d);
  if (resource !== undefined && !/^[A-Za-z][A-Za-z0-9+.-]*:[^#\s]+$/.test(resource)) {
    throw invalidTarget('resource must be an absolute URI without a fragment (RFC 8707)');
  }
  const allowed = provider.allowed_audiences.length ? provider.allowed_audiences : orgAudiences;
  let aud = orgAudiences;
  if (audience !== undefined || resource !== undefined) {
    aud = [];
    for (const target of [audience, resource].filter((t) => t !== undefined)) {
      if (!allowed.includes(target)) throw invalidTarget(`${target} is not an allowed target for this identity provider`);
      if (!aud.includes(target)) aud.push(target);
    }
  }
  // Mapped claims, in the mapping's (sorted) order, with ours' size caps.
  const claims = {};
  let total = 0;
  for (const from of Object.keys(provider.claim_mapping).sort()) {
    if (upstream[from] === undefined) continue;
    const len = enc.encode(JSON.stringify(upstream[from])).length;
    total += len;
    if (total > 4096) throw invalidRequest('subject_token: the mapped claims exceed 4096 bytes in all');
    if (len > 1024) throw invalidRequest(`subject_token claim ${from} is larger than 1024 bytes and cannot be copied`);
    claims[provider.claim_mapping[from]] = upstream[from];
  }
  let anonymousSub;
  let act;
  if (actorToken !== undefined) {
    const fail = (why) => invalidRequest(`actor_token rejected: ${why}`);
    let a;
    try {
      a = await jwtVerify(actorToken, ownKey(ctx), { algorithms: ['EdDSA'], typ: 'at+jwt', issuer, clockTolerance: 5, requiredClaims: ['exp', 'iat', 'sub', 'jti'] });
    } catch (e) { throw fail(e.message); }
    const p = a.payload;
    // One of our own tokens: the one Durable Object call, for its revocation state.
    const { active } = await shardCall(env, ctx.id, p.sub, 'check', {
      facts: { sub: p.sub, sid: p.sid, jti: p.jti, kid: a.protectedHeader.kid, issued_at: p.iat }, generation: null,
    });
    if (!active) throw fail('the token has been revoked');
    if (p.anonymous === true) anonymousSub = p.sub;
    else act = p.act === undefined ? { sub: p.sub } : { sub: p.sub, act: p.act };
  }
  const exchanged = {
    idp: provider.id, aud, client_id: clientId, claims: Object.keys(claims).length ? claims : undefined,
    anonymous_sub: anonymousSub, act,
  };
  const scopeString = scope.join(' ');
  const { issued, session } = await start(ctx, issuer, provider.subject_prefix + upstream.sub, scopeString, undefined, exchanged);
  return json(200, { ...tokenBody(issued, session, scopeString), issued_token_type: TT_ACCESS_TOKEN });
}

// ---- Introspection (RFC 7662) -----------------------------------------------------------------

/** Our own verification key, by kid (a jose key resolver). */
function ownKey(ctx) {
  return (header) => {
    if (header.kid !== ctx.kid) throw new errors.JWKSNoMatchingKey();
    return ctx.verifyKey;
  };
}

async function digest(s) {
  return crypto.subtle.digest('SHA-256', enc.encode(s));
}

/** The operator token, compared in constant time (both hashed first, as ours). */
async function authenticate(request, env) {
  const expected = env.OPERATOR_TOKEN;
  if (typeof expected !== 'string' || expected.length < 32) {
    throw unavailable('service misconfigured: secret OPERATOR_TOKEN is missing or shorter than 32 characters');
  }
  const header = request.headers.get('Authorization') ?? '';
  const space = header.indexOf(' ');
  const token = space > 0 && header.slice(0, space).toLowerCase() === 'bearer' ? header.slice(space + 1).trim() : '';
  const challenge = { 'WWW-Authenticate': 'Bearer error="invalid_token"' };
  if (!token) throw new OAuthError(401, 'invalid_token', 'missing credential: use Authorization: Bearer <org key credential or operator token>', challenge);
  const [a, b] = [await digest(token), await digest(expected)];
  if (!crypto.subtle.timingSafeEqual(a, b)) throw new OAuthError(401, 'invalid_token', 'invalid operator credential', challenge);
}

async function introspect(env, ctx, params, issuer) {
  const token = need(params, 'token');
  const now = nowSecs();
  const inactive = () => json(200, { active: false });
  if (token.startsWith('rt1.')) {
    let s;
    try {
      s = await open(ctx, token);
      checkSession(ctx, s, now);
    } catch { return inactive(); }
    const { active } = await shardCall(env, ctx.id, s.sub, 'check', {
      facts: { sub: s.sub, sid: s.sid, issued_at: s.auth_time }, generation: s.generation,
    });
    if (!active) return inactive();
    const ex = s.exchanged;
    return json(200, {
      iss: issuer, sub: s.sub, sid: s.sid, scope: s.scope, iat: s.iat, exp: s.exp, auth_time: s.auth_time,
      client_id: ex ? ex.client_id : 'anonymous', idp: ex?.idp, active: true, token_type: 'refresh_token',
    });
  }
  if (token.length > 8192) return inactive();
  let verified;
  try {
    verified = await jwtVerify(token, ownKey(ctx), { algorithms: ['EdDSA'], issuer, clockTolerance: 30, requiredClaims: ['exp', 'sub'] });
  } catch { return inactive(); }
  const claims = verified.payload;
  if ((typeof claims.iat === 'number' && claims.iat > now + 30) || typeof claims.sub !== 'string' || !claims.sub) return inactive();
  const { active } = await shardCall(env, ctx.id, claims.sub, 'check', {
    facts: { sub: claims.sub, sid: claims.sid, jti: claims.jti, kid: verified.protectedHeader.kid, issued_at: claims.iat ?? 0 },
    generation: null,
  });
  return active ? json(200, { ...claims, active: true, token_type: 'Bearer' }) : inactive();
}

// ---- Session shards (Durable Objects) ---------------------------------------------------------

/** The shard of a subject: FNV-1a of `org\0sub`, mod 32. */
function shardOf(org, sub) {
  let h = 0x811c9dc5;
  const s = `${org}\0${sub}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0) % SHARDS;
}

async function shardCall(env, org, sub, op, body) {
  const name = `${org}/${String(shardOf(org, sub)).padStart(2, '0')}`;
  let res;
  try {
    res = await env.SHARDS.get(env.SHARDS.idFromName(name)).fetch(`https://shard/${op}`, { method: 'POST', body: JSON.stringify(body) });
  } catch { throw unavailable('session store unreachable'); }
  if (res.status !== 200) throw new Error(`shard ${op} answered ${res.status}`);
  return res.json();
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS families (
  sid TEXT PRIMARY KEY, sub TEXT NOT NULL, generation INTEGER NOT NULL, child TEXT NOT NULL,
  rotated_at INTEGER NOT NULL, last_used INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE INDEX IF NOT EXISTS families_expiry ON families (expires_at);
CREATE TABLE IF NOT EXISTS revocations (
  kind TEXT NOT NULL, value TEXT NOT NULL, at INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (kind, value));
CREATE INDEX IF NOT EXISTS revocations_expiry ON revocations (expires_at);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`;
const PURGE_EVERY_MS = 3_600_000;

export class JoseShard extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
  }

  async fetch(request) {
    const op = new URL(request.url).pathname;
    this.sql.exec("INSERT INTO counters (name, value) VALUES ('calls', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1");
    const call = await request.json();
    switch (op) {
      case '/refresh': {
        const decision = this.refresh(call);
        await this.ensurePurgeAlarm();
        return Response.json(decision);
      }
      case '/check':
        return Response.json({ active: this.check(call) });
      case '/revoke':
        this.revoke(call.revocation);
        await this.ensurePurgeAlarm();
        return Response.json({ revoked: true });
      default:
        return new Response('no such shard operation', { status: 404 });
    }
  }

  async alarm() {
    const now = nowSecs();
    this.sql.exec('DELETE FROM families WHERE expires_at <= ?', now);
    this.sql.exec('DELETE FROM revocations WHERE expires_at <= ?', now);
    const left = this.sql.exec('SELECT (SELECT COUNT(*) FROM families) + (SELECT COUNT(*) FROM revocations) AS n').one().n;
    if (left > 0) await this.ctx.storage.setAlarm(Date.now() + PURGE_EVERY_MS);
  }

  async ensurePurgeAlarm() {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + PURGE_EVERY_MS);
  }

  family(sid) {
    return this.sql.exec('SELECT generation, child, rotated_at, last_used, revoked_at FROM families WHERE sid = ?', sid).toArray()[0];
  }

  markRevoked(column, value, now) {
    this.sql.exec(`UPDATE families SET revoked_at = ? WHERE ${column} = ? AND revoked_at IS NULL`, now, value);
  }

  /** Whether a stored revocation covers the token or session: one lookup per fact, as ours. */
  covered(facts) {
    for (const kind of ['sub', 'sid', 'jti', 'kid']) {
      const value = facts[kind];
      if (typeof value !== 'string') continue;
      for (const { at } of this.sql.exec('SELECT at FROM revocations WHERE kind = ? AND value = ?', kind, value)) {
        if (kind !== 'sub' || facts.issued_at <= at) return true;
      }
    }
    return false;
  }

  /** Reads, decides and writes with no await in between: atomic within the object. */
  refresh(c) {
    const now = nowSecs();
    const f = this.family(c.sid);
    let d;
    if (this.covered({ sub: c.sub, sid: c.sid, issued_at: c.auth_time })) {
      if (f && f.revoked_at === null) this.markRevoked('sid', c.sid, now);
      d = { outcome: 'revoked' };
    } else if (!f) {
      d = { outcome: c.generation === 0 ? 'rotate' : 'revoked' };
    } else if (f.revoked_at !== null) {
      d = { outcome: 'revoked' };
    } else if (c.generation === f.generation) {
      d = { outcome: 'rotate' };
    } else if (c.generation + 1 === f.generation && Math.max(0, now - f.rotated_at) < c.rules.reuse_interval_secs) {
      d = { outcome: 'same_child', child: f.child };
    } else {
      d = { outcome: 'reuse' };
    }
    if (d.outcome === 'rotate') {
      this.sql.exec(`INSERT INTO families (sid, sub, generation, child, rotated_at, last_used, expires_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sid) DO UPDATE SET generation = excluded.generation,
        child = excluded.child, rotated_at = excluded.rotated_at, last_used = excluded.last_used`,
      c.sid, c.sub, c.generation + 1, c.candidate, now, now, c.session_exp);
    } else if (d.outcome === 'same_child') {
      this.sql.exec('UPDATE families SET last_used = ? WHERE sid = ?', now, c.sid);
    } else if (d.outcome === 'reuse') {
      this.markRevoked('sid', c.sid, now);
    }
    return d;
  }

  check({ facts, generation }) {
    if (this.covered(facts)) return false;
    const f = typeof facts.sid === 'string' ? this.family(facts.sid) : undefined;
    if (generation === null || generation === undefined) return !f || f.revoked_at === null;
    return f ? f.revoked_at === null && f.generation === generation : generation === 0;
  }

  revoke(r) {
    let expiresAt = r.expires_at;
    if (r.kind === 'sid') {
      const end = this.sql.exec('SELECT expires_at FROM families WHERE sid = ?', r.value).toArray()[0];
      if (end) expiresAt = Math.min(expiresAt, end.expires_at);
    }
    this.sql.exec(`INSERT INTO revocations (kind, value, at, expires_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (kind, value) DO UPDATE SET at = MAX(at, excluded.at), expires_at = MAX(expires_at, excluded.expires_at)`,
    r.kind, r.value, r.at, expiresAt);
    if (r.kind === 'sid' || r.kind === 'sub') this.markRevoked(r.kind, r.value, r.at);
  }
}
