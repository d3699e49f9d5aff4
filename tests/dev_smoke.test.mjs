// Smoke test of the README's first two lines: `make dev`, then its curl, exactly as written there
// (only the port changes). Also checks that the dev org is seeded once: a restart on the same state
// reuses the org and its signing key.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { ROOT, decodeJwt, freePort } from './support/worker.mjs';

const README_PORT = 8787;

/** The README's curl line that gets an anonymous session from the dev org. */
function readmeCurl() {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const line = readme.split('\n').find((l) => /^curl .*\/orgs\/dev\/sessions\/anonymous$/.test(l.trim()));
  assert.ok(line, 'README has a curl line for /orgs/dev/sessions/anonymous');
  return line.trim();
}

/** Starts `make dev` in its own process group; resolves once it prints that it is ready. */
async function makeDev(port, persistTo) {
  const child = spawn('make', ['dev'], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, PORT: String(port), PERSIST_TO: persistTo },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`make dev not ready in 300 s:\n${output}`)), 300_000);
    const onData = (d) => {
      output += d.toString();
      if (output.includes('[dev] ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`make dev exited (${code}):\n${output}`));
    });
  });
  await ready;
  return {
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid, 'SIGTERM');
      const t = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** The README's CLI line that creates an org key with the dev admin key from .dev.env. */
function readmeCliLine() {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const line = readme.split('\n').find((l) => /^source \.dev\.env && scripts\/tx keys create /.test(l.trim()));
  assert.ok(line, 'README has a CLI line that creates a key');
  return line.trim();
}

function curl(line, port) {
  const cmd = line.replace(`:${README_PORT}`, `:${port}`);
  return JSON.parse(execFileSync('bash', ['-c', cmd], { encoding: 'utf8' }));
}

const running = [];
after(async () => {
  for (const dev of running) await dev.stop();
});

test('make dev serves the README curl a token, seeds the dev org once', { timeout: 600_000 }, async () => {
  const persistTo = mkdtempSync(join(tmpdir(), 'tx-dev-state-'));
  const line = readmeCurl();

  const port = await freePort();
  const first = await makeDev(port, persistTo);
  running.push(first);
  assert.match(first.output(), /created signing key/);
  const session = curl(line, port);
  assert.equal(session.token_type, 'Bearer');
  const issuer = `http://127.0.0.1:${port}/orgs/dev`;
  const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(session.access_token, jwks, { issuer, audience: issuer, typ: 'at+jwt' });
  assert.equal(payload.sub, session.subject);
  const kid = decodeJwt(session.access_token).header.kid;

  const cli = execFileSync('bash', ['-c', readmeCliLine()], { cwd: ROOT, encoding: 'utf8' });
  assert.match(cli, /created key key_\S+ \(my-server\)/, cli);
  assert.match(cli, /sec_[A-Za-z0-9_-]{43}/);

  const home = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(home.status, 200);
  assert.match(await home.text(), /token-exchange/, 'www/ is served as static assets');
  await first.stop();

  const port2 = await freePort();
  const second = await makeDev(port2, persistTo);
  running.push(second);
  assert.doesNotMatch(second.output(), /created (org|signing key|admin key)/, 'seeding is idempotent');
  const again = curl(line, port2);
  assert.equal(decodeJwt(again.access_token).header.kid, kid, 'the same seeded key signs after a restart');
  const refreshed = await fetch(`http://127.0.0.1:${port2}/orgs/dev/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: session.refresh_token }),
  });
  assert.equal(refreshed.status, 200, 'a refresh token from before the restart still refreshes');
  await second.stop();
});
