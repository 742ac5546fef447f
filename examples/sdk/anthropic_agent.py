"""A minimal agent behind the Ratekeeper sidecar, with the Anthropic Python SDK.

The only changes from a plain agent:
  * the base URL: the webhook sets ANTHROPIC_BASE_URL=http://127.0.0.1:8787/anthropic in the pod,
    and the SDK reads it (outside Kubernetes, export it yourself towards a sidecar you run);
  * the header naming the end user the agent acts for, so that user's tier and budget apply.
"""
import os
import time

import anthropic

client = anthropic.Anthropic(
    # base_url: taken from ANTHROPIC_BASE_URL
    default_headers={"X-Ratekeeper-User": os.environ.get("AGENT_USER", "alice")},
)


def ask(question: str) -> str:
    try:
        message = client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=512,
            messages=[{"role": "user", "content": question}],
        )
    except anthropic.RateLimitError as e:
        # A 429 from Ratekeeper names the limit; the SDK already retried what retry-after allowed
        # (it does not retry when the answer carries x-should-retry: false, e.g. a spent budget).
        return "limited by " + e.response.headers.get("x-ratekeeper-limited-by", "the provider")
    return message.content[0].text


def ask_with_headers(question: str) -> None:
    """The same call, reading the headers Ratekeeper adds to allowed responses."""
    raw = client.messages.with_raw_response.create(
        model="claude-haiku-4-5",
        max_tokens=256,
        messages=[{"role": "user", "content": question}],
    )
    print("remaining requests:", raw.headers.get("x-ratekeeper-remaining-requests"))
    print("budget left (USD):", raw.headers.get("x-ratekeeper-budget-remaining-usd"))
    print(raw.parse().content[0].text)


if __name__ == "__main__":
    ask_with_headers("Say hello in five words.")
    while True:
        print(ask("Give me one short tip for writing clear commit messages."), flush=True)
        time.sleep(30)
