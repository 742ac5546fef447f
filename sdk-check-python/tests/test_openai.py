"""The official OpenAI Python SDK, unmodified, with only base_url pointed at the sidecar; every test that
takes `mode` runs with openai.OpenAI and openai.AsyncOpenAI."""
import json

import openai
import pytest

from sidecar import (DELTAS, END_USER_KEYS, OPENAI_MODEL as MODEL, attempts, collect, failure, identity, metric,
                     openai_client, output_tokens, resolve, settled, stub_answers_next, stub_requests)


def ask(**extra) -> dict:
    return {"model": MODEL, "max_completion_tokens": 60, "messages": [{"role": "user", "content": "hi"}], **extra}


async def test_chat_completions_create_returns_the_completion_its_usage_and_the_ratekeeper_headers(mode):
    c = openai_client(mode, identity("open", "o-create"))
    raw = await resolve(c.sdk.chat.completions.with_raw_response.create(**ask()))
    completion = await resolve(raw.parse())
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == DELTAS
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (25, 15)
    assert raw.status_code == 200
    assert raw.headers["x-ratekeeper-remaining-requests"].isdigit()
    assert raw.headers["x-ratelimit-remaining-requests"] == "999", "provider headers pass untouched"


@pytest.mark.parametrize("extra", [{}, {"stream_options": {"include_usage": False}}],
                         ids=["no-stream_options", "include_usage-false"])
async def test_a_stream_without_include_usage_has_no_usage_chunk_yet_the_sidecar_charges_the_usage(mode, extra):
    before = output_tokens(MODEL)
    c = openai_client(mode, identity("open", "o-stream"))
    chunks = await collect(await resolve(c.sdk.chat.completions.create(**ask(stream=True, **extra))))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == DELTAS
    assert all(len(ch.choices) == 1 for ch in chunks), "no usage-only chunk (empty choices)"
    assert all(ch.usage is None for ch in chunks), "no chunk carries usage"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert settled(lambda: output_tokens(MODEL) - before, 15) == 15, \
        "the sidecar asked for the usage chunk, read it and hid it"


async def test_stream_options_include_usage_true_delivers_the_usage_chunk(mode):
    c = openai_client(mode, identity("open", "o-usage"))
    chunks = await collect(await resolve(c.sdk.chat.completions.create(
        **ask(stream=True, stream_options={"include_usage": True}))))
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (25, 15)
    assert "".join(ch.choices[0].delta.content for ch in chunks[:-1]) == DELTAS


async def test_the_responses_api_returns_the_output_and_usage(mode):
    before = output_tokens(MODEL)
    c = openai_client(mode, identity("open", "o-resp"))
    raw = await resolve(c.sdk.responses.with_raw_response.create(model=MODEL, input="hi", max_output_tokens=60))
    response = await resolve(raw.parse())
    assert response.output_text == DELTAS
    assert (response.usage.input_tokens, response.usage.output_tokens) == (25, 15)
    assert raw.headers["x-ratekeeper-remaining-requests"].isdigit()
    assert settled(lambda: output_tokens(MODEL) - before, 15) == 15


async def test_the_responses_api_streams_its_events_and_the_sidecar_charges_the_final_usage(mode):
    before = output_tokens(MODEL)
    c = openai_client(mode, identity("open", "o-resp-stream"))
    events = await collect(await resolve(c.sdk.responses.create(model=MODEL, input="hi", max_output_tokens=60,
                                                                 stream=True)))
    assert [e.type for e in events] == ["response.created"] + ["response.output_text.delta"] * 5 + [
        "response.completed"]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == DELTAS
    assert events[-1].response.usage.output_tokens == 15
    assert settled(lambda: output_tokens(MODEL) - before, 15) == 15, \
        "output tokens the sidecar read from response.completed"


async def test_a_tier_burst_ends_in_rate_limit_error_with_the_openai_error_shape(mode):
    c = openai_client(mode, identity("burst-3", "o-burst"))
    for _ in range(3):
        await resolve(c.sdk.chat.completions.create(**ask()))
    err = await failure(lambda: c.sdk.chat.completions.create(**ask()))
    assert isinstance(err, openai.RateLimitError), f"expected RateLimitError, got {err!r}"
    assert err.status_code == 429
    assert err.code == "rate_limit_exceeded"
    assert err.type == "requests"
    assert set(err.body) >= {"message", "type", "param", "code"}, "the OpenAI error object"
    assert err.message.startswith("Error code: 429") and "rate limit reached (tier.requests.perMinute)" in err.message
    headers = err.response.headers
    assert headers["x-ratekeeper-limited-by"] == "tier.requests.perMinute"
    assert 5 <= int(headers["retry-after"]) <= 10, "one every 10 s once the burst of 3 is spent"
    assert 4000 < int(headers["retry-after-ms"]) <= 10000
    assert "x-should-retry" not in headers, "waiting helps: the SDK may retry"
    assert c.wire.statuses() == [200, 200, 200, 429]


