"""What the README and examples/ tell Python agents to write, run as written against the sidecar: the
client set-up of the README's "Point the SDK at it" section, and the example agents the Deployments in
examples/ run (their ConfigMaps carry them word for word, and install the SDK versions checked here)."""
import importlib.util
import re
from pathlib import Path

import anthropic
import openai
import pytest
import yaml

from sidecar import DELTAS, SIDECAR_URL, metric

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PINNED = dict(re.findall(r"(?m)^([A-Za-z0-9_.-]+)==(\S+)$", (ROOT / "sdk-check-python/requirements.txt").read_text()))
EXAMPLES = {
    # manifest: (ConfigMap / Deployment name, agent file, SDK package, environment variable of its base URL)
    "agent-deployment.yaml": ("support-agent", "anthropic_agent.py", "anthropic", "ANTHROPIC_BASE_URL"),
    "python-agent-deployment.yaml": ("research-agent", "openai_agent.py", "openai", "OPENAI_BASE_URL"),
}


def readme_python_snippets() -> list:
    """The ```python blocks of the README between "Point the SDK at it" and the next heading."""
    start = README.index("Point the SDK at it")
    section = README[start:README.index("\n## ", start)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_shows_the_client_set_up_for_both_python_sdks():
    snippets = readme_python_snippets()
    assert len(snippets) == 2
    assert "anthropic.Anthropic(" in snippets[0] and "openai.OpenAI(" in snippets[1]
    for snippet in snippets:
        assert len(snippet.strip().splitlines()) == 2, "two lines of client set-up"
        assert '"X-Ratekeeper-User": "alice"' in snippet


@pytest.mark.parametrize("index", [0, 1], ids=["anthropic", "openai"])
def test_the_readme_client_set_up_works_as_written(index, monkeypatch):
    # the README's sidecar listens on 127.0.0.1:8787; this one on a free port
    snippet = readme_python_snippets()[index].replace("http://127.0.0.1:8787", SIDECAR_URL)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-sdk-check")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sdk-check")
    scope = {"anthropic": anthropic, "openai": openai}
    exec(snippet, scope)  # noqa: S102 - the README's own two lines
    client = scope["client"]
    before = metric("ratekeeper_requests_total", tier="readme", decision="allowed")
    if isinstance(client, anthropic.Anthropic):
        answer = client.messages.create(model="claude-haiku-4-5", max_tokens=32,
                                        messages=[{"role": "user", "content": "hi"}]).content[0].text
    else:
        answer = client.chat.completions.create(model="gpt-4o-mini", max_completion_tokens=32,
                                                messages=[{"role": "user", "content": "hi"}]).choices[0].message.content
    assert answer == DELTAS
    assert metric("ratekeeper_requests_total", tier="readme", decision="allowed") - before == 1, \
        "the sidecar took the call for alice (tier readme in policy.yaml)"


async def test_the_user_header_can_also_be_given_per_call_with_extra_headers():
    # what a framework that shares one client between end users passes on each call
    client = openai.AsyncOpenAI(api_key="sk-sdk-check", base_url=f"{SIDECAR_URL}/openai/v1", max_retries=0)
    before = metric("ratekeeper_requests_total", tier="readme", decision="allowed")
    completion = await client.chat.completions.create(model="gpt-4o-mini", max_completion_tokens=32,
                                                      messages=[{"role": "user", "content": "hi"}],
                                                      extra_headers={"X-Ratekeeper-User": "alice"})
    assert completion.choices[0].message.content == DELTAS
    assert metric("ratekeeper_requests_total", tier="readme", decision="allowed") - before == 1


def load_agent(file: str, env_var: str, prefix: str, user: str, monkeypatch):
    """Imports an example agent as its pod would run it: base URL from the webhook's variable."""
    monkeypatch.setenv(env_var, f"{SIDECAR_URL}/{prefix}")
    monkeypatch.setenv("AGENT_USER", user)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-sdk-check")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sdk-check")
    spec = importlib.util.spec_from_file_location(f"example_{file[:-3]}_{user}", ROOT / "examples/sdk" / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its main loop runs only as __main__
    return module


@pytest.mark.parametrize("manifest", EXAMPLES)
def test_the_agent_deployment_opts_in_and_runs_the_example_agent_on_the_checked_sdk(manifest):
    name, file, package, env_var = EXAMPLES[manifest]
    docs = list(yaml.safe_load_all((ROOT / "examples" / manifest).read_text()))
    config_map = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name)
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
    assert config_map["data"][file] == (ROOT / "examples/sdk" / file).read_text(), "the agent, word for word"
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"]["ratekeeper.dev/inject"] == "true"
    policy = re.search(r"(?m)^  name:\s*(\S+)", (ROOT / "examples/policy.yaml").read_text()).group(1)
    assert template["metadata"]["annotations"]["ratekeeper.dev/policy"] == policy
    agent = template["spec"]["containers"][0]
    assert f"{package}=={PINNED[package]}" in " ".join(agent["args"]), "installs the SDK version checked here"
    assert f"/agent/{file}" in " ".join(agent["args"])
    env = {e["name"] for e in agent.get("env", [])}
    assert env_var not in env and "AGENT_USER" in env, "the webhook sets the base URL"


@pytest.mark.parametrize("file, env_var, prefix", [
    ("anthropic_agent.py", "ANTHROPIC_BASE_URL", "anthropic"),
    ("openai_agent.py", "OPENAI_BASE_URL", "openai/v1"),
], ids=["anthropic", "openai"])
def test_the_example_agent_answers_through_the_sidecar_and_reports_the_limit_that_stops_it(
        file, env_var, prefix, monkeypatch, capsys):
    alice = load_agent(file, env_var, prefix, "alice", monkeypatch)
    before = metric("ratekeeper_requests_total", tier="readme", decision="allowed")
    assert alice.ask("hi") == DELTAS
    alice.ask_with_headers("hi")
    assert "remaining requests: " in capsys.readouterr().out
    if hasattr(alice, "ask_streamed"):
        assert alice.ask_streamed("hi") == DELTAS
    assert metric("ratekeeper_requests_total", tier="readme", decision="allowed") - before >= 2

    # carol's tier (agent-quota) has 600 tokens an hour: some calls in, ask() reports the limit
    # instead of raising, and the SDK did not sleep on it (x-should-retry: false)
    carol = load_agent(file, env_var, prefix, f"carol-{file[:-9]}", monkeypatch)
    answers = [carol.ask("hi") for _ in range(12)]
    assert answers[0] == DELTAS
    assert "limited by tier.tokens.perHour" in answers, answers
