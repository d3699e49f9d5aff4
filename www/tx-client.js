// token-exchange browser client. A plain ES module, no build step:
//
//   import { createClient } from '/tx-client.js';
//   const client = createClient({ issuer: 'https://auth.example.com/orgs/acme' });
//   const token = await client.getToken();            // an anonymous session on first use
//   await client.fetch('https://api.acme.example/orders');  // Authorization added, one retry on 401
//   await client.exchange(idToken);                   // trade an identity provider's token (upgrade)
//   await client.signOut();                           // revokes the session
//
// What it gets right:
// - One refresh at a time: single-flight within the page, and across tabs of the origin with the
//   Web Locks API (with a timeout and a fallback when locks are unavailable or stuck), so a
//   rotation in one tab never looks like reuse in another: a tab that waited re-reads the stored
//   session and uses the child another tab already got.
// - Refresh ahead of expiry: at `refreshAt` (default 80 %) of the access token's lifetime, minus
//   up to 10 % jitter so many tabs do not refresh in the same second.
// - Retries with exponential backoff on network errors, 5xx and 429 (honouring Retry-After);
//   clear typed errors (`TokenError` with the OAuth `error` code) for 4xx.
//
// Where the refresh token lives (a documented choice): by default in `localStorage`, under a key
// per issuer, so the anonymous identity survives reloads and is shared by tabs. Anything that can
// run script in the page can read it, as with any browser-held credential: keep the page free of
// XSS, and prefer `storage: 'memory'` (nothing persisted; a reload starts a new session) or
// `'session'` (per tab) where that matters more than continuity.

/** @typedef {{ access_token: string, refresh_token: string, expires_in: number, scope: string,
 *   session_id: string, subject: string, token_type: string, issued_token_type?: string }} TokenResponse */
/** @typedef {{ accessToken: string, refreshToken: string, expiresAt: number, issuedAt: number,
 *   subject: string, sessionId: string, scope: string }} Session */

/** An OAuth error answered by the worker (4xx), or a failure after the retries. */
export class TokenError extends Error {
  /** @param {string} code @param {string} description @param {number} status */
  constructor(code, description, status) {
    super(`${code}: ${description}`);
    this.name = 'TokenError';
    this.code = code;
    this.status = status;
  }
}

/**
 * When to refresh a token issued at `issuedAt` that expires at `expiresAt` (ms): at `fraction`
 * of its life, minus a jitter of up to 10 % of the life (`random` in [0, 1)). Pure, for tests.
 * @param {number} issuedAt @param {number} expiresAt @param {number} fraction @param {number} random
 */
export function refreshDue(issuedAt, expiresAt, fraction = 0.8, random = Math.random()) {
  const life = Math.max(0, expiresAt - issuedAt);
  return issuedAt + life * fraction - life * 0.1 * random;
}

/**
 * The delay before retry `attempt` (0-based): `Retry-After` when given, else exponential
 * backoff from 250 ms, capped at 8 s, with full jitter. Pure, for tests.
 * @param {number} attempt @param {string | null} retryAfter @param {number} random
 */
export function retryDelay(attempt, retryAfter, random = Math.random()) {
  const seconds = Number(retryAfter);
  if (retryAfter !== null && Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, 60) * 1000;
  return Math.min(8000, 250 * 2 ** attempt) * (0.5 + random / 2);
}

const memoryStore = () => {
  const m = new Map();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, v), removeItem: (k) => m.delete(k) };
};

/**
 * @param {{ issuer: string, storage?: 'local' | 'session' | 'memory', refreshAt?: number,
 *   fetch?: typeof fetch, now?: () => number, maxRetries?: number, lockTimeoutMs?: number,
 *   deviceId?: string }} options
 */
