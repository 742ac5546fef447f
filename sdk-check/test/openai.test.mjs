// The official OpenAI TypeScript SDK, unmodified, with only its baseURL pointed at the sidecar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { SIDECAR_URL, attemptsDelta, identity, metric } from '../lib/sidecar.mjs';

const MODEL = 'gpt-4o-mini';
const DELTAS = 'word '.repeat(5); // what the stub streams

/** A client for a fresh user of `tier`; maxRetries 0 unless the test is about the SDK's own retries. */
function client(tier, tag, { defaultRetries = false } = {}) {
  return new OpenAI({
    apiKey: 'sk-sdk-check',
    baseURL: `${SIDECAR_URL}/openai/v1`,
    defaultHeaders: identity(tier, tag),
    ...(defaultRetries ? {} : { maxRetries: 0 }),
  });
}

function ask(extra = {}) {
  return { model: MODEL, max_completion_tokens: 60, messages: [{ role: 'user', content: 'hi' }], ...extra };
}

async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to fail');
}

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
  }
  return chunks;
}

const outputTokens = () => metric('ratekeeper_tokens_total', { tier: 'open', model: MODEL, direction: 'output' });

test('openai: chat.completions.create returns the completion, its usage and the Ratekeeper headers', async () => {
  const { data: completion, response } = await client('open', 'o-create').chat.completions.create(ask()).withResponse();
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.choices[0].message.content, DELTAS);
  assert.equal(completion.usage.prompt_tokens, 25);
  assert.equal(completion.usage.completion_tokens, 15);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('x-ratekeeper-remaining-requests'), /^\d+$/);
  assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '999', 'provider headers pass untouched');
});

for (const [label, extra] of [
  ['stream: true', { stream: true }],
  ['stream: true, stream_options.include_usage: false', { stream: true, stream_options: { include_usage: false } }],
]) {
  test(`openai: ${label} streams the text with no usage chunk, and the sidecar still charges the usage`, async () => {
    const before = await outputTokens();
    const chunks = await collect(await client('open', 'o-stream').chat.completions.create(ask(extra)));
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), DELTAS);
    assert.ok(chunks.every((c) => c.choices.length === 1), 'no usage-only chunk (empty choices)');
    assert.ok(chunks.every((c) => c.usage == null), 'no chunk carries usage');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.equal((await outputTokens()) - before, 15, 'the sidecar asked for the usage chunk, read it and hid it');
  });
}

test('openai: stream_options.include_usage: true delivers the usage chunk', async () => {
  const chunks = await collect(await client('open', 'o-usage').chat.completions
    .create(ask({ stream: true, stream_options: { include_usage: true } })));
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.prompt_tokens, 25);
  assert.equal(last.usage.completion_tokens, 15);
  assert.equal(chunks.slice(0, -1).map((c) => c.choices[0].delta.content).join(''), DELTAS);
});

test('openai: a Ratekeeper 429 is OpenAI.RateLimitError with its code, message and headers', async () => {
  const c = client('one-per-2s', 'o-429');
  await c.chat.completions.create(ask());
  const err = await failure(c.chat.completions.create(ask()));
  assert.ok(err instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${err}`);
  assert.equal(err.status, 429);
  assert.equal(err.code, 'rate_limit_exceeded');
  assert.equal(err.type, 'requests');
  assert.match(err.message, /^429 Ratekeeper: rate limit reached \(tier\.requests\.perMinute\)/);
  assert.equal(err.headers.get('x-ratekeeper-limited-by'), 'tier.requests.perMinute');
  assert.equal(err.headers.get('retry-after'), '2');
  const ms = Number(err.headers.get('retry-after-ms'));
  assert.ok(ms > 1000 && ms <= 2000, `retry-after-ms ${ms}`);
  assert.equal(err.headers.get('x-should-retry'), null, 'waiting helps: the SDK may retry');
});

test('openai: with its default retries the SDK waits out retry-after-ms and the retry passes', async () => {
  const c = client('one-per-2s', 'o-retry', { defaultRetries: true });
  await c.chat.completions.create(ask());
  const seen = await attemptsDelta('one-per-2s', () => c.chat.completions.create(ask()));
  assert.equal(seen.error, undefined, `the retried call failed: ${seen.error}`);
  assert.equal(seen.result.usage.completion_tokens, 15);
  assert.equal(seen.sidecar, 2, 'one 429, then one allowed retry (an early retry would have been a second 429)');
  assert.equal(seen.stub, 1);
  assert.ok(seen.elapsedMs >= 1500, `waited ${seen.elapsedMs.toFixed(0)} ms: the SDK should wait ~retry-after-ms (~2000)`);
});

test('openai: x-should-retry: false (a calendar quota) stops the SDK from retrying', async () => {
  const c = client('hourly', 'o-noretry', { defaultRetries: true });
  await c.chat.completions.create(ask());
  const seen = await attemptsDelta('hourly', () => c.chat.completions.create(ask()));
  assert.ok(seen.error instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${seen.error}`);
  assert.equal(seen.error.code, 'rate_limit_exceeded');
  assert.equal(seen.error.headers.get('x-should-retry'), 'false');
  assert.equal(seen.error.headers.get('x-ratekeeper-limited-by'), 'tier.tokens.perHour');
  assert.equal(seen.sidecar, 1, 'no retry');
  assert.equal(seen.stub, 0);
});

