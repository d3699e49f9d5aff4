// The key dashboard: an org admin signs in with an org key (id + secret), and this page signs a
// short-lived admin credential for every call with WebCrypto Ed25519: the secret never leaves the
// browser. It is kept for the tab only (sessionStorage), never in localStorage.

const $ = (id) => document.getElementById(id);
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const fromB64url = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
const PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const CREDENTIAL = 'tx-dashboard-credential';

let signer = null; // { org, keyId, key: CryptoKey }

async function importSecret(secret) {
  if (!/^sec_[A-Za-z0-9_-]{43}$/.test(secret)) throw new Error('the secret is sec_ followed by 43 characters');
  const seed = fromB64url(secret.slice(4));
  return crypto.subtle.importKey('pkcs8', new Uint8Array([...PKCS8_PREFIX, ...seed]), { name: 'Ed25519' }, false, ['sign']);
}

/** A two-minute admin credential: EdDSA, kid = key id, iss = sub = key id, aud = the admin API. */
async function credential() {
  const now = Math.floor(Date.now() / 1000);
  const enc = (o) => b64url(new TextEncoder().encode(JSON.stringify(o)));
  const input = `${enc({ alg: 'EdDSA', kid: signer.keyId, typ: 'JWT' })}.${enc({
    iss: signer.keyId, sub: signer.keyId, aud: `${location.origin}/admin/v1`, iat: now, exp: now + 120,
    jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
  })}`;
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, signer.key, new TextEncoder().encode(input)));
  return `${input}.${b64url(sig)}`;
}

async function api(method, path, body) {
  const res = await fetch(`/admin/v1/orgs/${signer.org}${path}`, {
    method,
    headers: { authorization: `Bearer ${await credential()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : {};
  if (!res.ok) throw new Error(`${res.status} ${json.error}: ${json.error_description}`);
  return json;
}

const status = (text) => { $('status').textContent = text; };
const when = (t) => (t ? new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 16) + 'Z' : '–');

async function refreshKeys() {
  const { keys } = await api('GET', '/keys');
  const rows = $('keys');
  rows.replaceChildren();
  for (const k of keys) {
    const tr = document.createElement('tr');
    tr.dataset.keyId = k.id;
    for (const v of [k.id, k.name, k.use ?? k.scopes.join(' '), k.status, when(k.created_at), when(k.last_used_at)]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    const td = document.createElement('td');
    if (k.status === 'active') {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Revoke';
      button.setAttribute('aria-label', `Revoke key ${k.name}`);
      button.onclick = () => revoke(k);
      td.append(button);
    }
    tr.append(td);
    rows.append(tr);
  }
}

async function refreshSettings() {
  const org = await api('GET', '');
  $('origins').value = org.settings.allowed_origins.join('\n');
  const { providers } = await api('GET', '/providers');
  const rows = $('providers');
  rows.replaceChildren();
  for (const p of providers) {
    const tr = document.createElement('tr');
    tr.dataset.providerId = p.id;
    for (const v of [p.id, p.issuer, p.algorithms.join(' '), p.allowed_scopes.join(' ')]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    const td = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Delete';
    button.setAttribute('aria-label', `Delete provider ${p.id}`);
    button.onclick = async () => {
      if (!confirm(`Delete the identity provider "${p.id}"? Its sessions can no longer refresh.`)) return;
      try {
        await api('DELETE', `/providers/${p.id}`);
        status(`Deleted provider ${p.id}.`);
        await refreshSettings();
      } catch (e) {
        status(`Error: ${e.message}`);
      }
    };
    td.append(button);
    tr.append(td);
    rows.append(tr);
  }
}

async function revoke(k) {
  if (!confirm(`Revoke the key "${k.name}" (${k.id})? Every token it signed is refused at once.`)) return;
  try {
    await api('DELETE', `/keys/${k.id}`);
    status(`Revoked ${k.id}.`);
    await refreshKeys();
  } catch (e) {
    status(`Error: ${e.message}`);
  }
}

async function signIn(org, keyId, secret) {
  signer = { org, keyId, key: await importSecret(secret) };
  await refreshKeys();
  // Settings and providers need org:read and providers:read; a key without them manages keys only.
  await refreshSettings().catch((e) => status(`Settings unavailable: ${e.message}`));
  sessionStorage.setItem(CREDENTIAL, JSON.stringify({ org, keyId, secret }));
  $('signin').hidden = true;
  $('manage').hidden = false;
  $('who').textContent = `${keyId} in ${org}`;
}

$('signin').onsubmit = async (event) => {
  event.preventDefault();
  try {
    await signIn($('org').value.trim(), $('key-id').value.trim(), $('key-secret').value.trim());
    $('key-secret').value = '';
    status('Signed in.');
  } catch (e) {
    signer = null;
    status(`Error: ${e.message}`);
  }
};

$('create').onsubmit = async (event) => {
  event.preventDefault();
  const use = $('new-use').value;
  const body = { name: $('new-name').value.trim() };
  if (use === 'custom') body.scopes = $('new-scopes').value.split(/[\s,]+/).filter(Boolean);
  else body.use = use;
  try {
    const created = await api('POST', '/keys', body);
    // Shown once: only this response has it; it is not stored anywhere.
    $('secret-id').textContent = created.id;
    $('secret-value').textContent = created.secret;
    $('secret-box').hidden = false;
    $('new-name').value = '';
    status(`Created ${created.id}. Copy its secret now: it is never shown again.`);
    await refreshKeys();
  } catch (e) {
    status(`Error: ${e.message}`);
  }
};

$('origins-form').onsubmit = async (event) => {
  event.preventDefault();
  try {
    const { settings } = await api('GET', '');
    settings.allowed_origins = $('origins').value.split('\n').map((o) => o.trim()).filter(Boolean);
    delete settings.tier;
    delete settings.monthly_quota;
    await api('PUT', '', settings);
    status('Origins saved.');
    await refreshSettings();
  } catch (e) {
    status(`Error: ${e.message}`);
  }
};

$('provider-form').onsubmit = async (event) => {
  event.preventDefault();
  try {
    const body = JSON.parse($('provider-json').value);
    const id = $('provider-id').value.trim();
    await api('PUT', `/providers/${id}`, body);
    status(`Saved provider ${id}.`);
    await refreshSettings();
  } catch (e) {
    status(`Error: ${e.message}`);
  }
};

$('new-use').onchange = () => { $('custom-scopes').hidden = $('new-use').value !== 'custom'; };
$('copy').onclick = async () => {
  await navigator.clipboard?.writeText($('secret-value').textContent).catch(() => {});
  status('Secret copied.');
};
$('done').onclick = () => { $('secret-box').hidden = true; $('secret-value').textContent = ''; };
$('signout').onclick = () => { sessionStorage.removeItem(CREDENTIAL); location.reload(); };

const saved = JSON.parse(sessionStorage.getItem(CREDENTIAL) ?? 'null');
(saved ? signIn(saved.org, saved.keyId, saved.secret).catch((e) => status(`Error: ${e.message}`)) : Promise.resolve())
  .finally(() => { document.body.dataset.ready = 'true'; });
