// The OpenAPI document, www/openapi.json, against the worker it describes: a well-formed OpenAPI
// 3.1 document whose every $ref resolves; every route of src/route.rs documented, and /healthz and
// GET /admin/v1/orgs (answered before routing), and nothing else; every admin operation routed (401
// without a credential, neither 404 nor 405 with the operator token) and guarded by exactly the
// scope it names; GET /admin/v1/orgs for the operator token only; real responses of every operation
// with the documented status, required headers and body schema; scopes from its own x-scopes
// vocabulary, whose named sets are the worker's; and the copy served at /openapi.json identical to
// the file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, startWorker } from './support/worker.mjs';

const FILE = join(ROOT, 'www', 'openapi.json');
const doc = JSON.parse(readFileSync(FILE, 'utf8'));

/** Every route of src/route.rs (`resolve` and `Endpoint::allow`), with the document's parameter names. */
const ROUTES = [
  ['get', '/.well-known/oauth-authorization-server/orgs/{org}'],
  ['get', '/orgs/{org}/.well-known/oauth-authorization-server'],
  ['get', '/orgs/{org}/.well-known/openid-configuration'],
  ['get', '/orgs/{org}/.well-known/jwks.json'],
  ['post', '/orgs/{org}/sessions/anonymous'],
  ['post', '/orgs/{org}/token'],
  ['post', '/orgs/{org}/revoke'],
  ['post', '/orgs/{org}/introspect'],
  ['get', '/admin/v1/orgs/{org}'],
  ['put', '/admin/v1/orgs/{org}'],
  ['get', '/admin/v1/orgs/{org}/signing-keys'],
  ['post', '/admin/v1/orgs/{org}/signing-keys'],
  ['post', '/admin/v1/orgs/{org}/signing-keys/rotate'],
  ['post', '/admin/v1/orgs/{org}/signing-keys/{kid}/retire'],
  ['get', '/admin/v1/orgs/{org}/keys'],
  ['post', '/admin/v1/orgs/{org}/keys'],
  ['get', '/admin/v1/orgs/{org}/keys/{key_id}'],
  ['delete', '/admin/v1/orgs/{org}/keys/{key_id}'],
  ['get', '/admin/v1/orgs/{org}/audit'],
  ['get', '/admin/v1/orgs/{org}/providers'],
  ['get', '/admin/v1/orgs/{org}/session-store'],
  ['post', '/admin/v1/orgs/{org}/session-store/purge'],
  ['post', '/admin/v1/orgs/{org}/revocations'],
  ['post', '/admin/v1/orgs/{org}/reseal'],
  ['get', '/admin/v1/orgs/{org}/providers/{provider_id}'],
  ['put', '/admin/v1/orgs/{org}/providers/{provider_id}'],
  ['delete', '/admin/v1/orgs/{org}/providers/{provider_id}'],
];
/** Answered before routing (src/worker/mod.rs `serve`), so not in src/route.rs. */
const LIST_ORGS = '/admin/v1/orgs'; // operator token only, no x-required-scope
const BEFORE_ROUTING = [['get', '/healthz'], ['head', '/healthz'], ['get', LIST_ORGS]];
const beforeRouting = (method, path) => BEFORE_ROUTING.some(([m, p]) => m === method && p === path);
/** The public endpoints also answer OPTIONS (CORS preflight). */
const PREFLIGHT_PATHS = ROUTES.filter(([, p]) => !p.startsWith('/admin/')).map(([, p]) => p);

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * The routes src/route.rs declares today, read from its source: the slice patterns of `resolve`
 * (parameters named by the segment before them) and the methods of `Endpoint::allow`. Keeps the
 * hard-coded ROUTES honest when routes are added.
 */
