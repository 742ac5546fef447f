"""The official Anthropic Python SDK, unmodified, with only base_url pointed at the sidecar; every test
that takes `mode` runs with anthropic.Anthropic and anthropic.AsyncAnthropic."""
import json

import anthropic

from sidecar import (ANTHROPIC_MODEL as MODEL, DELTAS, END_USER_KEYS, anthropic_client, attempts, collect,
                     failure, identity, metric, output_tokens, resolve, settled, stub_answers_next,
                     stub_requests)


def ask(**extra) -> dict:
    return {"model": MODEL, "max_tokens": 60, "messages": [{"role": "user", "content": "hi"}], **extra}


async def test_messages_create_returns_the_message_its_usage_and_the_ratekeeper_headers(mode):
    c = anthropic_client(mode, identity("open", "a-create"))
    raw = await resolve(c.sdk.messages.with_raw_response.create(**ask()))
    message = await resolve(raw.parse())
    assert message.type == "message"
    assert message.content[0].text == DELTAS
    assert (message.usage.input_tokens, message.usage.output_tokens) == (25, 15)
    assert raw.status_code == 200
    assert raw.headers["x-ratekeeper-remaining-requests"].isdigit()
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "999", "provider headers pass untouched"


async def test_messages_stream_delivers_the_text_and_the_final_usage(mode):
    c = anthropic_client(mode, identity("open", "a-stream"))
    if mode == "sync":
        with c.sdk.messages.stream(**ask()) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
    else:
        async with c.sdk.messages.stream(**ask()) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
    assert text == DELTAS
    assert (final.usage.input_tokens, final.usage.output_tokens) == (25, 15)
    assert final.stop_reason == "end_turn"


async def test_stream_true_yields_every_event_in_order_and_the_sidecar_charges_the_streamed_usage(mode):
    before = output_tokens(MODEL)
    c = anthropic_client(mode, identity("open", "a-raw"))
    events = await collect(await resolve(c.sdk.messages.create(**ask(stream=True))))
    assert [e.type for e in events] == ["message_start", "content_block_start"] + ["content_block_delta"] * 5 + [
        "content_block_stop", "message_delta", "message_stop"]
    assert settled(lambda: output_tokens(MODEL) - before, 15) == 15, "output tokens the sidecar read from message_delta"


async def test_a_tier_burst_ends_in_rate_limit_error_with_the_anthropic_error_shape(mode):
    c = anthropic_client(mode, identity("burst-3", "a-burst"))
    for _ in range(3):
        await resolve(c.sdk.messages.create(**ask()))
    err = await failure(lambda: c.sdk.messages.create(**ask()))
    assert isinstance(err, anthropic.RateLimitError), f"expected RateLimitError, got {err!r}"
    assert err.status_code == 429
    assert err.type == "rate_limit_error"
    assert err.body["type"] == "error", "body in the Anthropic error shape"
    assert err.body["error"]["type"] == "rate_limit_error"
    assert "rate limit reached (tier.requests.perMinute)" in err.api_message
    headers = err.response.headers
    assert headers["x-ratekeeper-limited-by"] == "tier.requests.perMinute"
    assert 5 <= int(headers["retry-after"]) <= 10, "one every 10 s once the burst of 3 is spent"
    assert 4000 < int(headers["retry-after-ms"]) <= 10000
    assert "x-should-retry" not in headers, "waiting helps: the SDK may retry"
    assert c.wire.statuses() == [200, 200, 200, 429]


async def test_the_sdk_waits_out_retry_after_ms_and_its_retry_passes(mode):
    c = anthropic_client(mode, identity("one-per-2s", "a-retry"), retries=True)
    await resolve(c.sdk.messages.create(**ask()))
    c.wire.requests.clear()
    c.wire.responses.clear()
    seen = await attempts("one-per-2s", lambda: c.sdk.messages.create(**ask()))
    assert seen.error is None, f"the retried call failed: {seen.error!r}"
    assert seen.result.usage.output_tokens == 15
    assert c.wire.statuses() == [429, 200], "one 429, then one allowed retry"
    told = int(c.wire.responses[0][2]["retry-after-ms"]) / 1000
    waited = c.wire.waited_before_retry()
    assert told - 0.1 <= waited <= told + 1.0, f"waited {waited:.2f} s, told {told:.2f} s"
    assert (seen.sidecar, seen.stub) == (2, 1), "an early retry would have been a second 429 at the sidecar"