async def test_the_sdk_waits_out_retry_after_ms_and_its_retry_passes(mode):
    c = openai_client(mode, identity("one-per-2s", "o-retry"), retries=True)
    await resolve(c.sdk.chat.completions.create(**ask()))
    c.wire.requests.clear()
    c.wire.responses.clear()
    seen = await attempts("one-per-2s", lambda: c.sdk.chat.completions.create(**ask()))
    assert seen.error is None, f"the retried call failed: {seen.error!r}"
    assert seen.result.usage.completion_tokens == 15
    assert c.wire.statuses() == [429, 200], "one 429, then one allowed retry"
    told = int(c.wire.responses[0][2]["retry-after-ms"]) / 1000
    waited = c.wire.waited_before_retry()
    assert told - 0.1 <= waited <= told + 1.0, f"waited {waited:.2f} s, told {told:.2f} s"
    assert (seen.sidecar, seen.stub) == (2, 1), "an early retry would have been a second 429 at the sidecar"


async def test_x_should_retry_false_stops_the_sdk_from_retrying_a_calendar_quota(mode):
    c = openai_client(mode, identity("hourly", "o-noretry"), retries=True)
    await resolve(c.sdk.chat.completions.create(**ask()))
    seen = await attempts("hourly", lambda: c.sdk.chat.completions.create(**ask()))
    assert isinstance(seen.error, openai.RateLimitError), f"expected RateLimitError, got {seen.error!r}"
    assert seen.error.code == "rate_limit_exceeded"
    assert seen.error.response.headers["x-should-retry"] == "false"
    assert seen.error.response.headers["x-ratekeeper-limited-by"] == "tier.tokens.perHour"
    assert c.wire.statuses() == [200, 429], "no retry"
    assert (seen.sidecar, seen.stub) == (1, 0)


async def test_a_wait_of_minutes_comes_with_x_should_retry_false_and_the_sdk_does_not_sleep_on_it(mode):
    c = openai_client(mode, identity("slow-refill", "o-long"), retries=True)
    await resolve(c.sdk.chat.completions.create(**ask(max_completion_tokens=90)))
    seen = await attempts("slow-refill", lambda: c.sdk.chat.completions.create(**ask(max_completion_tokens=90)))
    assert isinstance(seen.error, openai.RateLimitError), f"expected RateLimitError, got {seen.error!r}"
    headers = seen.error.response.headers
    assert headers["x-ratekeeper-limited-by"] == "tier.tokens.perMinute"
    assert int(headers["retry-after"]) > 60
    assert headers["x-should-retry"] == "false"
    assert c.wire.statuses() == [200, 429], "no retry"
    assert seen.elapsed < 5, f"the SDK slept {seen.elapsed:.1f} s"


async def test_a_spent_budget_is_insufficient_quota_the_sdk_does_not_retry(mode):
    # $0.0004 a day: max_completion_tokens 650 reserves ~$0.00039 of gpt-4o-mini; a call costs ~$0.000013
    c = openai_client(mode, identity("budgeted", "o-budget"), retries=True)
    raw = await resolve(c.sdk.chat.completions.with_raw_response.create(**ask(max_completion_tokens=650)))
    assert 0 <= float(raw.headers["x-ratekeeper-budget-remaining-usd"]) < 0.0004
    seen = await attempts("budgeted", lambda: c.sdk.chat.completions.create(**ask(max_completion_tokens=650)))
    assert isinstance(seen.error, openai.RateLimitError), f"expected RateLimitError, got {seen.error!r}"
    assert seen.error.code == "insufficient_quota"
    assert "budget exhausted (budget)" in seen.error.message
    assert seen.error.response.headers["x-ratekeeper-limited-by"] == "budget"
    assert seen.error.response.headers["x-should-retry"] == "false"
    assert c.wire.statuses() == [200, 429], "no retry"
    assert (seen.sidecar, seen.stub) == (1, 0)


async def test_a_model_over_its_own_quota_falls_back_visibly_in_the_response_and_its_header():
    # gpt-4o has one call a minute for the whole policy; this test is its only user
    c = openai_client("async", identity("any-model", "o-fallback"))
    first = await c.sdk.chat.completions.with_raw_response.create(**ask(model="gpt-4o"))
    assert first.parse().model == "gpt-4o"
    assert "x-ratekeeper-model-fallback" not in first.headers
    second = await c.sdk.chat.completions.with_raw_response.create(**ask(model="gpt-4o"))
    assert second.parse().model == "gpt-4o-mini", "answered by the fallback model"
    assert second.headers["x-ratekeeper-model-fallback"] == "gpt-4o -> gpt-4o-mini"