function routesOfSource() {
  const src = readFileSync(join(ROOT, 'src', 'route.rs'), 'utf8');
  const body = (name) => {
    const start = src.indexOf(`fn ${name}(`);
    assert.ok(start >= 0, `src/route.rs: fn ${name} not found`);
    const indent = src.slice(src.lastIndexOf('\n', start) + 1, start).replace(/\S.*$/, '');
    const end = src.indexOf(`\n${indent}}\n`, start);
    assert.ok(end > start, `src/route.rs: end of fn ${name} not found`);
    return src.slice(start, end);
  };
  const allow = {};
  for (const [, names, methods] of body('allow').matchAll(/((?:Self::\w+(?:\(_\))?[\s|]*)+)=>\s*\{?\s*"([^"]+)"/g)) {
    for (const [, name] of names.matchAll(/Self::(\w+)/g)) allow[name] = methods.split(', ').map((m) => m.toLowerCase());
  }
  const PARAM_AFTER = { orgs: 'org', 'signing-keys': 'kid', keys: 'key_id', providers: 'provider_id' };
  const routes = [];
  const preflight = [];
  const arms = [...body('resolve').matchAll(/\[([^\]]*)\]\s*(?:if [^=]*)?=>\s*\{?\s*\(org,\s*Endpoint::(\w+)/g)];
  assert.ok(arms.length >= 10, `src/route.rs: only ${arms.length} route patterns found`);
  for (const [, pattern, endpoint] of arms) {
    let templates = [''];
    let previous = '';
    for (const element of pattern.split(',').map((e) => e.trim()).filter(Boolean)) {
      let choices;
      if (element.startsWith('"')) choices = element.split('|').map((c) => c.trim().replace(/^"|"$/g, ''));
      else {
        assert.ok(PARAM_AFTER[previous], `src/route.rs: parameter ${element} after "${previous}" has no document name`);
        choices = [`{${PARAM_AFTER[previous]}}`];
      }
      templates = templates.flatMap((t) => choices.map((c) => `${t}/${c}`));
      previous = choices[0];
    }
    assert.ok(allow[endpoint], `src/route.rs: no allow() for ${endpoint}`);
    for (const t of templates) {
      for (const m of allow[endpoint]) (m === 'options' ? preflight : routes).push(m === 'options' ? t : [m, t]);
    }
  }
  return { routes, preflight };
}

/** Every [method, path, operation] of the document. */
const operations = () =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => [m, path, item[m]]));
/** The routed admin operations (src/route.rs), each guarded by an x-required-scope. */
const adminOperations = () =>
  operations().filter(([method, path]) => path.startsWith('/admin/v1/') && !beforeRouting(method, path));

/** Resolves a local JSON pointer reference (`#/a/b`) in the document; throws if it does not. */
function resolveRef(ref) {
  assert.ok(ref.startsWith('#/'), `non-local $ref ${ref}`);
  let node = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    assert.ok(node && typeof node === 'object' && Object.hasOwn(node, key), `$ref ${ref} does not resolve`);
    node = node[key];
  }
  return node;
}

const deref = (node) => (node && node.$ref ? deref(resolveRef(node.$ref)) : node);

/** Every value of `key` anywhere in `value`, with its location. */
function collect(value, key, at = '#', out = []) {
  if (Array.isArray(value)) value.forEach((v, i) => collect(v, key, `${at}/${i}`, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === key) out.push([at, v]);
      collect(v, key, `${at}/${k}`, out);
    }
  }
  return out;
}

// --- A small JSON Schema (2020-12) validator for the keywords the document uses -----------------

const KEYWORDS = new Set([
  '$ref', 'type', 'const', 'enum', 'properties', 'required', 'additionalProperties', 'items', 'minItems',
  'maxItems', 'uniqueItems', 'maxProperties', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum',
  'allOf', 'oneOf', 'format', 'default', 'description', 'examples', 'writeOnly',
]);

const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const hasType = (v, t) => (t === 'integer' ? Number.isInteger(v) : t === 'number' ? typeof v === 'number' : typeOf(v) === t);

