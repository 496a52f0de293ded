"""The CLI against the same store as a running server."""

import json
import subprocess

import openai
import pytest

from conftest import BINARY, wait_until


def run(*args, cwd=None):
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_invalid_configuration_stops_startup_with_file_line_and_reason(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text('server:\n  listen: "127.0.0.1:8080"\nproviders:\n  - name: x\n    kind: openai\n    base_url: "http://127.0.0.1:1/v1"\n    api_key: sk-secret\n')
    result = run("serve", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert f"{config}:7:5: providers[0].api_key" in result.stderr
    assert "environment variable" in result.stderr
    assert "sk-secret" not in result.stderr


@pytest.mark.parametrize("verb", [["serve"], ["keys", "create"], ["keys", "list"], ["keys", "revoke"], ["report", "usage"], ["config", "check"]])
def test_every_verb_explains_itself_with_an_example(verb):
    result = run(*verb, "--help")
    assert result.returncode == 0
    assert "Example" in result.stdout
    assert "--config" in result.stdout


def test_keys_list_and_revoke_take_effect_on_the_running_server(gateway):
    created = json.loads(gateway.cli("keys", "create", "--tenant", "acme", "--agent", "nightly", "--json"))
    assert created["key"].startswith("sk-sy-") and created["agent"] == "nightly"
    listed = json.loads(gateway.cli("keys", "list", "--tenant", "acme", "--format", "json"))
    mine = next(k for k in listed if k["id"] == created["id"])
    assert mine["state"] == "active" and mine["agent"] == "nightly"
    assert created["key"] not in gateway.cli("keys", "list")

    client = openai.OpenAI(base_url=gateway.base_url, api_key=created["key"], max_retries=0, timeout=60)
    assert [m.id for m in client.models.list()] == ["chat"]

    gateway.cli("keys", "revoke", created["id"])

    def refused():
        try:
            client.models.list()
            return False
        except openai.AuthenticationError as error:
            return "revoked" in error.message

    wait_until(refused, timeout=5, what="revoked key refused")
    listed = json.loads(gateway.cli("keys", "list", "--format", "json"))
    assert next(k for k in listed if k["id"] == created["id"])["state"] == "revoked"


def test_keys_create_rejects_unknown_tenants(gateway):
    result = run("keys", "create", "--tenant", "initech", "--config", str(gateway.config))
    assert result.returncode == 1
    assert "unknown tenant 'initech'" in result.stderr
