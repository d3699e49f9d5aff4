// The storage floor, for startup only: the empty JavaScript worker with ours' bindings (the same
// KV namespace, SQLite Durable Object classes and rate limits) whose requests read the KV key ours'
// startup request reads (an unknown org) and answer 404. Under a local workerd, KV and Durable
// Objects are simulated by workers of their own that start with the process and with the first
// read; this worker pays those costs too, so ours minus it is what our script itself costs.
export class SessionShard {
  fetch() {
    return new Response('ok');
  }
}

export class OrgUsage {
  fetch() {
    return new Response('ok');
  }
}

export default {
  async fetch(request, env) {
    const org = await env.ORGS.get('org/none');
    return new Response(JSON.stringify({ error: 'not_found', org }), {
      status: 404,
      headers: { 'content-type': 'application/json' },
    });
  },
};
