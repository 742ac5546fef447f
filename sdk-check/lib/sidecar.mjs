// What the tests know about the running sidecar and stub (sdk-check/run.sh starts both and sets these),
// and how they observe them from outside: the sidecar's Prometheus metrics and the stub's request count.
import { randomUUID } from 'node:crypto';

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the check with sdk-check/run.sh`);
  }
  return value;
}

export const SIDECAR_URL = required('RK_SIDECAR_URL');
export const ADMIN_URL = required('RK_ADMIN_URL');
export const STUB_CONTROL_URL = required('RK_STUB_CONTROL_URL');

/** Headers naming a fresh end user in `tier`, so no two tests share a counter. */
export function identity(tier, tag) {
  return { 'X-Ratekeeper-User': `${tag}-${randomUUID().slice(0, 8)}`, 'X-Ratekeeper-Tier': tier };
}

/** The sum of every sample of `name` whose labels include `labels`, from the sidecar's /metrics. */
export async function metric(name, labels = {}) {
  const text = await (await fetch(`${ADMIN_URL}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) {
      continue;
    }
    const match = line.match(/^[^{ ]+(?:\{(.*)\})? (\S+)$/);
    if (!match) {
      continue;
    }
    const found = Object.fromEntries([...(match[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) {
      sum += Number(match[2]);
    }
  }
  return sum;
}

/** Requests the stub provider has received (every path). */
export async function stubRequests() {
  return Number(await (await fetch(`${STUB_CONTROL_URL}/requests`)).text());
}

/** The last request the stub received: its method, URI (query included) and credential headers. */
export async function stubLastCall() {
  return (await fetch(`${STUB_CONTROL_URL}/last`)).json();
}

/**
 * Runs `action` (which may throw) and counts what it caused: requests the sidecar decided for `tier`
 * (allowed, throttled or refused; from ratekeeper_requests_total) and requests that reached the stub.
 */
export async function attemptsDelta(tier, action) {
  const observe = async () => [await metric('ratekeeper_requests_total', { tier }), await stubRequests()];
  const before = await observe();
  const started = performance.now();
  let result;
  let error;
  try {
    result = await action();
  } catch (e) {
    error = e;
  }
  const elapsedMs = performance.now() - started;
  const after = await observe();
  return { sidecar: after[0] - before[0], stub: after[1] - before[1], elapsedMs, result, error };
}