/** The problems of `value` against `schema`, as strings (none: valid). */
function problems(schema, value, at = '$') {
  const out = [];
  for (const k of Object.keys(schema)) if (!KEYWORDS.has(k)) out.push(`${at}: the test's validator does not know keyword ${k}`);
  if (schema.$ref) out.push(...problems(resolveRef(schema.$ref), value, at));
  if (schema.type) {
    const types = [].concat(schema.type);
    if (!types.some((t) => hasType(value, t))) out.push(`${at}: ${JSON.stringify(value)} is not of type ${types.join('|')}`);
  }
  if ('const' in schema && JSON.stringify(value) !== JSON.stringify(schema.const)) out.push(`${at}: not ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) out.push(`${at}: ${JSON.stringify(value)} not in enum`);
  if (typeof value === 'string') {
    const len = [...value].length;
    if (schema.minLength !== undefined && len < schema.minLength) out.push(`${at}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && len > schema.maxLength) out.push(`${at}: longer than ${schema.maxLength}`);
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) out.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) out.push(`${at}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) out.push(`${at}: above ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.push(`${at}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) out.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) out.push(`${at}: repeated items`);
    if (schema.items) value.forEach((v, i) => out.push(...problems(schema.items, v, `${at}[${i}]`)));
  }
  if (typeOf(value) === 'object') {
    for (const r of schema.required ?? []) if (!Object.hasOwn(value, r)) out.push(`${at}: missing member ${r}`);
    if (schema.maxProperties !== undefined && Object.keys(value).length > schema.maxProperties) out.push(`${at}: too many members`);
    const props = schema.properties ?? {};
    for (const [k, v] of Object.entries(value)) {
      if (props[k]) out.push(...problems(props[k], v, `${at}.${k}`));
      else if (schema.additionalProperties === false) out.push(`${at}: unexpected member ${k}`);
      else if (typeof schema.additionalProperties === 'object') out.push(...problems(schema.additionalProperties, v, `${at}.${k}`));
    }
  }
  for (const s of schema.allOf ?? []) out.push(...problems(s, value, at));
  if (schema.oneOf) {
    const matching = schema.oneOf.filter((s) => problems(s, value, at).length === 0).length;
    if (matching !== 1) out.push(`${at}: matches ${matching} of oneOf, not exactly one`);
  }
  return out;
}

const assertValid = (schema, value, what) => {
  const found = problems(schema, value);
  assert.deepEqual(found, [], `${what}: ${JSON.stringify(value)}`);
};

/**
 * Asserts that `res` (a worker.request result) is a documented response of `op`: its status is
 * listed, its required headers are present (with their `const` value when one is given), and its
 * JSON body is valid against the documented schema.
 */
function assertDocumented(op, res, what) {
  const body = JSON.stringify(res.body);
  const documented = op.responses[String(res.status)];
  assert.ok(documented, `${what}: status ${res.status} is not documented (${Object.keys(op.responses)}): ${body}`);
  const response = deref(documented);
  for (const [name, h] of Object.entries(response.headers ?? {})) {
    const header = deref(h);
    const value = res.headers.get(name);
    if (header.required) assert.ok(value !== null, `${what}: header ${name} missing (${res.status} ${body})`);
    if (value !== null && header.schema?.const !== undefined) assert.equal(value, header.schema.const, `${what}: header ${name}`);
  }
  const content = response.content?.['application/json'];
  if (content) {
    assert.equal(res.headers.get('content-type'), 'application/json', `${what}: content type`);
    assertValid(content.schema, res.body, `${what}: ${res.status} body`);
  } else {
    assert.equal(body, JSON.stringify(''), `${what}: ${res.status} should have no body`);
  }
}

// --- The worker ------------------------------------------------------------------------------------

const ORG = 'acme';
const ABSENT = { kid: 'A'.repeat(43), key_id: `key_${'A'.repeat(22)}`, provider_id: 'absent-provider' };
let worker;
const real = {}; // real ids: kid (a signing key that can be retired), key_id (an org key), provider_id

before(async () => {
  worker = await startWorker();
  await worker.createOrg(ORG, { name: 'Acme' });
  const second = await worker.operator('POST', `/orgs/${ORG}/signing-keys`);
  assert.equal(second.status, 201, JSON.stringify(second.body));
  real.kid = second.body.kid; // another key stays active, so retiring this one is a 200
  real.key_id = (await worker.createKey(ORG, { name: 'openapi test key', use: 'ci' })).id;
  real.provider_id = 'corp';
  const provider = await worker.operator('PUT', `/orgs/${ORG}/providers/${real.provider_id}`, {
    issuer: 'https://corp.example', jwks_uri: 'https://corp.example/jwks', algorithms: ['ES256'], audiences: ['tx'],
  });
  assert.equal(provider.status, 201, JSON.stringify(provider.body));
});
after(() => worker?.stop());

/** The concrete path: {org} and the id parameters replaced. */
const fill = (template, ids) =>
  template.replace(/\{(\w+)\}/g, (_, name) => {
    if (name === 'org') return ORG;
    assert.ok(ids[name], `no value for path parameter {${name}} in ${template}`);
    return ids[name];
  });

/** A request body for `op`: the first example of its JSON schema when the body is required. */
function exampleBody(op, what) {
  const body = op.requestBody && deref(op.requestBody);
  if (!body?.required) return undefined;
  const schema = deref(body.content['application/json'].schema);
  assert.ok(schema.examples?.length, `${what}: a required JSON body needs an example in its schema`);
  return schema.examples[0];
}

const HTTP = (m) => m.toUpperCase();

describe('the document', () => {
  test('parses, is OpenAPI 3.1, with the required info, servers and security schemes', () => {
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    assert.equal(doc.info.title, 'token-exchange');
    assert.equal(doc.info.version, '1');
    assert.ok(doc.servers.some((s) => s.url === 'http://127.0.0.1:8787'));
    const { operator, orgKey } = doc.components.securitySchemes;
    assert.deepEqual([operator.type, operator.scheme], ['http', 'bearer']);
    assert.deepEqual([orgKey.type, orgKey.scheme, orgKey.bearerFormat], ['http', 'bearer', 'JWT']);
  });

  test('every $ref resolves inside the document', () => {
    const refs = collect(doc, '$ref');
    assert.ok(refs.length > 50, `only ${refs.length} $refs`);
    for (const [at, ref] of refs) {
      assert.equal(typeof ref, 'string', at);
      assert.doesNotThrow(() => resolveRef(ref), `${at}: ${ref}`);
    }
  });

  test('every schema uses only keywords the test validates, and every example is valid', () => {
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      assertValid({ type: 'object' }, schema, name);
      for (const [at, s] of collect(schema, 'pattern')) if (typeof s === 'string') new RegExp(s, 'u');
      for (const example of schema.examples ?? []) assertValid(schema, example, `example of ${name}`);
      // problems() reports unknown keywords wherever the example reaches; also check the schema itself.
      const unknown = (s, at) => {
        if (!s || typeof s !== 'object') return;
        for (const [k, v] of Object.entries(s)) {
          assert.ok(KEYWORDS.has(k), `${at}: keyword ${k}`);
          if (k === 'properties') for (const [p, ps] of Object.entries(v)) unknown(ps, `${at}.${p}`);
          else if (['items', 'additionalProperties'].includes(k)) unknown(v, `${at}/${k}`);
          else if (['allOf', 'oneOf'].includes(k)) v.forEach((x, i) => unknown(x, `${at}/${k}/${i}`));
        }
      };
      unknown(schema, name);
    }
  });

  test('operations: unique ids, path parameters declared, public ones open, admin ones with both schemes', () => {
    const ids = operations().map(([, , op]) => op.operationId);
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
    for (const [method, path, op] of operations()) {
      const what = `${HTTP(method)} ${path}`;
      const declared = [...(doc.paths[path].parameters ?? []), ...(op.parameters ?? [])]
        .map(deref).filter((p) => p.in === 'path').map((p) => p.name);
      assert.deepEqual(declared.sort(), [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort(), `${what}: path parameters`);
      if (path === LIST_ORGS) {
        // The operator's alone: no org key may call it, whatever its scopes.
        assert.deepEqual(op.security, [{ operator: [] }], `${what}: security`);
        assert.equal(op['x-required-scope'], undefined, what);
        for (const status of ['401', '404']) assert.ok(op.responses[status], `${what}: ${status} documented`);
        assert.equal(deref(op.responses['401']).content['application/json'].schema.$ref, '#/components/schemas/OAuthError');
      } else if (path.startsWith('/admin/v1/')) {
        const scope = op['x-required-scope'];
        assert.ok(scope, `${what}: x-required-scope`);
        assert.deepEqual(op.security, [{ operator: [] }, { orgKey: [scope] }], `${what}: security`);
        assert.ok(op.description.includes(`\`${scope}\``), `${what}: the description names ${scope}`);
        for (const status of ['401', '403', '404']) assert.ok(op.responses[status], `${what}: ${status} documented`);
        assert.equal(deref(op.responses['401']).content['application/json'].schema.$ref, '#/components/schemas/OAuthError');
      } else if (path === '/orgs/{org}/introspect' && method === 'post') {
        // Introspection is for org servers: the admin credential, scope tokens:introspect.
        assert.deepEqual(op.security, [{ operator: [] }, { orgKey: ['tokens:introspect'] }], `${what}: security`);
      } else {
        assert.deepEqual(op.security, [], `${what}: public`);
        assert.equal(op['x-required-scope'], undefined, what);
      }
      const body = op.requestBody && deref(op.requestBody);
      if (['/orgs/{org}/token', '/orgs/{org}/sessions/anonymous'].includes(path) && method === 'post') {
        assert.deepEqual(Object.keys(body.content).sort(), ['application/json', 'application/x-www-form-urlencoded'], what);
      }
    }
  });

  test('components has every schema the API needs', () => {
    for (const name of [
      'OAuthError', 'OrgSettings', 'OrgRecord', 'SigningKeyInfo', 'SigningKeyCreated', 'OrgKeyCreateRequest',
      'OrgKeyInfo', 'OrgKeyCreated', 'AuditEntry', 'AuditPage', 'TokenResponse', 'Jwks',
      'AuthorizationServerMetadata', 'RotationRequest', 'OrgList', 'ResealResult',
    ]) assert.ok(doc.components.schemas[name], name);
    assert.ok(doc.components.schemas.SigningKeyCreated.required.includes('private_jwk'));
    assert.ok(doc.components.schemas.OrgKeyCreated.required.includes('secret'));
    assert.equal(doc.components.schemas.RotationRequest.properties.immediate.type, 'boolean');
  });
});