async def test_x_should_retry_false_stops_the_sdk_from_retrying_a_calendar_quota(mode):
    c = anthropic_client(mode, identity("hourly", "a-noretry"), retries=True)
    await resolve(c.sdk.messages.create(**ask()))
    seen = await attempts("hourly", lambda: c.sdk.messages.create(**ask()))
    assert isinstance(seen.error, anthropic.RateLimitError), f"expected RateLimitError, got {seen.error!r}"
    assert seen.error.response.headers["x-should-retry"] == "false"
    assert seen.error.response.headers["x-ratekeeper-limited-by"] == "tier.tokens.perHour"
    assert c.wire.statuses() == [200, 429], "no retry"
    assert (seen.sidecar, seen.stub) == (1, 0)


async def test_a_wait_of_minutes_comes_with_x_should_retry_false_and_the_sdk_does_not_sleep_on_it(mode):
    c = anthropic_client(mode, identity("slow-refill", "a-long"), retries=True)
    await resolve(c.sdk.messages.create(**ask(max_tokens=90)))
    seen = await attempts("slow-refill", lambda: c.sdk.messages.create(**ask(max_tokens=90)))
    assert isinstance(seen.error, anthropic.RateLimitError), f"expected RateLimitError, got {seen.error!r}"
    headers = seen.error.response.headers
    assert headers["x-ratekeeper-limited-by"] == "tier.tokens.perMinute"
    assert int(headers["retry-after"]) > 60
    assert headers["x-should-retry"] == "false"
    assert c.wire.statuses() == [200, 429], "no retry"
    assert seen.elapsed < 5, f"the SDK slept {seen.elapsed:.1f} s"


async def test_a_spent_budget_is_a_rate_limit_error_the_sdk_does_not_retry(mode):
    # $0.0004 a day: a call reserves ~$0.0003 (60 output tokens at $5/M) and is charged $0.0001
    c = anthropic_client(mode, identity("budgeted", "a-budget"), retries=True)
    raw = await resolve(c.sdk.messages.with_raw_response.create(**ask()))
    assert 0 <= float(raw.headers["x-ratekeeper-budget-remaining-usd"]) < 0.0004
    seen = await attempts("budgeted", lambda: c.sdk.messages.create(**ask()))
    assert isinstance(seen.error, anthropic.RateLimitError), f"expected RateLimitError, got {seen.error!r}"
    assert seen.error.type == "rate_limit_error"
    assert "budget exhausted (budget)" in seen.error.api_message
    assert seen.error.response.headers["x-ratekeeper-limited-by"] == "budget"
    assert seen.error.response.headers["x-should-retry"] == "false"
    assert c.wire.statuses() == [200, 429], "no retry"
    assert (seen.sidecar, seen.stub) == (1, 0)
    assert metric("ratekeeper_spend_usd_total", tier="budgeted", model=MODEL) > 0


async def test_a_model_over_its_own_quota_falls_back_visibly_in_the_response_and_its_header():
    # claude-sonnet-4-6 has one call a minute for the whole policy; this test is its only user
    c = anthropic_client("sync", identity("any-model", "a-fallback"))
    first = c.sdk.messages.with_raw_response.create(**ask(model="claude-sonnet-4-6"))
    assert first.parse().model == "claude-sonnet-4-6"
    assert "x-ratekeeper-model-fallback" not in first.headers
    second = c.sdk.messages.with_raw_response.create(**ask(model="claude-sonnet-4-6"))
    assert second.parse().model == "claude-haiku-4-5", "answered by the fallback model"
    assert second.headers["x-ratekeeper-model-fallback"] == "claude-sonnet-4-6 -> claude-haiku-4-5"


