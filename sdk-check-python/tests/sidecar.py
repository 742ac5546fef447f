"""What the tests know about the running sidecar and stub (sdk-check-python/run.sh starts both and sets
the RK_* variables), how they build the official clients, and how they observe every attempt: the
sidecar's Prometheus metrics, the stub's request count, and an httpx2 event hook on the SDK's own HTTP
client that logs each request it sends and each response it gets, with the time."""
import inspect
import json
import os
import re
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

import anthropic
import openai
import pytest


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the check with sdk-check-python/run.sh")
    return value


SIDECAR_URL = _required("RK_SIDECAR_URL")
ADMIN_URL = _required("RK_ADMIN_URL")
STUB_CONTROL_URL = _required("RK_STUB_CONTROL_URL")
# end users' own keys in the sidecar's --api-keys-file: kim-<sdk>-<mode> -> key (policy.yaml: tier keyed)
END_USER_KEYS = dict(pair.split("=", 1) for pair in _required("RK_END_USER_KEYS").split(","))

ANTHROPIC_MODEL = "claude-haiku-4-5"
OPENAI_MODEL = "gpt-4o-mini"
DELTAS = "word " * 5  # what the stub streams, and answers
MODES = ["sync", "async"]


def identity(tier: str, tag: str) -> dict:
    """Headers naming a fresh end user in `tier`, so no two tests share a counter."""
    return {"X-Ratekeeper-User": f"{tag}-{uuid.uuid4().hex[:8]}", "X-Ratekeeper-Tier": tier}


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


_SAMPLE = re.compile(r"^([^{ ]+)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric(name: str, **labels: str) -> float:
    """The sum of every sample of `name` whose labels include `labels`, from the sidecar's /metrics."""
    total = 0.0
    for line in _get(f"{ADMIN_URL}/metrics").splitlines():
        match = _SAMPLE.match(line)
        if not match or match.group(1) != name:
            continue
        found = dict(_LABEL.findall(match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def stub_requests() -> int:
    """Requests the stub provider has received (every path)."""
    return int(_get(f"{STUB_CONTROL_URL}/requests"))


def stub_answers_next(status: int, headers: dict, body: str) -> None:
    """The stub's next request, whatever its path, gets this answer (a provider's own 429)."""
    data = json.dumps({"status": status, "headers": headers, "body": body}).encode()
    req = urllib.request.Request(f"{STUB_CONTROL_URL}/enqueue", data=data, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204


@dataclass
class Wire:
    """Every HTTP exchange one SDK client made, seen from inside the client (an httpx2 event hook)."""

    requests: list = field(default_factory=list)   # (monotonic time, method, url)
    responses: list = field(default_factory=list)  # (monotonic time, status, headers)

    def on_request(self, request):
        self.requests.append((time.monotonic(), request.method, str(request.url)))

    def on_response(self, response):
        self.responses.append((time.monotonic(), response.status_code, response.headers))

    def hooks(self, mode: str) -> dict:
        if mode == "sync":
            return {"request": [self.on_request], "response": [self.on_response]}

        async def on_request(request):
            self.on_request(request)

        async def on_response(response):
            self.on_response(response)

        return {"request": [on_request], "response": [on_response]}

    def statuses(self) -> list:
        return [status for _, status, _ in self.responses]

    def waited_before_retry(self) -> float:
        """Seconds between the first response and the second request: the SDK's own back-off."""
        return self.requests[1][0] - self.responses[0][0]


@dataclass
class Client:
    sdk: object  # the official client, as an agent would build it
    wire: Wire


def anthropic_client(mode: str, headers: dict, *, retries: bool = False, prefix: str = "anthropic",
                     **extra) -> Client:
    """A client with only base_url and default_headers set (max_retries 0 unless the test is about the
    SDK's own retries)."""
    wire = Wire()
    cls, http = ((anthropic.Anthropic, anthropic.DefaultHttpxClient) if mode == "sync"
                 else (anthropic.AsyncAnthropic, anthropic.DefaultAsyncHttpxClient))
    options = {} if retries else {"max_retries": 0}
    sdk = cls(api_key="sk-ant-sdk-check", base_url=f"{SIDECAR_URL}/{prefix}", default_headers=headers,
              http_client=http(event_hooks=wire.hooks(mode)), **options, **extra)
    return Client(sdk, wire)


def openai_client(mode: str, headers: dict, *, retries: bool = False, prefix: str = "openai", **extra) -> Client:
    wire = Wire()
    cls, http = ((openai.OpenAI, openai.DefaultHttpxClient) if mode == "sync"
                 else (openai.AsyncOpenAI, openai.DefaultAsyncHttpxClient))
    options = {} if retries else {"max_retries": 0}
    sdk = cls(api_key="sk-sdk-check", base_url=f"{SIDECAR_URL}/{prefix}/v1", default_headers=headers,
              http_client=http(event_hooks=wire.hooks(mode)), **options, **extra)
    return Client(sdk, wire)


def azure_client(mode: str, headers: dict, deployment: str, api_version: str, api_key: str) -> Client:
    """openai.AzureOpenAI (or AsyncAzureOpenAI) with its endpoint at the sidecar's azure upstream."""
    wire = Wire()
    cls, http = ((openai.AzureOpenAI, openai.DefaultHttpxClient) if mode == "sync"
                 else (openai.AsyncAzureOpenAI, openai.DefaultAsyncHttpxClient))
    sdk = cls(azure_endpoint=f"{SIDECAR_URL}/azure", azure_deployment=deployment, api_version=api_version,
              api_key=api_key, default_headers=headers, max_retries=0, http_client=http(event_hooks=wire.hooks(mode)))
    return Client(sdk, wire)


def stub_last_call() -> dict:
    """The last request the stub received: its method, URI (query included) and credential headers."""
    return json.loads(_get(f"{STUB_CONTROL_URL}/last"))


async def resolve(value):
    """The result of a call on a sync client, or the awaited one of an async client."""
    return await value if inspect.isawaitable(value) else value


async def collect(stream) -> list:
    """Every item of a sync or async SDK stream."""
    if hasattr(stream, "__aiter__"):
        return [item async for item in stream]
    return list(stream)


async def failure(call) -> Exception:
    """The exception `call()` raises (sync or async)."""
    try:
        await resolve(call())
    except Exception as e:  # noqa: BLE001 - the test asserts on its class
        return e
    pytest.fail("expected the call to fail")


@dataclass
class Seen:
    sidecar: float  # requests the sidecar decided for the tier (allowed, throttled or refused)
    stub: int       # requests that reached the provider
    elapsed: float  # seconds the call took, retries included
    result: object
    error: Exception | None


async def attempts(tier: str, call) -> Seen:
    """Runs `call()` (which may raise) and counts what it caused, from outside the SDK."""
    def observe():
        return metric("ratekeeper_requests_total", tier=tier), stub_requests()

    before = observe()
    started = time.monotonic()
    result, error = None, None
    try:
        result = await resolve(call())
    except Exception as e:  # noqa: BLE001
        error = e
    elapsed = time.monotonic() - started
    after = observe()
    return Seen(after[0] - before[0], after[1] - before[1], elapsed, result, error)


def settled(read, expected, within: float = 3.0):
    """`read()` once it returns `expected`, or its last value after `within` seconds: the sidecar
    settles a stream's usage as the stream ends, which may be a moment after the client saw its end."""
    deadline = time.monotonic() + within
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def output_tokens(model: str, tier: str = "open") -> float:
    return metric("ratekeeper_tokens_total", tier=tier, model=model, direction="output")