export function createClient(options) {
  const issuer = options.issuer.replace(/\/+$/, '');
  const http = options.fetch ?? globalThis.fetch.bind(globalThis);
  const now = options.now ?? (() => Date.now());
  const maxRetries = options.maxRetries ?? 3;
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
  const store = options.storage === 'memory' ? memoryStore()
    : options.storage === 'session' ? globalThis.sessionStorage : globalThis.localStorage;
  const storeKey = `tx-session:${issuer}`;
  const listeners = { token: new Set(), error: new Set() };
  /** @type {Promise<any> | null} */ let metadata = null;
  /** @type {Promise<Session> | null} */ let inflight = null;
  // One jitter per page, so this tab's refresh time for a session is stable.
  const jitter = Math.random();
  const dueOf = (s) => refreshDue(s.issuedAt, s.expiresAt, options.refreshAt ?? 0.8, jitter);

  const emit = (kind, value) => listeners[kind].forEach((f) => { try { f(value); } catch {} });
  /** @returns {Session | null} */
  const load = () => { try { return JSON.parse(store.getItem(storeKey) ?? 'null'); } catch { return null; } };
  const save = (s) => { s ? store.setItem(storeKey, JSON.stringify(s)) : store.removeItem(storeKey); };

  async function endpoints() {
    metadata ??= request(`${issuer}/.well-known/oauth-authorization-server`, { method: 'GET' })
      .catch((e) => { metadata = null; throw e; });
    return metadata;
  }

  /** fetch with retries on network errors, 5xx and 429; 4xx become TokenError. */
  async function request(url, init) {
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await http(url, { ...init, credentials: 'omit' });
      } catch (e) {
        if (attempt >= maxRetries) throw new TokenError('network_error', String(e?.message ?? e), 0);
        await sleep(retryDelay(attempt, null));
        continue;
      }
      if ((res.status >= 500 || res.status === 429) && attempt < maxRetries) {
        await sleep(retryDelay(attempt, res.headers.get('retry-after')));
        continue;
      }
      const text = await res.text();
      const body = text ? JSON.parse(text) : {};
      if (!res.ok) throw new TokenError(body.error ?? 'server_error', body.error_description ?? '', res.status);
      return body;
    }
  }

  const form = (params) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined)).toString(),
  });

  /** @param {TokenResponse} r @returns {Session} */
  function adopt(r) {
    const issuedAt = now();
    const session = {
      accessToken: r.access_token, refreshToken: r.refresh_token, issuedAt,
      expiresAt: issuedAt + r.expires_in * 1000, subject: r.subject, sessionId: r.session_id, scope: r.scope,
    };
    save(session);
    emit('token', session);
    return session;
  }

  /** Runs `f` holding the cross-tab lock when the Web Locks API is there; a stuck lock times out. */
  async function withLock(f) {
    const locks = globalThis.navigator?.locks;
    if (!locks) return f();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), lockTimeoutMs);
    try {
      return await locks.request(`tx-refresh:${issuer}`, { signal: controller.signal }, () => {
        clearTimeout(timer);
        return f();
      });
    } catch (e) {
      if (e?.name === 'AbortError') return f(); // a tab died holding it: go on without
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Refreshes (or starts) the session; one at a time in the page and across tabs. */
  function renew(known) {
    inflight ??= withLock(async () => {
      const stored = load();
      // Another tab refreshed while we waited for the lock: its child is ours too.
      if (stored && (!known || stored.refreshToken !== known.refreshToken) && now() < dueOf(stored)) {
        return stored;
      }
      const ep = await endpoints();
      if (stored) {
        try {
          return adopt(await request(ep.token_endpoint, form({ grant_type: 'refresh_token', refresh_token: stored.refreshToken })));
        } catch (e) {
          if (!(e instanceof TokenError) || e.code !== 'invalid_grant') throw e;
          save(null); // the session ended or was revoked: start a new one
        }
      }
      return adopt(await request(ep.anonymous_session_endpoint, form({ device_id: options.deviceId })));
    }).finally(() => { inflight = null; });
    return inflight;
  }

  /** A valid access token: cached, refreshed ahead of expiry, a new session on first use. */
  async function getToken({ forceRefresh = false } = {}) {
    try {
      const s = load();
      if (s && !forceRefresh && now() < dueOf(s)) return s.accessToken;
      return (await renew(s)).accessToken;
    } catch (e) {
      emit('error', e);
      throw e;
    }
  }

  return {
    getToken,
    /** The current session, if any (subject, session id, scope, times). */
    session: () => load(),
    /** Trades an identity provider's token; `upgrade` (default) links the anonymous session. */
    async exchange(subjectToken, { scope, audience, upgrade = true, subjectTokenType = 'urn:ietf:params:oauth:token-type:jwt' } = {}) {
      const ep = await endpoints();
      const anon = upgrade ? load() : null;
      const r = await request(ep.token_endpoint, form({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: subjectToken, subject_token_type: subjectTokenType, scope, audience,
        actor_token: anon?.accessToken, actor_token_type: anon ? 'urn:ietf:params:oauth:token-type:access_token' : undefined,
      }));
      return adopt(r).accessToken;
    },
    /** Revokes the session (RFC 7009) and forgets it. */
    async signOut() {
      const s = load();
      save(null);
      if (!s) return;
      const ep = await endpoints();
      await request(ep.revocation_endpoint, form({ token: s.refreshToken, token_type_hint: 'refresh_token' }));
      emit('token', null);
    },
    /** fetch with `Authorization: Bearer`, retried once after a refresh on 401. */
    async fetch(input, init = {}) {
      const call = async (token) => {
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${token}`);
        return http(input, { ...init, headers });
      };
      const res = await call(await getToken());
      if (res.status !== 401) return res;
      return call(await getToken({ forceRefresh: true }));
    },
    onTokenChange(f) { listeners.token.add(f); return () => listeners.token.delete(f); },
    onError(f) { listeners.error.add(f); return () => listeners.error.delete(f); },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
