"""Config as code: live governance state in the store, changed through the admin API of one replica,
followed by another, reported as drift by `config plan`, and brought back to the file by `config apply`
— on SQLite and on PostgreSQL, with the real model serving what is admitted."""

import json
import os
import secrets
import subprocess

import openai
import pytest
import requests

from conftest import BINARY, Gateway, local_model, wait_until

POSTGRES_URL = os.environ.get("SWITCHYARD_TEST_POSTGRES_URL")

BODY = """
admin:
  key_env: SWITCHYARD_ADMIN_KEY
routes:
  - name: chat
    targets: [gemma-local]
  - name: other
    targets: [gemma-local]
tenants:
  - name: acme
  - name: globex
"""

ADDED = """
  - name: initech
    projects: [labs]
budgets:
  - name: acme-daily
    scope: tenant:acme
    period: day
    limit: "25"
    alert_at: [0.8]
"""


def storage_url(engine, tmp_path):
    if engine == "sqlite":
        return f"sqlite://{tmp_path / 'shared.db'}"  # one file for both replicas
    database = "sy_cac_" + secrets.token_hex(4)
    subprocess.run(["psql", POSTGRES_URL, "-Atc", f"CREATE DATABASE {database}"], check=True, capture_output=True, timeout=30)
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + database


def run(gateway, *args):
    """The CLI with its exit code (cli() asserts success)."""
    result = subprocess.run(
        [str(BINARY), *args, "--config", str(gateway.config)], capture_output=True, text=True, timeout=60, cwd=gateway.workdir)
    return result.returncode, result.stdout + result.stderr


def other_route(gateway):
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0, timeout=120)
    try:
        client.chat.completions.create(model="other", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8)
        return "served"
    except openai.PermissionDeniedError as denied:
        assert "no-other" in denied.message
        return "refused"


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_admin_changes_drift_and_apply(tmp_path, model_server, engine):
    if engine == "postgres" and not POSTGRES_URL:
        pytest.skip("SWITCHYARD_TEST_POSTGRES_URL not set (scripts/test.sh sets it)")
    admin_key = "sy-admin-" + secrets.token_hex(8)
    env = {"SWITCHYARD_ADMIN_KEY": admin_key}
    url = storage_url(engine, tmp_path)
    body = local_model(model_server.base_url) + BODY
    first = Gateway(tmp_path / "a", model_server.base_url, storage_url=url, body=body, env=env)
    second = Gateway(tmp_path / "b", model_server.base_url, storage_url=url, body=body, env=env)
    try:
        assert run(first, "config", "plan", "--detailed-exitcode") == (0, "No changes: live governance state matches the file.\n")
        assert other_route(second) == "served"

        # An admin tightens acme through replica A; replica B enforces it within a second or two.
        auth = {"Authorization": f"Bearer {admin_key}"}
        created = requests.put(
            f"http://127.0.0.1:{first.port}/admin/v1/tenants/acme/policies/no-other", headers=auth,
            json={"scope": "tenant:acme", "denied_routes": ["other"]}, timeout=10)
        assert created.status_code == 201, created.text
        assert other_route(first) == "refused"
        wait_until(lambda: other_route(second) == "refused", timeout=10, what="replica B enforcing the new policy")

        code, plan = run(first, "config", "plan", "--detailed-exitcode")
        assert code == 2 and "- policy:no-other\n" in plan and "0 to add, 0 to change, 1 to remove" in plan

        # The file moves on too: a new tenant and a budget. Plan shows all three; apply converges.
        for gateway in (first, second):
            gateway.config.write_text(gateway.config.read_text().replace("  - name: globex\n", "  - name: globex\n" + ADDED))
        code, plan = run(first, "config", "plan")
        assert code == 0
        assert "+ tenant:initech\n    name: \"initech\"\n    projects: [\"labs\"]\n" in plan
        assert "+ budget:acme-daily\n" in plan and "    limit: \"25\"\n" in plan
        assert "Plan: 2 to add, 0 to change, 1 to remove." in plan
        code, applied = run(first, "config", "apply")
        assert code == 0 and "Applied 3 change(s)" in applied
        assert run(first, "config", "plan", "--detailed-exitcode")[0] == 0
        wait_until(lambda: other_route(second) == "served", timeout=10, what="replica B dropping the removed policy")

        # The new tenant is live: a key for it is issued and served by both replicas.
        initech = second.cli("keys", "create", "--tenant", "initech", "--project", "labs").strip()
        for gateway in (first, second):
            client = openai.OpenAI(base_url=gateway.base_url, api_key=initech, max_retries=0, timeout=120)
            reply = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
            assert reply.choices[0].message.content is not None
        budgets = requests.get(f"http://127.0.0.1:{second.port}/admin/v1/tenants/acme/budgets", headers=auth, timeout=10)
        assert [b["name"] for b in budgets.json()] == ["acme-daily"]

        # Every change is in the audit chain, with who made it; the chain verifies.
        assert first.cli("audit", "verify").startswith("audit chain intact")
        entries = [json.loads(line) for line in first.cli("audit", "export").splitlines() if line.strip()]
        changes = [(e["action"], e["target"], e["principal"]) for e in entries if e["principal"] in ("admin", "cli")]
        assert ("policy.create", "policy:no-other", "admin") in changes
        assert ("policy.delete", "policy:no-other", "cli") in changes
        assert ("tenant.create", "tenant:initech", "cli") in changes
        assert ("budget.create", "budget:acme-daily", "cli") in changes
        assert admin_key not in json.dumps(entries)
    finally:
        first.stop()
        second.stop()
