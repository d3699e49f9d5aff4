// Runs Debian `wrk` against one URL for a fixed duration and connection count, and charges the
// workerd process's CPU time (utime + stime from /proc) over the run to the requests it completed.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cpuMs } from './cluster.mjs';

const LUA = join(import.meta.dirname, '..', 'lua');

/**
 * One wrk run. `load`: { method: 'GET'|'POST', body?, bearer?, refreshTokensFile? }.
 * Returns { requests, seconds, rps, p50, p99 (ms), non2xx, socketErrors, cpuMsPerRequest }.
 */
export async function runWrk({ url, load, connections, seconds, pid }) {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
  if (load.refreshTokensFile) args.push('-s', join(LUA, 'refresh.lua'), url, '--', load.refreshTokensFile);
  else if (load.method === 'POST') args.push('-s', join(LUA, 'post.lua'), url, '--', load.body, ...(load.bearer ? [load.bearer] : []));
  else args.push(url);
  const cpuBefore = cpuMs(pid);
  const out = await run('wrk', args);
  const cpu = cpuMs(pid) - cpuBefore;
  const result = parseWrk(out);
  return { ...result, cpuMsPerRequest: result.requests ? cpu / result.requests : NaN };
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`))));
  });
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000 };

function latencyMs(text, pct) {
  const m = text.match(new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm'));
  return m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
}

export function parseWrk(text) {
  const total = text.match(/(\d+) requests in ([\d.]+)(us|ms|s|m)/);
  if (!total) throw new Error(`unexpected wrk output: ${text}`);
  const seconds = Number(total[2]) * { us: 1e-6, ms: 1e-3, s: 1, m: 60 }[total[3]];
  const requests = Number(total[1]);
  const non2xx = Number(text.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const socket = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50: latencyMs(text, 50),
    p99: latencyMs(text, 99),
    non2xx,
    socketErrors,
  };
}
