// A fake OIDC identity provider for the token-exchange tests: it holds signing keys (RSA 2048 for
// RS256, EC P-256 for ES256, Ed25519 for EdDSA, and a shared HS256 secret), serves its public JWKS
// over real HTTP on 127.0.0.1 (with a configurable `Cache-Control: max-age`), counts the JWKS
// requests, rotates keys, can be made to fail (500, a garbage body, or a bounded hang), and mints
// upstream tokens, well-formed or deliberately broken.
//
//   const idp = await startIdp({ algorithms: ['RS256', 'ES256', 'EdDSA'], maxAge: 600 });
//   idp.issuer, idp.jwksUri, idp.clientId, idp.hs256Secret, idp.jwksRequests
//   await idp.mint({ alg: 'ES256', claims: { email: 'a@b.example' }, header: { kid: 'other' } })
//   await idp.rotate('RS256', { dropOld: true }); idp.setMode('hang'); await idp.stop();
//
// Tokens are signed here with node:crypto, so a test controls every byte (raw JSON with duplicate
// members, `crit`, any `kid`); the self-test verifies them with npm `jose` against the served JWKS.
import { createHmac, generateKeyPair, randomBytes, sign as cryptoSign } from 'node:crypto';
import { createServer } from 'node:http';
import { promisify } from 'node:util';

const generate = promisify(generateKeyPair);

export const ASYMMETRIC = ['RS256', 'ES256', 'EdDSA'];

const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
/** A JWS part: an object is serialized, a string is taken as the exact JSON text. */
const part = (v) => b64u(typeof v === 'string' ? v : JSON.stringify(v));
const now = () => Math.floor(Date.now() / 1000);