test('openai: a spent agent run is a RateLimitError the SDK does not retry; another run goes on', async () => {
  const headers = identity('two-per-run', 'o-run');
  const inRun = (run) => new OpenAI({
    apiKey: 'sk-sdk-check',
    baseURL: `${SIDECAR_URL}/openai/v1`,
    defaultHeaders: { ...headers, 'X-Ratekeeper-Run': run },
  });
  await inRun('task-1').chat.completions.create(ask());
  await inRun('task-1').chat.completions.create(ask());
  const seen = await attemptsDelta('two-per-run', () => inRun('task-1').chat.completions.create(ask()));
  assert.ok(seen.error instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${seen.error}`);
  assert.equal(seen.error.headers.get('x-ratekeeper-limited-by'), 'run.requests');
  assert.equal(seen.error.headers.get('x-should-retry'), 'false');
  assert.equal(seen.sidecar, 1, 'no retry');
  assert.equal(seen.stub, 0);
  const other = await inRun('task-2').chat.completions.create(ask());
  assert.equal(other.object, 'chat.completion');
});

test('openai: a model the tier may not use is OpenAI.PermissionDeniedError (403), never forwarded', async () => {
  const seen = await attemptsDelta('open', () => client('open', 'o-403').chat.completions.create(ask({ model: 'gpt-4o' })));
  assert.ok(seen.error instanceof OpenAI.PermissionDeniedError, `expected PermissionDeniedError, got ${seen.error}`);
  assert.equal(seen.error.status, 403);
  assert.equal(seen.error.type, 'invalid_request_error');
  assert.match(seen.error.message, /not available to tier "open"/);
  assert.equal(seen.stub, 0);
});

test('openai: max_completion_tokens over the tier maxPerRequest is OpenAI.BadRequestError (400)', async () => {
  const seen = await attemptsDelta('open', () => client('open', 'o-400').chat.completions
    .create(ask({ max_completion_tokens: 5000 })));
  assert.ok(seen.error instanceof OpenAI.BadRequestError, `expected BadRequestError, got ${seen.error}`);
  assert.equal(seen.error.status, 400);
  assert.equal(seen.error.type, 'invalid_request_error');
  assert.match(seen.error.message, /exceeds tier "open" maxPerRequest 1000/);
  assert.equal(seen.stub, 0);
});

test('openai: a request larger than the whole bucket is a 400 (BadRequestError), not a 429', async () => {
  const seen = await attemptsDelta('small-bucket', () => client('small-bucket', 'o-never', { defaultRetries: true })
    .chat.completions.create(ask({ max_completion_tokens: 500 })));
  assert.ok(seen.error instanceof OpenAI.BadRequestError, `expected BadRequestError, got ${seen.error}`);
  assert.equal(seen.error.headers.get('x-ratekeeper-limited-by'), 'tier.tokens.perMinute');
  assert.equal(seen.sidecar, 1, 'the SDK does not retry a 400');
  assert.equal(seen.stub, 0);
});