async def test_a_provider_429_cools_the_upstream_down_for_every_client_until_its_retry_after():
    # the openai-cooldown upstream (the same stub) exists for this test alone
    stub_answers_next(429, {"retry-after-ms": "2000", "content-type": "application/json"}, json.dumps(
        {"error": {"message": "provider: slow down", "type": "requests", "param": None,
                   "code": "rate_limit_exceeded"}}))
    first = openai_client("async", identity("open", "o-cool"), prefix="openai-cooldown")
    err = await failure(lambda: first.sdk.chat.completions.create(**ask()))
    assert isinstance(err, openai.RateLimitError), f"expected RateLimitError, got {err!r}"
    assert "provider: slow down" in err.message, "the provider's own 429 is relayed"

    # another client, another user: the sidecar answers for the provider, which sees nothing
    other = openai_client("sync", identity("open", "o-cool2"), prefix="openai-cooldown", retries=True)
    before = stub_requests()
    no_retry = openai_client("async", identity("open", "o-cool3"), prefix="openai-cooldown")
    err = await failure(lambda: no_retry.sdk.chat.completions.create(**ask()))
    assert isinstance(err, openai.RateLimitError)
    assert err.response.headers["x-ratekeeper-limited-by"] == "upstream.cooldown"
    assert "cooling down" in err.message
    assert 0 < int(err.response.headers["retry-after-ms"]) <= 2000
    assert stub_requests() == before

    # with its default retries the SDK waits the cooldown out, and its retry reaches the provider
    completion = other.sdk.chat.completions.create(**ask())
    assert completion.usage.completion_tokens == 15
    assert other.wire.statuses()[0] == 429 and other.wire.statuses()[-1] == 200
    assert stub_requests() == before + 1


async def test_the_sdk_honours_a_providers_retry_after_in_whole_seconds(mode):
    # the provider's own 429 says only retry-after: 1 (no -ms); the sidecar relays it as it came
    stub_answers_next(429, {"retry-after": "1", "content-type": "application/json"}, json.dumps(
        {"error": {"message": "provider: slow down", "type": "requests", "param": None,
                   "code": "rate_limit_exceeded"}}))
    c = openai_client(mode, identity("open", "o-seconds"), prefix="openai-cooldown", retries=True)
    completion = await resolve(c.sdk.chat.completions.create(**ask()))
    assert completion.usage.completion_tokens == 15
    _, status, headers = c.wire.responses[0]
    assert (status, headers["retry-after"], headers.get("retry-after-ms")) == (429, "1", None)
    waited = c.wire.waited_before_retry()
    assert 0.9 <= waited <= 2.0, f"waited {waited:.2f} s, told 1 s"
    # the retry may meet the tail of the cooldown that 429 started (a Ratekeeper 429 of a few ms)
    assert c.wire.statuses()[-1] == 200 and set(c.wire.statuses()[:-1]) == {429}
    assert len(c.wire.statuses()) <= 3


async def test_an_end_user_key_makes_the_caller_that_user_whatever_user_header_it_sends(mode):
    key = END_USER_KEYS[f"kim-openai-{mode}"]
    one = openai_client(mode, {"X-Ratekeeper-Api-Key": key, **identity("open", "o-key")})
    two = openai_client(mode, {"X-Ratekeeper-Api-Key": key, **identity("open", "o-key")})
    before = metric("ratekeeper_requests_total", tier="keyed")
    await resolve(one.sdk.chat.completions.create(**ask()))
    err = await failure(lambda: two.sdk.chat.completions.create(**ask()))
    assert isinstance(err, openai.RateLimitError), "the same user's counter, not a fresh user's"
    assert err.response.headers["x-ratekeeper-limited-by"] == "tier.requests.perMinute"
    assert metric("ratekeeper_requests_total", tier="keyed") - before == 2

    stranger = openai_client(mode, {"X-Ratekeeper-Api-Key": "rk-user-nobody", **identity("open", "o-key")})
    err = await failure(lambda: stranger.sdk.chat.completions.create(**ask()))
    assert isinstance(err, openai.AuthenticationError), f"expected AuthenticationError, got {err!r}"
    assert err.code == "invalid_api_key"
    assert "rk-user-nobody" not in err.message, "the key is never echoed"


async def test_a_model_the_tier_may_not_use_is_permission_denied_and_never_forwarded(mode):
    c = openai_client(mode, identity("open", "o-403"))
    seen = await attempts("open", lambda: c.sdk.chat.completions.create(**ask(model="gpt-4o")))
    assert isinstance(seen.error, openai.PermissionDeniedError), f"got {seen.error!r}"
    assert 'not available to tier "open"' in seen.error.message
    assert seen.stub == 0
