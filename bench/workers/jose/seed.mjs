// The org record the jose baseline worker (worker.js) reads from KV, and the settings that make
// the Rust worker's benchmark org equivalent to it.
//
//   const { key, value } = await joseOrgRecord({ org: 'bench', issuer: `${url}/orgs/bench`, idp });
//   await kv.put(key, value);
//
// To configure the Rust worker the same way: `PUT /admin/v1/orgs/{org}` with OUR_ORG_SETTINGS,
// and `PUT /admin/v1/orgs/{org}/providers/${PROVIDER_ID}` with ourProvider(idp).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';

export const PROVIDER_ID = 'bench-idp';

/** The Rust org's settings: every default kept, no per-IP limit, a tier without metering. */
export const OUR_ORG_SETTINGS = {
  anonymous_rate_limit: 'off',
  tier: 'enterprise',
  refresh_reuse_interval_secs: 10,
};

/** The same settings as the jose worker reads them (ours' defaults, from src/org.rs). */
const SETTINGS = {
  audiences: [], // empty: `aud` is the issuer, as ours
  anonymous_scope: 'session',
  access_token_ttl_secs: 600,
  session_ttl_secs: 30 * 24 * 3600,
  session_idle_ttl_secs: 7 * 24 * 3600,
  refresh_reuse_interval_secs: OUR_ORG_SETTINGS.refresh_reuse_interval_secs,
  anonymous_sessions: true,
  allowed_origins: [],
};

/** The Rust provider body for the fake IdP (`idp`: { issuer, jwksUri, clientId }). */
export function ourProvider(idp) {
  return {
    issuer: idp.issuer,
    jwks_uri: idp.jwksUri,
    algorithms: ['RS256', 'EdDSA'],
    audiences: [idp.clientId],
    claim_mapping: { email: 'email', name: 'display_name' },
    allowed_scopes: ['orders:read', 'orders:write', 'profile'],
    default_scopes: ['orders:read'],
  };
}

/** The KV key and JSON value of the jose worker's org record. */
export async function joseOrgRecord({ org, issuer, idp }) {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(org)) throw new Error(`invalid org id ${org}`);
  if (!issuer.endsWith(`/orgs/${org}`)) throw new Error(`issuer ${issuer} is not {origin}/orgs/${org}`);
  const { privateKey } = generateKeyPairSync('ed25519');
  const { kty, crv, x, d } = privateKey.export({ format: 'jwk' });
  const kid = await calculateJwkThumbprint({ kty, crv, x }); // RFC 7638, as ours
  const provider = ourProvider(idp);
  const record = {
    id: org,
    // What ours derives from ISSUER_ORIGIN or the request origin: `{origin}/orgs/{org}`.
    issuer,
    settings: SETTINGS,
    signing_key: { kty, crv, x, d, kid, alg: 'EdDSA' },
    // Ours derives the refresh-token key with HKDF from MASTER_KEY; here from this secret.
    refresh_secret: randomBytes(32).toString('base64url'),
    providers: [{
      id: PROVIDER_ID,
      updated_at: Math.floor(Date.now() / 1000),
      ...provider,
      // Ours' defaults for what the provider body leaves out (src/provider.rs).
      leeway_secs: 60,
      subject_prefix: `${PROVIDER_ID}|`,
      allowed_audiences: [],
    }],
  };
  return { key: `jose/org/${org}`, value: JSON.stringify(record) };
}
