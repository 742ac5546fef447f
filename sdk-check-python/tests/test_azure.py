"""The official OpenAI Python SDK's openai.AzureOpenAI and openai.AsyncAzureOpenAI, unmodified, with only
azure_endpoint pointed at the sidecar's azure upstream: deployment paths, api-version and the api-key header
pass through, and the deployment is governed and charged as the model the policy maps it to (gpt-4o-mini)."""
import openai

from sidecar import (DELTAS, OPENAI_MODEL as MODEL, attempts, azure_client, collect, identity, metric, resolve,
                     settled, stub_last_call)

DEPLOYMENT = "mini-deployment"  # policy.yaml: served by gpt-4o-mini
API_VERSION = "2024-10-21"
KEY = "azure-sdk-check-key"


def client(mode: str, tier: str, tag: str, deployment: str = DEPLOYMENT):
    return azure_client(mode, identity(tier, tag), deployment, API_VERSION, KEY)


def ask(**extra) -> dict:
    return {"model": DEPLOYMENT, "max_completion_tokens": 60, "messages": [{"role": "user", "content": "hi"}], **extra}


def tokens(direction: str) -> float:
    return metric("ratekeeper_tokens_total", tier="open", model=MODEL, direction=direction)


async def test_chat_completions_go_to_the_deployment_with_api_version_and_api_key_charged_as_its_model(mode):
    before = tokens("output")
    c = client(mode, "open", "az-create")
    raw = await resolve(c.sdk.chat.completions.with_raw_response.create(**ask()))
    completion = await resolve(raw.parse())
    assert completion.choices[0].message.content == DELTAS
    assert completion.usage.completion_tokens == 15
    assert raw.headers["x-ratekeeper-remaining-requests"].isdigit()
    seen = stub_last_call()
    assert seen["uri"] == f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version={API_VERSION}"
    assert seen["apiKey"] == KEY, "the client key travels in api-key"
    assert settled(lambda: tokens("output") - before, 15) == 15, "counted under the model the deployment serves"


async def test_a_stream_yields_the_text_without_usage_and_the_sidecar_still_charges_it(mode):
    before = tokens("output")
    c = client(mode, "open", "az-stream")
    chunks = await collect(await resolve(c.sdk.chat.completions.create(**ask(stream=True))))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == DELTAS
    assert all(ch.usage is None for ch in chunks), "no chunk carries usage"
    assert chunks[0].choices == [] and chunks[0].prompt_filter_results, "Azure's content-filter chunk passes"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert settled(lambda: tokens("output") - before, 15) == 15, "the sidecar asked for the usage, read it and hid it"


async def test_embeddings_and_the_responses_api_work_and_are_charged(mode):
    before = tokens("input")
    c = client(mode, "open", "az-embed")
    embedding = await resolve(c.sdk.embeddings.create(model=DEPLOYMENT, input="hello"))
    assert len(embedding.data) == 1
    assert stub_last_call()["uri"] == f"/openai/deployments/{DEPLOYMENT}/embeddings?api-version={API_VERSION}"
    response = await resolve(c.sdk.responses.create(model=DEPLOYMENT, input="hi", max_output_tokens=60))
    assert response.output_text == DELTAS
    assert stub_last_call()["uri"] == f"/openai/responses?api-version={API_VERSION}"
    assert settled(lambda: tokens("input") - before, 50) == 50, "the input of both, as gpt-4o-mini"


async def test_an_unmapped_deployment_is_not_found_with_code_deployment_not_mapped_never_forwarded(mode):
    c = client(mode, "open", "az-unmapped", deployment="gpt-4o")
    seen = await attempts("unknown", lambda: c.sdk.chat.completions.create(**ask(model="gpt-4o")))
    assert isinstance(seen.error, openai.NotFoundError), repr(seen.error)
    assert seen.error.status_code == 404
    assert seen.error.code == "DeploymentNotMapped"
    assert 'deployment "gpt-4o" is not mapped to a model' in seen.error.message
    assert (seen.sidecar, seen.stub) == (1, 0)


async def test_a_ratekeeper_429_is_rate_limit_error_with_its_headers(mode):
    c = client(mode, "burst-3", "az-429")
    for _ in range(3):
        await resolve(c.sdk.chat.completions.create(**ask()))
    seen = await attempts("burst-3", lambda: c.sdk.chat.completions.create(**ask()))
    assert isinstance(seen.error, openai.RateLimitError), repr(seen.error)
    assert seen.error.response.headers["x-ratekeeper-limited-by"] == "tier.requests.perMinute"
    assert int(seen.error.response.headers["retry-after-ms"]) > 0
    assert seen.stub == 0