describe('routes', () => {
  test('the hard-coded routes are those of src/route.rs', () => {
    const { routes, preflight } = routesOfSource();
    assert.deepEqual(routes.map(([m, p]) => `${m} ${p}`).sort(), ROUTES.map(([m, p]) => `${m} ${p}`).sort());
    assert.deepEqual([...new Set(preflight)].sort(), [...PREFLIGHT_PATHS].sort());
  });

  test('every route of src/route.rs (and /healthz and GET /admin/v1/orgs) is documented, and nothing else', () => {
    for (const [method, path] of [...ROUTES, ...BEFORE_ROUTING]) assert.ok(doc.paths[path]?.[method], `${HTTP(method)} ${path} is not documented`);
    for (const path of PREFLIGHT_PATHS) assert.ok(doc.paths[path].options, `OPTIONS ${path} is not documented`);
    const expected = [
      ...[...ROUTES, ...BEFORE_ROUTING].map(([m, p]) => `${m} ${p}`),
      ...PREFLIGHT_PATHS.map((p) => `options ${p}`),
    ].sort();
    assert.deepEqual(operations().map(([m, p]) => `${m} ${p}`).sort(), expected);
  });

  test('control: an unknown path is 404 and a wrong method 405, with or without a credential', async () => {
    const auth = { authorization: `Bearer ${worker.operatorToken}` };
    for (const headers of [{}, auth]) {
      const unknown = await worker.request(`/admin/v1/orgs/${ORG}/no-such-thing`, { headers });
      assert.deepEqual([unknown.status, unknown.body.error], [404, 'not_found']);
      const wrong = await worker.request(`/admin/v1/orgs/${ORG}/audit`, { method: 'DELETE', headers });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.get('allow'), 'GET');
    }
  });

  test('every admin operation is routed: 401 invalid_token without a credential (unknown paths are 404, wrong methods 405)', async () => {
    for (const [method, template, op] of adminOperations()) {
      for (const ids of [real, ABSENT]) {
        const path = fill(template, ids);
        const res = await worker.request(path, { method: HTTP(method) });
        assert.equal(res.status, 401, `${HTTP(method)} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
        assertDocumented(op, res, `${HTTP(method)} ${path} without a credential`);
      }
    }
  });

  test('every admin operation with the operator token: neither 404 nor 405, and answered as documented', async () => {
    // GETs first, then the changes; DELETE and retire (objects with ids) last.
    const rank = ([m, p]) => (m === 'get' ? 0 : /\{(kid|key_id|provider_id)\}/.test(p) ? 2 : 1);
    const ops = adminOperations().sort((a, b) => rank(a) - rank(b));
    for (const [method, template, op] of ops) {
      const path = fill(template, real);
      const what = `${HTTP(method)} ${path}`;
      const res = await worker.operator(HTTP(method), path.slice('/admin/v1'.length), exampleBody(op, what));
      assert.ok(res.status !== 404 && res.status !== 405, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.ok(res.status < 300, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
      assertDocumented(op, res, what);
    }
  });

  test('GET /admin/v1/orgs (before routing): the operator token lists the orgs; an org key 404, no or a wrong credential 401, another method 405', async () => {
    const op = doc.paths[LIST_ORGS].get;
    const other = await worker.operator('PUT', '/orgs/globex', {});
    assert.equal(other.status, 201, JSON.stringify(other.body));
    const listed = await worker.operator('GET', '/orgs');
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assertDocumented(op, listed, `GET ${LIST_ORGS}`);
    assert.deepEqual(listed.body.orgs, [ORG, 'globex'], JSON.stringify(listed.body));
    const key = await worker.createKey(ORG, { name: 'every scope, not the operator', scopes: Object.keys(doc['x-scopes'].scopes) });
    const asKey = await worker.asKey(key, 'GET', '/orgs');
    assert.deepEqual([asKey.status, asKey.body.error], [404, 'not_found'], JSON.stringify(asKey.body));
    assertDocumented(op, asKey, `GET ${LIST_ORGS} with an org key`);
    for (const headers of [{}, { authorization: 'Bearer not-the-operator-token' }]) {
      const res = await worker.request(LIST_ORGS, { headers });
      assert.deepEqual([res.status, res.body.error], [401, 'invalid_token'], JSON.stringify(res.body));
      assertDocumented(op, res, `GET ${LIST_ORGS} ${JSON.stringify(headers)}`);
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD']) {
      for (const headers of [{}, { authorization: `Bearer ${worker.operatorToken}` }]) {
        const res = await worker.request(LIST_ORGS, { method, headers });
        assert.equal(res.status, 405, `${method} ${LIST_ORGS}`);
        assert.equal(res.headers.get('allow'), 'GET', `${method} ${LIST_ORGS}`);
        if (method !== 'HEAD') assert.equal(res.body.error, 'invalid_request');
      }
    }
  });

  test('POST …/reseal with nothing to re-seal: every count 0, idempotent, audited as org.reseal', async () => {
    const op = doc.paths['/admin/v1/orgs/{org}/reseal'].post;
    const first = await worker.operator('POST', `/orgs/${ORG}/reseal`);
    const again = await worker.operator('POST', `/orgs/${ORG}/reseal`);
    for (const res of [first, again]) {
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assertDocumented(op, res, 'POST reseal');
    }
    assert.deepEqual(first.body.resealed, { signing_keys: 0, org_keys: 0, providers: 0 });
    assert.deepEqual(again.body, first.body);
    const audit = await worker.operator('GET', `/orgs/${ORG}/audit?limit=1`);
    assertDocumented(doc.paths['/admin/v1/orgs/{org}/audit'].get, audit, 'GET audit after reseal');
    const [entry] = audit.body.entries;
    assert.deepEqual([entry.action, entry.target, entry.detail], ['org.reseal', ORG, first.body.resealed]);
  });

  test('an absent object is a documented 404 not_found, only where the path has an object id', async () => {
    // PUT of a provider creates it: not a lookup.
    const lookups = adminOperations().filter(([m, p]) => /\{(kid|key_id|provider_id)\}/.test(p) && m !== 'put');
    assert.equal(lookups.length, 5);
    for (const [method, template, op] of lookups) {
      const path = fill(template, ABSENT);
      const res = await worker.operator(HTTP(method), path.slice('/admin/v1'.length));
      assert.deepEqual([res.status, res.body.error], [404, 'not_found'], `${HTTP(method)} ${path}`);
      assertDocumented(op, res, `${HTTP(method)} ${path}`);
    }
  });

  test("an org key lacking the operation's x-required-scope gets the documented 403 naming it", async () => {
    const all = Object.keys(doc['x-scopes'].scopes);
    const without = {};
    for (const [method, template, op] of adminOperations()) {
      const scope = op['x-required-scope'];
      without[scope] ??= await worker.createKey(ORG, { name: `all but ${scope}`, scopes: all.filter((s) => s !== scope) });
      const path = fill(template, real);
      const what = `${HTTP(method)} ${path} without ${scope}`;
      const res = await worker.asKey(without[scope], HTTP(method), path.slice('/admin/v1'.length), exampleBody(op, what));
      assert.deepEqual([res.status, res.body.error], [403, 'insufficient_scope'], `${what}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error_description, new RegExp(`\\b${scope}\\b`), what);
      assert.match(res.headers.get('www-authenticate'), new RegExp(`scope="${scope}"`), what);
      assertDocumented(op, res, what);
    }
  });

  test('the public operations answer as documented', async () => {
    const op = (method, path) => doc.paths[path][method];
    for (const [method, path] of BEFORE_ROUTING.filter(([, p]) => !p.startsWith('/admin/'))) {
      const res = await worker.request(path, { method: HTTP(method) });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assertDocumented(op(method, path), res, `${HTTP(method)} ${path}`);
    }
    for (const path of ROUTES.filter(([m, p]) => m === 'get' && !p.startsWith('/admin/')).map(([, p]) => p)) {
      assertDocumented(op('get', path), await worker.request(fill(path, {})), `GET ${path}`);
      assertDocumented(op('get', path), await worker.request(path.replace('{org}', 'ghost')), `GET ${path} (unknown org)`);
      assertDocumented(op('options', path), await worker.request(fill(path, {}), { method: 'OPTIONS' }), `OPTIONS ${path}`);
    }
    const anon = '/orgs/{org}/sessions/anonymous';
    const token = '/orgs/{org}/token';
    const form = await worker.postForm(fill(anon, {}), { device_id: 'laptop-1' });
    assertDocumented(op('post', anon), form, 'POST anonymous session (form)');
    const json = await worker.postJson(fill(anon, {}), { device_id: 'laptop-2' });
    assertDocumented(op('post', anon), json, 'POST anonymous session (JSON)');
    assertDocumented(op('post', anon), await worker.request(fill(anon, {}), { method: 'POST' }), 'POST anonymous session (no body)');
    assertDocumented(op('post', anon), await worker.postForm(fill(anon, {}), { device_id: 'a b' }), 'POST anonymous session (bad device_id)');
    const refreshed = await worker.postForm(fill(token, {}), { grant_type: 'refresh_token', refresh_token: form.body.refresh_token });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assertDocumented(op('post', token), refreshed, 'POST token (form)');
    const narrowed = await worker.postJson(fill(token, {}), { grant_type: 'refresh_token', refresh_token: json.body.refresh_token, scope: 'session' });
    assert.equal(narrowed.status, 200, JSON.stringify(narrowed.body));
    assertDocumented(op('post', token), narrowed, 'POST token (JSON)');
    for (const params of [{ grant_type: 'password' }, { grant_type: 'refresh_token', refresh_token: 'rt1.AAAA' }, {}]) {
      const res = await worker.postForm(fill(token, {}), params);
      assert.equal(res.status, 400);
      assertDocumented(op('post', token), res, `POST token ${JSON.stringify(params)}`);
    }
    for (const path of [anon, token]) {
      const res = await worker.request(fill(path, {}), { method: 'OPTIONS', headers: { origin: 'https://not-allowed.test' } });
      assert.equal(res.status, 403);
      assertDocumented(op('options', path), res, `OPTIONS ${path} from a foreign origin`);
    }
  });
});

