// The official OpenAI TypeScript SDK's AzureOpenAI client, unmodified, with only its endpoint pointed at
// the sidecar's azure upstream (/azure): deployment paths, api-version and the api-key header pass through,
// and each deployment is governed and charged as the model the policy maps it to (gpt-4o-mini).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AzureOpenAI, NotFoundError, RateLimitError } from 'openai';
import { SIDECAR_URL, attemptsDelta, identity, metric, stubLastCall } from '../lib/sidecar.mjs';

const DEPLOYMENT = 'mini-deployment'; // policy.yaml: served by gpt-4o-mini
const MODEL = 'gpt-4o-mini';
const API_VERSION = '2024-10-21';
const KEY = 'azure-sdk-check-key';
const DELTAS = 'word '.repeat(5); // what the stub streams

function client(tier, tag, deployment = DEPLOYMENT) {
  return new AzureOpenAI({
    endpoint: `${SIDECAR_URL}/azure`,
    apiKey: KEY,
    apiVersion: API_VERSION,
    deployment,
    defaultHeaders: identity(tier, tag),
    maxRetries: 0,
  });
}

function ask(extra = {}) {
  return { model: DEPLOYMENT, max_completion_tokens: 60, messages: [{ role: 'user', content: 'hi' }], ...extra };
}

const tokens = (direction) => metric('ratekeeper_tokens_total', { tier: 'open', model: MODEL, direction });

test('azure: chat.completions.create goes to the deployment with api-version and api-key, charged as its model', async () => {
  const before = await tokens('output');
  const { data: completion, response } = await client('open', 'az-create').chat.completions.create(ask()).withResponse();
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.choices[0].message.content, DELTAS);
  assert.equal(completion.usage.completion_tokens, 15);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('x-ratekeeper-remaining-requests'), /^\d+$/);
  const seen = await stubLastCall();
  assert.equal(seen.uri, `/openai/deployments/${DEPLOYMENT}/chat/completions?api-version=${API_VERSION}`);
  assert.equal(seen.apiKey, KEY, 'the client key travels in api-key');
  assert.equal((await tokens('output')) - before, 15, 'counted under the model the deployment serves');
});

test('azure: a stream yields the text, no usage chunk, and the sidecar still charges the usage', async () => {
  const before = await tokens('output');
  const stream = await client('open', 'az-stream').chat.completions.create(ask({ stream: true }));
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
  }
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), DELTAS);
  assert.ok(chunks.every((c) => c.usage == null), 'no chunk carries usage');
  assert.ok(chunks[0].prompt_filter_results, "Azure's content-filter chunk passes untouched");
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  assert.equal((await tokens('output')) - before, 15, 'the sidecar asked for the usage chunk, read it and hid it');
});

test('azure: embeddings.create and responses.create work and are charged', async () => {
  const before = await tokens('input');
  const embedding = await client('open', 'az-embed').embeddings.create({ model: DEPLOYMENT, input: 'hello' });
  assert.equal(embedding.data.length, 1);
  assert.equal((await stubLastCall()).uri, `/openai/deployments/${DEPLOYMENT}/embeddings?api-version=${API_VERSION}`);

  const response = await client('open', 'az-resp').responses.create({ model: DEPLOYMENT, input: 'hi', max_output_tokens: 60 });
  assert.equal(response.output_text, DELTAS);
  assert.equal((await stubLastCall()).uri, `/openai/responses?api-version=${API_VERSION}`);
  assert.equal((await tokens('input')) - before, 50, 'the input of both, as gpt-4o-mini');
});

test('azure: a deployment the policy does not map is NotFoundError with code DeploymentNotMapped, never forwarded', async () => {
  const { sidecar, stub, error } = await attemptsDelta('unknown', () =>
    client('open', 'az-unmapped', 'gpt-4o').chat.completions.create(ask({ model: 'gpt-4o' })));
  assert.ok(error instanceof NotFoundError, `got ${error}`);
  assert.equal(error.status, 404);
  assert.equal(error.code, 'DeploymentNotMapped');
  assert.match(error.message, /deployment "gpt-4o" is not mapped to a model/);
  assert.equal(sidecar, 1);
  assert.equal(stub, 0);
});

test('azure: a Ratekeeper 429 is RateLimitError with its headers', async () => {
  const c = client('one-per-2s', 'az-429');
  await c.chat.completions.create(ask());
  const error = await c.chat.completions.create(ask()).then(() => assert.fail('expected a 429'), (e) => e);
  assert.ok(error instanceof RateLimitError, `got ${error}`);
  assert.equal(error.headers.get('x-ratekeeper-limited-by'), 'tier.requests.perMinute');
  assert.ok(Number(error.headers.get('retry-after-ms')) > 0);
});

test('azure: where the webhook set OPENAI_BASE_URL, the Node client takes baseURL from AZURE_OPENAI_ENDPOINT', async () => {
  const saved = { OPENAI_BASE_URL: process.env.OPENAI_BASE_URL, AZURE_OPENAI_ENDPOINT: process.env.AZURE_OPENAI_ENDPOINT };
  process.env.OPENAI_BASE_URL = `${SIDECAR_URL}/openai/v1`; // as the webhook sets them in an app container
  process.env.AZURE_OPENAI_ENDPOINT = `${SIDECAR_URL}/azure`;
  try {
    // the Node AzureOpenAI reads OPENAI_BASE_URL as its baseURL, which excludes `endpoint`
    assert.throws(() => new AzureOpenAI({ endpoint: process.env.AZURE_OPENAI_ENDPOINT, apiKey: KEY, apiVersion: API_VERSION }),
      /baseURL and endpoint are mutually exclusive/);
    const c = new AzureOpenAI({
      baseURL: `${process.env.AZURE_OPENAI_ENDPOINT}/openai`, apiKey: KEY, apiVersion: API_VERSION,
      defaultHeaders: identity('open', 'az-env'), maxRetries: 0,
    });
    const completion = await c.chat.completions.create(ask());
    assert.equal(completion.choices[0].message.content, DELTAS);
    assert.equal((await stubLastCall()).uri, `/openai/deployments/${DEPLOYMENT}/chat/completions?api-version=${API_VERSION}`);
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = value;
      }
    }
  }
});
