// The official Anthropic TypeScript SDK, unmodified, with only its baseURL pointed at the sidecar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { SIDECAR_URL, attemptsDelta, identity, metric } from '../lib/sidecar.mjs';

const MODEL = 'claude-haiku-4-5';
const DELTAS = 'word '.repeat(5); // what the stub streams

/** A client for a fresh user of `tier`; maxRetries 0 unless the test is about the SDK's own retries. */
function client(tier, tag, { defaultRetries = false } = {}) {
  return new Anthropic({
    apiKey: 'sk-ant-sdk-check',
    baseURL: `${SIDECAR_URL}/anthropic`,
    defaultHeaders: identity(tier, tag),
    ...(defaultRetries ? {} : { maxRetries: 0 }),
  });
}

function ask(extra = {}) {
  return { model: MODEL, max_tokens: 60, messages: [{ role: 'user', content: 'hi' }], ...extra };
}

async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to fail');
}

test('anthropic: messages.create returns the message, its usage and the Ratekeeper headers', async () => {
  const { data: message, response } = await client('open', 'a-create').messages.create(ask()).withResponse();
  assert.equal(message.type, 'message');
  assert.equal(message.content[0].text, DELTAS);
  assert.equal(message.usage.input_tokens, 25);
  assert.equal(message.usage.output_tokens, 15);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('x-ratekeeper-remaining-requests'), /^\d+$/);
  assert.equal(response.headers.get('anthropic-ratelimit-requests-remaining'), '999', 'provider headers pass untouched');
});

test('anthropic: messages.stream() delivers the text and the final usage', async () => {
  const stream = client('open', 'a-stream').messages.stream(ask());
  let text = '';
  stream.on('text', (t) => { text += t; });
  const final = await stream.finalMessage();
  assert.equal(text, DELTAS);
  assert.equal(final.usage.input_tokens, 25);
  assert.equal(final.usage.output_tokens, 15);
  assert.equal(final.stop_reason, 'end_turn');
});

test('anthropic: stream: true yields every event in order, and the sidecar charges the streamed usage', async () => {
  const before = await metric('ratekeeper_tokens_total', { tier: 'open', model: MODEL, direction: 'output' });
  const events = await client('open', 'a-raw').messages.create(ask({ stream: true }));
  const types = [];
  for await (const event of events) {
    types.push(event.type);
  }
  assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta',
    'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta',
    'message_stop']);
  const after = await metric('ratekeeper_tokens_total', { tier: 'open', model: MODEL, direction: 'output' });
  assert.equal(after - before, 15, 'output tokens the sidecar read from message_delta');
});

test('anthropic: a Ratekeeper 429 is Anthropic.RateLimitError with its type, message and headers', async () => {
  const c = client('one-per-2s', 'a-429');
  await c.messages.create(ask());
  const err = await failure(c.messages.create(ask()));
  assert.ok(err instanceof Anthropic.RateLimitError, `expected RateLimitError, got ${err}`);
  assert.equal(err.status, 429);
  assert.equal(err.type, 'rate_limit_error');
  assert.equal(err.error.type, 'error', 'body in the Anthropic error shape');
  assert.equal(err.error.error.type, 'rate_limit_error');
  assert.match(err.error.error.message, /rate limit reached \(tier\.requests\.perMinute\)/);
  assert.equal(err.headers.get('x-ratekeeper-limited-by'), 'tier.requests.perMinute');
  assert.equal(err.headers.get('retry-after'), '2');
  const ms = Number(err.headers.get('retry-after-ms'));
  assert.ok(ms > 1000 && ms <= 2000, `retry-after-ms ${ms}`);
  assert.equal(err.headers.get('x-should-retry'), null, 'waiting helps: the SDK may retry');
});

test('anthropic: with its default retries the SDK waits out retry-after-ms and the retry passes', async () => {
  const c = client('one-per-2s', 'a-retry', { defaultRetries: true });
  await c.messages.create(ask());
  const seen = await attemptsDelta('one-per-2s', () => c.messages.create(ask()));
  assert.equal(seen.error, undefined, `the retried call failed: ${seen.error}`);
  assert.equal(seen.result.usage.output_tokens, 15);
  assert.equal(seen.sidecar, 2, 'one 429, then one allowed retry (an early retry would have been a second 429)');
  assert.equal(seen.stub, 1);
  assert.ok(seen.elapsedMs >= 1500, `waited ${seen.elapsedMs.toFixed(0)} ms: the SDK should wait ~retry-after-ms (~2000)`);
});

