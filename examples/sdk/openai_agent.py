"""A minimal agent behind the Ratekeeper sidecar, with the OpenAI Python SDK.

The only changes from a plain agent:
  * the base URL: the webhook sets OPENAI_BASE_URL=http://127.0.0.1:8787/openai/v1 in the pod, and
    the SDK reads it (outside Kubernetes, export it yourself towards a sidecar you run);
  * the header naming the end user the agent acts for, so that user's tier and budget apply.
"""
import os
import time

import openai

client = openai.OpenAI(
    # base_url: taken from OPENAI_BASE_URL
    default_headers={"X-Ratekeeper-User": os.environ.get("AGENT_USER", "alice")},
)


def ask(question: str) -> str:
    try:
        completion = client.chat.completions.create(
            model="gpt-4o-mini",
            max_completion_tokens=256,
            messages=[{"role": "user", "content": question}],
        )
    except openai.RateLimitError as e:
        # A 429 from Ratekeeper names the limit; the SDK already retried what retry-after allowed
        # (it does not retry when the answer carries x-should-retry: false, e.g. a spent budget).
        return "limited by " + e.response.headers.get("x-ratekeeper-limited-by", "the provider")
    return completion.choices[0].message.content or ""


def ask_streamed(question: str) -> str:
    """The same call, streamed: Ratekeeper charges the usage even without stream_options."""
    parts = []
    for chunk in client.chat.completions.create(
        model="gpt-4o-mini",
        max_completion_tokens=256,
        messages=[{"role": "user", "content": question}],
        stream=True,
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts)


def ask_with_headers(question: str) -> None:
    """The same call, reading the headers Ratekeeper adds to allowed responses."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        max_completion_tokens=64,
        messages=[{"role": "user", "content": question}],
    )
    print("remaining requests:", raw.headers.get("x-ratekeeper-remaining-requests"))
    print("budget left (USD):", raw.headers.get("x-ratekeeper-budget-remaining-usd"))
    print(raw.parse().choices[0].message.content)


if __name__ == "__main__":
    ask_with_headers("Say hello in five words.")
    while True:
        print(ask_streamed("Summarise the idea of a token bucket in one sentence."), flush=True)
        print(ask("Give me one short tip for writing clear commit messages."), flush=True)
        time.sleep(30)
