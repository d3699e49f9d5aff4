// The browser client and demo in a real browser (Debian chromium driven by playwright-core),
// against the built worker: obtain, refresh and revoke a token; two tabs refreshing at once do not
// trip reuse detection. Screenshots go to tests/artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { ROOT, startWorker } from './support/worker.mjs';

const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
let worker;
let browser;
before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  worker = await startWorker();
  await worker.createOrg('web', { allowed_origins: [worker.url] });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

const demo = async (context) => {
  const page = await context.newPage();
  await page.goto(`${worker.url}/demo.html?org=web`);
  await page.waitForSelector('body[data-ready=true]');
  return page;
};

test('the demo obtains, refreshes and revokes a token', async () => {
  const context = await browser.newContext();
  const page = await demo(context);
  await page.click('#get');
  await page.waitForFunction(() => document.getElementById('subject').textContent.startsWith('anon_'));
  const first = await page.evaluate(() => window.txClient.session());
  const issuer = `${worker.url}/orgs/web`;
  const { payload } = await jwtVerify(first.accessToken, createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer });
  assert.equal(payload.sub, first.subject);
  await page.screenshot({ path: join(ARTIFACTS, 'demo-token.png'), fullPage: true });

  await page.click('#refresh');
  await page.waitForFunction((old) => window.txClient.session()?.accessToken !== old, first.accessToken);
  const second = await page.evaluate(() => window.txClient.session());
  assert.equal(second.subject, first.subject, 'the same anonymous identity');
  assert.notEqual(second.refreshToken, first.refreshToken, 'rotated');

  await page.reload();
  await page.waitForSelector('body[data-ready=true]');
  assert.equal(await page.textContent('#subject'), first.subject, 'the identity survives a reload');

  await page.click('#signout');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Signed out'));
  await page.screenshot({ path: join(ARTIFACTS, 'demo-signed-out.png'), fullPage: true });
  const r = await worker.postForm('/orgs/web/token', { grant_type: 'refresh_token', refresh_token: second.refreshToken });
  assert.equal(r.status, 400);
  assert.match(r.body.error_description, /revoked/);
  await context.close();
});

test('two tabs refreshing at once share one rotation: no reuse detected, the session lives', async () => {
  const context = await browser.newContext();
  const [a, b] = [await demo(context), await demo(context)];
  await a.evaluate(() => window.txClient.getToken());
  const before1 = (await worker.operator('GET', '/orgs/web/session-store')).body.totals;
  for (let round = 0; round < 3; round++) {
    const [ta, tb] = await Promise.all([
      a.evaluate(() => window.txClient.getToken({ forceRefresh: true })),
      b.evaluate(() => window.txClient.getToken({ forceRefresh: true })),
    ]);
    const sid = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url')).sid;
    assert.equal(sid(ta), sid(tb), `round ${round}: both tabs hold tokens of the one session`);
  }
  const after1 = (await worker.operator('GET', '/orgs/web/session-store')).body.totals;
  assert.equal(after1.revoked_families, before1.revoked_families, 'no family was revoked');
  const s = await a.evaluate(() => window.txClient.session());
  const r = await worker.postForm('/orgs/web/token', { grant_type: 'refresh_token', refresh_token: s.refreshToken });
  assert.equal(r.status, 200, 'the session is alive after the races');
  await b.screenshot({ path: join(ARTIFACTS, 'demo-second-tab.png'), fullPage: true });
  await context.close();
});

