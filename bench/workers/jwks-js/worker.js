// Ours' JWKS answer written in plain JavaScript: what the entry floor would cost if the lean entry
// (src/entry.mjs) had no wasm behind it. The same steps as ours' warm JWKS route, minus the one
// wasm call: the request URL split without a URL object, the same path pattern, the JWKS body
// (one Ed25519 key with ours' members and lengths, a constant here as ours' is a cached string),
// the same six response headers, the same request id and the same log line. Ours against this
// worker is the cost of the Rust behind the entry; this worker against `empty-js` is the cost of
// the response and log line every JWKS answer of ours must have (issue #11).
const VERSION = '0.1.0'; // ours' X-Token-Exchange-Version when no build revision is set
const CACHE_CONTROL = 'public, max-age=300';
const EXPOSE_HEADERS = 'Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset';
const PATH = /^\/orgs\/([a-z0-9][a-z0-9-]{0,62})\/(sessions\/anonymous|token|introspect|\.well-known\/jwks\.json)$/;
const JWKS = JSON.stringify({
  keys: [{
    kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
    kid: 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k', // an RFC 7638 thumbprint, as ours' kids alg: 'EdDSA', use: 'sig',
  }],
});
const ID_BYTES = new Uint8Array(8);
const ID_VIEW = new DataView(ID_BYTES.buffer);

// `async`, as ours' entry `fetch` is: the same promise per answer.
export default {
  async fetch(request) {
    const url = request.url;
    const slash = url.indexOf('/', url.indexOf('//') + 2);
    const query = url.indexOf('?', slash);
    const hot = PATH.exec(url.slice(slash, query < 0 ? undefined : query));
    if (hot === null || hot[2] !== '.well-known/jwks.json' || request.method !== 'GET') {
      return new Response('not found', { status: 404 });
    }
    const started = Date.now();
    const org = hot[1];
    const headers = {
      'cache-control': CACHE_CONTROL,
      'access-control-allow-origin': '*',
      'access-control-expose-headers': EXPOSE_HEADERS,
    };
    const ray = request.headers.get('cf-ray');
    let requestId = ray;
    if (ray === null || ray.length === 0 || ray.length > 64 || !/^[\x21-\x7e]+$/.test(ray)) {
      crypto.getRandomValues(ID_BYTES);
      requestId = ID_VIEW.getBigUint64(0).toString(16).padStart(16, '0');
    }
    headers['content-type'] = 'application/json';
    headers['x-request-id'] = requestId;
    headers['x-token-exchange-version'] = VERSION;
    console.log(JSON.stringify({
      request_id: requestId, method: request.method, endpoint: 'jwks', org, status: 200, outcome: 'ok',
      duration_ms: Date.now() - started,
    }));
    return new Response(JWKS, { status: 200, headers });
  },
};