describe('served copy', () => {
  test('GET /openapi.json returns the same JSON', async () => {
    const res = await worker.request('/openapi.json');
    assert.equal(res.status, 200, typeof res.body === 'string' ? res.body.slice(0, 200) : JSON.stringify(res.body));
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
    assert.deepEqual(res.body, doc);
  });
});

describe('x-scopes', () => {
  const xScopes = doc['x-scopes'];

  test('lists every scope with a one-line meaning, and the named sets within it', () => {
    const names = Object.keys(xScopes.scopes);
    assert.equal(names.length, 10);
    for (const [name, meaning] of Object.entries(xScopes.scopes)) {
      assert.match(name, /^[a-z]+:[a-z]+$/);
      assert.ok(typeof meaning === 'string' && meaning.length > 0 && !meaning.includes('\n'), name);
    }
    assert.deepEqual(doc.components.schemas.AdminScope.enum, names);
    assert.deepEqual(Object.keys(xScopes.sets).sort(), ['admin', 'ci', 'production']);
    for (const [set, { scopes }] of Object.entries(xScopes.sets)) {
      for (const s of scopes) assert.ok(names.includes(s), `set ${set}: ${s}`);
    }
    assert.deepEqual(xScopes.sets.admin.scopes, names);
  });

  test('every x-required-scope is in the vocabulary', () => {
    const names = Object.keys(xScopes.scopes);
    const withScope = operations().filter(([, , op]) => op['x-required-scope'] !== undefined);
    assert.equal(withScope.length, adminOperations().length);
    for (const [method, path, op] of withScope) {
      assert.ok(names.includes(op['x-required-scope']), `${HTTP(method)} ${path}: ${op['x-required-scope']}`);
    }
  });

  test("the vocabulary and the named sets are the worker's", async () => {
    for (const [use, { scopes }] of Object.entries(xScopes.sets)) {
      const key = await worker.createKey(ORG, { name: `set ${use}`, use });
      assert.deepEqual(key.scopes, scopes, `use ${use}`);
    }
    const all = await worker.createKey(ORG, { name: 'every scope', scopes: Object.keys(xScopes.scopes) });
    assert.deepEqual(all.scopes, Object.keys(xScopes.scopes));
    assert.equal(all.use, 'admin');
  });
});