test('the dashboard creates a key, shows its secret once, and revokes it; its tokens are then refused', async () => {
  const admin = await worker.createKey('web', { name: 'web admin', use: 'admin' });
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('dialog', (d) => d.accept());
  await page.goto(`${worker.url}/dashboard.html`);
  await page.waitForSelector('body[data-ready=true]');
  await page.fill('#org', 'web');
  await page.fill('#key-id', admin.id);
  await page.fill('#key-secret', admin.secret);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#manage:not([hidden])');
  await page.waitForSelector(`tr[data-key-id="${admin.id}"]`);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-keys.png'), fullPage: true });

  await page.fill('#new-name', 'browser-made');
  await page.selectOption('#new-use', 'production');
  await page.click('#create button[type=submit]');
  await page.waitForSelector('#secret-box:not([hidden])');
  const id = await page.textContent('#secret-id');
  const secret = await page.textContent('#secret-value');
  assert.match(id, /^key_/);
  assert.match(secret, /^sec_[A-Za-z0-9_-]{43}$/);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-secret-once.png'), fullPage: true });
  const made = await worker.operator('GET', `/orgs/web/keys/${id}`);
  assert.deepEqual(made.body.scopes, ['tokens:introspect', 'sessions:read', 'sessions:revoke']);

  await page.reload();
  await page.waitForSelector(`tr[data-key-id="${id}"]`);
  assert.ok(!(await page.content()).includes(secret.slice(4)), 'the secret is gone after a reload');

  const { credential } = await import('./support/worker.mjs');
  const key = { id, secret, public_jwk: made.body.public_jwk };
  const before1 = await worker.request('/admin/v1/orgs/web/session-store', { headers: { authorization: `Bearer ${await credential(worker.url, key)}` } });
  assert.equal(before1.status, 200, 'the new key works');
  await page.click(`tr[data-key-id="${id}"] button`);
  await page.waitForFunction((k) => document.querySelector(`tr[data-key-id="${k}"] td:nth-child(4)`)?.textContent === 'revoked', id);
  const after1 = await worker.request('/admin/v1/orgs/web/session-store', { headers: { authorization: `Bearer ${await credential(worker.url, key)}` } });
  assert.equal(after1.status, 401, 'a token signed by the revoked key is refused');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-revoked.png'), fullPage: true });

  // Allowed origins and identity providers.
  await page.fill('#origins', `${worker.url}\nhttps://app.web.example`);
  await page.click('#origins-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'Origins saved.');
  const org = (await worker.operator('GET', '/orgs/web')).body;
  assert.deepEqual(org.settings.allowed_origins, [worker.url, 'https://app.web.example']);
  await page.fill('#provider-id', 'corp');
  await page.fill('#provider-json', JSON.stringify({
    issuer: 'https://sso.corp.example', jwks_uri: 'https://sso.corp.example/jwks', algorithms: ['RS256'], audiences: ['web'],
  }));
  await page.click('#provider-form button[type=submit]');
  await page.waitForSelector('tr[data-provider-id="corp"]');
  assert.equal((await worker.operator('GET', '/orgs/web/providers/corp')).status, 200);
  await page.click('tr[data-provider-id="corp"] button');
  await page.waitForFunction(() => !document.querySelector('tr[data-provider-id="corp"]'));
  assert.equal((await worker.operator('GET', '/orgs/web/providers/corp')).status, 404);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-settings.png'), fullPage: true });
  await context.close();
});

test('the demo signs in with the dev identity provider: a token exchange upgrading the anonymous session', async () => {
  const { startDevIdp } = await import('../scripts/dev-idp.mjs');
  const idp = await startDevIdp();
  try {
    const put = await worker.operator('PUT', '/orgs/web/providers/dev-idp', idp.provider);
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${worker.url}/demo.html?org=web&idp=${encodeURIComponent(idp.issuer)}`);
    await page.waitForSelector('body[data-ready=true]');
    await page.click('#get');
    await page.waitForFunction(() => document.getElementById('subject').textContent.startsWith('anon_'));
    const anon = await page.textContent('#subject');
    await page.fill('#user', 'alice');
    await page.click('#exchange');
    await page.waitForFunction(() => document.getElementById('subject').textContent === 'dev-idp|alice');
    const claims = JSON.parse(await page.textContent('#claims'));
    assert.equal(claims.idp, 'dev-idp');
    assert.equal(claims.anonymous_sub, anon, 'the anonymous session was upgraded');
    assert.equal(claims.name, 'Alice');
    assert.equal(claims.anonymous, undefined);
    await page.screenshot({ path: join(ARTIFACTS, 'demo-exchanged.png'), fullPage: true });
    await context.close();
  } finally {
    await idp.stop();
  }
});