test('anthropic: x-should-retry: false (a calendar quota) stops the SDK from retrying', async () => {
  const c = client('hourly', 'a-noretry', { defaultRetries: true });
  await c.messages.create(ask());
  const seen = await attemptsDelta('hourly', () => c.messages.create(ask()));
  assert.ok(seen.error instanceof Anthropic.RateLimitError, `expected RateLimitError, got ${seen.error}`);
  assert.equal(seen.error.headers.get('x-should-retry'), 'false');
  assert.equal(seen.error.headers.get('x-ratekeeper-limited-by'), 'tier.tokens.perHour');
  assert.equal(seen.sidecar, 1, 'no retry');
  assert.equal(seen.stub, 0);
});

test('anthropic: a spent agent run is a RateLimitError the SDK does not retry; another run goes on', async () => {
  const headers = identity('two-per-run', 'a-run');
  const inRun = (run) => new Anthropic({
    apiKey: 'sk-ant-sdk-check',
    baseURL: `${SIDECAR_URL}/anthropic`,
    defaultHeaders: { ...headers, 'X-Ratekeeper-Run': run },
  });
  await inRun('task-1').messages.create(ask());
  await inRun('task-1').messages.create(ask());
  const seen = await attemptsDelta('two-per-run', () => inRun('task-1').messages.create(ask()));
  assert.ok(seen.error instanceof Anthropic.RateLimitError, `expected RateLimitError, got ${seen.error}`);
  assert.equal(seen.error.headers.get('x-ratekeeper-limited-by'), 'run.requests');
  assert.equal(seen.error.headers.get('x-should-retry'), 'false');
  assert.equal(seen.error.type, 'rate_limit_error');
  assert.equal(seen.sidecar, 1, 'no retry');
  assert.equal(seen.stub, 0);
  const other = await inRun('task-2').messages.create(ask());
  assert.equal(other.type, 'message');
});

test('anthropic: a model the tier may not use is Anthropic.PermissionDeniedError (403), never forwarded', async () => {
  const seen = await attemptsDelta('open', () => client('open', 'a-403').messages.create(ask({ model: 'claude-opus-4-6' })));
  assert.ok(seen.error instanceof Anthropic.PermissionDeniedError, `expected PermissionDeniedError, got ${seen.error}`);
  assert.equal(seen.error.status, 403);
  assert.equal(seen.error.type, 'permission_error');
  assert.match(seen.error.error.error.message, /not available to tier "open"/);
  assert.equal(seen.stub, 0);
});

test('anthropic: max_tokens over the tier maxPerRequest is Anthropic.BadRequestError (400)', async () => {
  const seen = await attemptsDelta('open', () => client('open', 'a-400').messages.create(ask({ max_tokens: 5000 })));
  assert.ok(seen.error instanceof Anthropic.BadRequestError, `expected BadRequestError, got ${seen.error}`);
  assert.equal(seen.error.status, 400);
  assert.equal(seen.error.type, 'invalid_request_error');
  assert.match(seen.error.error.error.message, /exceeds tier "open" maxPerRequest 1000/);
  assert.equal(seen.stub, 0);
});

test('anthropic: a request larger than the whole bucket is a 400 (BadRequestError), not a 429', async () => {
  const seen = await attemptsDelta('small-bucket', () => client('small-bucket', 'a-never', { defaultRetries: true })
    .messages.create(ask({ max_tokens: 500 })));
  assert.ok(seen.error instanceof Anthropic.BadRequestError, `expected BadRequestError, got ${seen.error}`);
  assert.equal(seen.error.headers.get('x-ratekeeper-limited-by'), 'tier.tokens.perMinute');
  assert.equal(seen.sidecar, 1, 'the SDK does not retry a 400');
  assert.equal(seen.stub, 0);
});