/** Drops members whose value is `undefined` (how a test removes a default claim or header). */
function compact(obj) {
  const out = { ...obj };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

async function newKeyPair(alg) {
  switch (alg) {
    case 'RS256':
      return generate('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    case 'ES256':
      return generate('ec', { namedCurve: 'P-256' });
    case 'EdDSA':
      return generate('ed25519');
    default:
      throw new Error(`fake IdP: no key pairs for ${alg}`);
  }
}

/** The JWS signature of `input` (a string) with `key` (a KeyObject, or the secret for HS256). */
export function signInput(alg, key, input) {
  const data = Buffer.from(input, 'ascii');
  switch (alg) {
    case 'RS256':
      return cryptoSign('sha256', data, key);
    case 'ES256':
      return cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA':
      return cryptoSign(null, data, key);
    case 'HS256':
      return createHmac('sha256', key).update(data).digest();
    default:
      throw new Error(`fake IdP: cannot sign ${alg}`);
  }
}

/**
 * Compact JWS of `header` and `payload` (objects, or exact JSON text) signed with `alg` and `key`.
 * `alg` picks the signature algorithm; the header says whatever the caller put in it.
 */
export function signCompact(alg, key, header, payload) {
  const input = `${part(header)}.${part(payload)}`;
  return `${input}.${b64u(signInput(alg, key, input))}`;
}

/** Decodes a compact JWS's header and payload, unverified. */
export function decodeParts(token) {
  const [h, p] = token.split('.');
  const dec = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: dec(h), payload: dec(p) };
}

export class FakeIdp {
  constructor(opts = {}) {
    this.clientId = opts.clientId ?? `client-${randomBytes(6).toString('hex')}`;
    /** The HS256 shared secret (a string: its UTF-8 bytes are the key), 43 characters. */
    this.hs256Secret = opts.hs256Secret ?? randomBytes(32).toString('base64url');
    /** `Cache-Control: max-age` of the JWKS response; `null` sends no Cache-Control. */
    this.maxAge = opts.maxAge === undefined ? 300 : opts.maxAge;
    /** How long a hanging JWKS request is held before its socket is destroyed (bounded hang). */
    this.hangMs = opts.hangMs ?? 20_000;
    this.defaultSub = opts.sub ?? 'alice';
    /** The algorithms this IdP signs with (a provider for it allows these by default). */
    this.algorithms = opts.algorithms ?? ASYMMETRIC;
    this.mode = 'ok';
    this.jwksRequests = 0;
    /** Every request served: { method, path, at (ms) }. */
    this.requests = [];
    /** { kid, alg, privateKey, publicKey, publicJwk, published } in creation order. */
    this.keys = [];
    this.kidCounter = 0;
    this.hanging = new Set();
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
    this.issuer = `http://127.0.0.1:${this.port}`;
    this.jwksUri = `${this.issuer}/jwks`;
  }

  handle(req, res) {
    const path = new URL(req.url, this.issuer).pathname;
    this.requests.push({ method: req.method, path, at: Date.now() });
    if (path === '/.well-known/openid-configuration') {
      return this.json(res, 200, {
        issuer: this.issuer,
        jwks_uri: this.jwksUri,
        id_token_signing_alg_values_supported: [...new Set(this.keys.map((k) => k.alg))],
      });
    }
    if (path !== '/jwks') return this.json(res, 404, { error: 'not_found' });
    this.jwksRequests += 1;
    switch (this.mode) {
      case 'ok': {
        const headers = this.maxAge === null ? {} : { 'cache-control': `public, max-age=${this.maxAge}` };
        return this.json(res, 200, this.jwks(), headers);
      }
      case 'error':
        res.writeHead(500, { 'content-type': 'text/plain' });
        return res.end('internal error');
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' });
        return res.end('<html>this is not a JWKS {"keys": [');
      case 'hang': {
        // Headers never come; the socket is destroyed after hangMs, or at stop.
        const entry = { res, timer: null };
        entry.timer = setTimeout(() => {
          this.hanging.delete(entry);
          res.destroy();
        }, this.hangMs);
        entry.timer.unref();
        this.hanging.add(entry);
        res.on('close', () => {
          clearTimeout(entry.timer);
          this.hanging.delete(entry);
        });
        return undefined;
      }
      default:
        throw new Error(`fake IdP: unknown mode ${this.mode}`);
    }
  }

  json(res, status, value, headers = {}) {
    const body = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }

  /** 'ok' (serve the JWKS), 'error' (500), 'garbage' (200 with a non-JSON body), 'hang'. */
  setMode(mode) {
    if (!['ok', 'error', 'garbage', 'hang'].includes(mode)) throw new Error(`fake IdP: unknown mode ${mode}`);
    this.mode = mode;
  }

  /** Generates a key for `alg`; published in the JWKS unless `publish: false`. Returns its kid. */
  async addKey(alg, { kid, publish = true } = {}) {
    const { privateKey, publicKey } = await newKeyPair(alg);
    this.kidCounter += 1;
    const id = kid ?? `${alg.toLowerCase()}-${this.kidCounter}-${randomBytes(4).toString('hex')}`;
    const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid: id, alg, use: 'sig' };
    this.keys.push({ kid: id, alg, privateKey, publicKey, publicJwk, published: publish });
    return id;
  }

  /** Adds (and publishes) a new key for `alg`; `dropOld` unpublishes the older keys of `alg`. */
  async rotate(alg, { dropOld = false } = {}) {
    const kid = await this.addKey(alg);
    if (dropOld) for (const k of this.keys) if (k.alg === alg && k.kid !== kid) k.published = false;
    return kid;
  }

  publish(kid, published = true) {
    this.key(kid).published = published;
  }

  removeKey(kid) {
    this.keys = this.keys.filter((k) => k.kid !== kid);
  }

  key(kid) {
    const k = this.keys.find((x) => x.kid === kid);
    if (!k) throw new Error(`fake IdP: no key ${kid}`);
    return k;
  }

  /** The newest key for `alg` (published ones first). */
  keyFor(alg) {
    const of = this.keys.filter((k) => k.alg === alg);
    const k = of.filter((x) => x.published).at(-1) ?? of.at(-1);
    if (!k) throw new Error(`fake IdP: no ${alg} key`);
    return k;
  }

  kidFor(alg) {
    return this.keyFor(alg).kid;
  }

  /** The public JWKS as served. */
  jwks() {
    return { keys: this.keys.filter((k) => k.published).map((k) => ({ ...k.publicJwk })) };
  }

  /** Default claims: iss, aud = the client id, sub, iat = now, exp = now + 300. */
  claims(overrides = {}) {
    const t = now();
    return compact({ iss: this.issuer, sub: this.defaultSub, aud: this.clientId, iat: t, exp: t + 300, ...overrides });
  }

  /**
   * A signed upstream token. `alg` (default RS256; HS256 uses the shared secret), `kid` (which key
   * signs; default the newest key of `alg`), `claims` and `header` override the defaults (a value
   * `undefined` removes the member; `header.kid` may name any kid, known or not, while `kid`
   * still picks the signing key). `payload`, a string, replaces the claims with exact JSON text.
   */
  mint({ alg = 'RS256', kid, claims = {}, header = {}, payload } = {}) {
    let key;
    let headerKid;
    if (alg === 'HS256') {
      key = Buffer.from(this.hs256Secret, 'utf8');
      headerKid = kid;
    } else {
      const k = kid ? this.key(kid) : this.keyFor(alg);
      key = k.privateKey;
      headerKid = k.kid;
    }
    const h = compact({ alg, typ: 'JWT', kid: headerKid, ...header });
    return signCompact(alg, key, h, payload ?? this.claims(claims));
  }

  /** `{"alg":"none"}`, the default claims, an empty signature. */
  unsigned({ claims = {}, header = {} } = {}) {
    return `${part(compact({ alg: 'none', typ: 'JWT', ...header }))}.${part(this.claims(claims))}.`;
  }

  /** `token` with its payload replaced by the old one patched with `claims`; signature kept. */
  tamper(token, claims = { sub: 'mallory' }) {
    const [h, , s] = token.split('.');
    const { payload } = decodeParts(token);
    return `${h}.${part(compact({ ...payload, ...claims }))}.${s}`;
  }

  /**
   * Algorithm confusion: an HS256 token whose HMAC key is the RSA public key's bytes (its SPKI PEM,
   * what a naive verifier hands to HMAC), with the RSA key's kid.
   */
  confusion({ claims = {}, header = {}, format = 'pem' } = {}) {
    const k = this.keyFor('RS256');
    const secret = format === 'pem'
      ? Buffer.from(k.publicKey.export({ type: 'spki', format: 'pem' }))
      : k.publicKey.export({ type: 'spki', format: 'der' });
    return signCompact('HS256', secret, compact({ alg: 'HS256', typ: 'JWT', kid: k.kid, ...header }), this.claims(claims));
  }

  /** A validly signed token longer than `bytes` (default 8 KiB + 1 KiB): a big padding claim. */
  oversize({ alg = 'RS256', bytes = 9 * 1024, claims = {} } = {}) {
    const token = this.mint({ alg, claims: { padding: 'x'.repeat(Math.ceil((bytes * 3) / 4)), ...claims } });
    if (token.length <= bytes) throw new Error('fake IdP: oversize token is not oversize');
    return token;
  }

  /** The body of `PUT /admin/v1/orgs/{org}/providers/{id}` for this IdP, merged with `extra`. */
  provider(extra = {}) {
    const algs = extra.algorithms ?? this.algorithms;
    const source = algs.includes('HS256')
      ? { hs256_secret: this.hs256Secret }
      : { jwks_uri: this.jwksUri };
    return compact({ issuer: this.issuer, ...source, algorithms: algs, audiences: [this.clientId], ...extra });
  }

  /** Stops serving: pending hangs are cut, keep-alive connections closed. */
  async stop() {
    for (const { res, timer } of this.hanging) {
      clearTimeout(timer);
      res.destroy();
    }
    this.hanging.clear();
    if (!this.server.listening) return;
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeAllConnections();
    await closed;
  }
}

/**
 * Starts a fake IdP on 127.0.0.1 with one key per algorithm in `algorithms` (default RS256,
 * ES256, EdDSA; HS256 needs no key pair, its secret always exists). Options: maxAge (JWKS
 * Cache-Control max-age, default 300, `null` for none), clientId, hs256Secret, sub, hangMs.
 */
export async function startIdp(opts = {}) {
  const idp = new FakeIdp(opts);
  await idp.listen();
  for (const alg of idp.algorithms) if (alg !== 'HS256') await idp.addKey(alg);
  return idp;
}