async def test_a_provider_429_cools_the_upstream_down_for_every_client_until_its_retry_after():
    # the anthropic-cooldown upstream (the same stub) exists for this test alone
    stub_answers_next(429, {"retry-after": "2", "content-type": "application/json"}, json.dumps(
        {"type": "error", "error": {"type": "rate_limit_error", "message": "provider: slow down"}}))
    first = anthropic_client("sync", identity("open", "a-cool"), prefix="anthropic-cooldown")
    err = await failure(lambda: first.sdk.messages.create(**ask()))
    assert isinstance(err, anthropic.RateLimitError), f"expected RateLimitError, got {err!r}"
    assert err.api_message == "provider: slow down", "the provider's own 429 is relayed"

    # another client, another user: the sidecar answers for the provider, which sees nothing
    other = anthropic_client("async", identity("open", "a-cool2"), prefix="anthropic-cooldown", retries=True)
    before = stub_requests()
    no_retry = anthropic_client("sync", identity("open", "a-cool3"), prefix="anthropic-cooldown")
    err = await failure(lambda: no_retry.sdk.messages.create(**ask()))
    assert isinstance(err, anthropic.RateLimitError)
    assert err.response.headers["x-ratekeeper-limited-by"] == "upstream.cooldown"
    assert "cooling down" in err.api_message
    assert 0 < int(err.response.headers["retry-after-ms"]) <= 2000
    assert stub_requests() == before

    # with its default retries the SDK waits the cooldown out, and its retry reaches the provider
    message = await other.sdk.messages.create(**ask())
    assert message.usage.output_tokens == 15
    assert other.wire.statuses()[0] == 429 and other.wire.statuses()[-1] == 200
    assert stub_requests() == before + 1


async def test_the_sdk_honours_a_providers_retry_after_in_whole_seconds(mode):
    # the provider's own 429 says only retry-after: 1 (no -ms); the sidecar relays it as it came
    stub_answers_next(429, {"retry-after": "1", "content-type": "application/json"}, json.dumps(
        {"type": "error", "error": {"type": "rate_limit_error", "message": "provider: slow down"}}))
    c = anthropic_client(mode, identity("open", "a-seconds"), prefix="anthropic-cooldown", retries=True)
    message = await resolve(c.sdk.messages.create(**ask()))
    assert message.usage.output_tokens == 15
    _, status, headers = c.wire.responses[0]
    assert (status, headers["retry-after"], headers.get("retry-after-ms")) == (429, "1", None)
    waited = c.wire.waited_before_retry()
    assert 0.9 <= waited <= 2.0, f"waited {waited:.2f} s, told 1 s"
    # the retry may meet the tail of the cooldown that 429 started (a Ratekeeper 429 of a few ms)
    assert c.wire.statuses()[-1] == 200 and set(c.wire.statuses()[:-1]) == {429}
    assert len(c.wire.statuses()) <= 3


async def test_an_end_user_key_makes_the_caller_that_user_whatever_user_header_it_sends(mode):
    # kim (tier keyed: one call, then one every 2 s) through two clients claiming other users
    key = END_USER_KEYS[f"kim-anthropic-{mode}"]
    one = anthropic_client(mode, {"X-Ratekeeper-Api-Key": key, **identity("open", "a-key")})
    two = anthropic_client(mode, {"X-Ratekeeper-Api-Key": key, **identity("open", "a-key")})
    before = metric("ratekeeper_requests_total", tier="keyed")
    await resolve(one.sdk.messages.create(**ask()))
    err = await failure(lambda: two.sdk.messages.create(**ask()))
    assert isinstance(err, anthropic.RateLimitError), "the same user's counter, not a fresh user's"
    assert err.response.headers["x-ratekeeper-limited-by"] == "tier.requests.perMinute"
    assert metric("ratekeeper_requests_total", tier="keyed") - before == 2

    stranger = anthropic_client(mode, {"X-Ratekeeper-Api-Key": "rk-user-nobody", **identity("open", "a-key")})
    err = await failure(lambda: stranger.sdk.messages.create(**ask()))
    assert isinstance(err, anthropic.AuthenticationError), f"expected AuthenticationError, got {err!r}"
    assert err.type == "authentication_error"
    assert "rk-user-nobody" not in err.api_message, "the key is never echoed"


async def test_a_model_the_tier_may_not_use_is_permission_denied_and_never_forwarded(mode):
    c = anthropic_client(mode, identity("open", "a-403"))
    seen = await attempts("open", lambda: c.sdk.messages.create(**ask(model="claude-opus-4-6")))
    assert isinstance(seen.error, anthropic.PermissionDeniedError), f"got {seen.error!r}"
    assert seen.error.type == "permission_error"
    assert 'not available to tier "open"' in seen.error.api_message
    assert seen.stub == 0
