"""Agent runs end to end: the official `openai` SDK sends a 200-request run (x-switchyard-run) to a
real `switchyard serve` in front of llama.cpp; a loop is injected part-way; the run shows the loop
(CLI and admin API, from the ledger) and the policy stops it with the run's kill switch, so nothing
of the run reaches the model after it."""

import json
import os
import time

import openai
import pytest
import requests

from conftest import FaultUpstream, Gateway, fault_config, fresh_database, local_model, psql, wait_until

ADMIN_KEY = "sy-admin-e2e-runs"
RUN = "nightly-e2e-1"
LOOP_AT = 120  # the agent starts repeating itself at this request
REPEATS = 5  # loop_repeats: the 5th identical prompt within the window is the loop

BODY = """
admin:
  key_env: SWITCHYARD_ADMIN_KEY
routes:
  - name: chat
    strategy: fallback
    targets: [gemma-local]
tenants:
  - name: acme
  - name: globex
policies:
  - name: acme-runs
    scope: tenant:acme
    on_loop: stop
    loop_repeats: 5
    loop_window_seconds: 600
  - name: globex-runs
    scope: tenant:globex
    max_run_requests: 3
"""


@pytest.fixture(scope="module")
def runs_gateway(tmp_path_factory, model_server):
    gateway = Gateway(
        tmp_path_factory.mktemp("runs"), model_server.base_url, body=local_model(model_server.base_url) + BODY,
        env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    gateway.keys["agent"] = gateway.cli("keys", "create", "--tenant", "acme", "--agent", "nightly-triage").strip()
    yield gateway
    gateway.stop()


def admin_get(gateway, path, key=ADMIN_KEY):
    return requests.get(
        f"http://127.0.0.1:{gateway.port}/admin/v1{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_a_200_request_run_that_loops_is_shown_and_stopped(runs_gateway):
    client = openai.OpenAI(
        base_url=runs_gateway.base_url, api_key=runs_gateway.keys["agent"], max_retries=0, timeout=120,
        default_headers={"x-switchyard-run": RUN})
    served, refused = [], []
    for step in range(200):
        # Progress until LOOP_AT, then the same question again and again.
        prompt = f"Step {step}: reply with one word." if step < LOOP_AT else "Is the ticket fixed yet?"
        try:
            answer = client.chat.completions.with_raw_response.create(
                model="chat", messages=[{"role": "user", "content": prompt}], max_tokens=2,
                extra_headers={"x-switchyard-step": f"step-{step}"})
            served.append(answer.headers["x-request-id"])
        except openai.PermissionDeniedError as error:
            assert error.status_code == 403
            assert error.code == "kill_switch", error.message
            assert f"run:acme/{RUN}" in error.message
            refused.append(step)
    # The 5th identical prompt is the loop: refused, and every later request of the run with it.
    assert len(served) == LOOP_AT + REPEATS - 1
    assert refused == list(range(LOOP_AT + REPEATS - 1, 200))

    # Another run of the same agent, and requests outside any run, go on.
    other = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Is the ticket fixed yet?"}], max_tokens=2,
        extra_headers={"x-switchyard-run": "nightly-e2e-2"})
    assert other.choices
    plain = openai.OpenAI(base_url=runs_gateway.base_url, api_key=runs_gateway.keys["agent"], max_retries=0, timeout=120)
    assert plain.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=2).choices

    # Every request of the run is in the ledger with its run and step; none refused reached the model.
    def run_records():
        rows = runs_gateway.records()
        mine = [r for r in rows if r["run_id"] == RUN]
        later = [r for r in rows if r["run_id"] == "nightly-e2e-2"]
        return mine if len(mine) == 200 and later else None

    records = wait_until(run_records, timeout=30, what="the run's 200 records")
    assert {r["run_step"] for r in records} == {f"step-{step}" for step in range(200)}
    stopped = [r for r in records if r["status"] == 403]
    assert len(stopped) == 200 - len(served)
    assert all(r["deployment"] is None and r["attempts"] == "[]" for r in stopped)
    assert sum(r["run_loop"] for r in records) == 1  # the looping request that stopped the run
    cost_nanos = sum(r["cost_nanos"] for r in records)
    assert cost_nanos > 0

    # The run, from the ledger, through the CLI and the admin API.
    shown = json.loads(runs_gateway.cli("runs", "show", RUN, "--format", "json"))
    assert shown["tenant"] == "acme" and shown["agent"] == "nightly-triage"
    assert shown["requests"] == 200
    assert shown["errors"] == len(stopped)
    assert shown["loops"] == 1 and shown["looping"] is True
    assert shown["stopped"] is True and "looping" in shown["stopped_by"]["reason"]
    assert shown["stopped_by"]["engaged_by"] == "switchyard"
    assert shown["models"] == ["gemma-3-270m"]
    assert shown["last_step"] == "step-199"
    assert shown["costs"] == [{"amount": shown["cost"], "currency": "USD", "nanos": cost_nanos}]
    assert sum(hour["cost"]["nanos"] for hour in shown["hours"]) == cost_nanos  # exact, to the nano-unit
    assert sum(hour["requests"] for hour in shown["hours"]) == 200
    # Per step, in the order the steps began: each of the 200 steps here is one request.
    assert [step["step"] for step in shown["steps"]] == [f"step-{step}" for step in range(200)]
    assert shown["more_steps"] is False
    assert all(step["requests"] == 1 for step in shown["steps"])
    assert [step["step"] for step in shown["steps"] if step["errors"]] == [f"step-{step}" for step in refused]
    assert sum(step["cost"]["nanos"] for step in shown["steps"]) == cost_nanos
    assert "step-199" in runs_gateway.cli("runs", "show", RUN)  # the table has a row per step too
    table = runs_gateway.cli("runs", "list", "--tenant", "acme")
    assert RUN in table and "stopped" in table

    api = admin_get(runs_gateway, f"/runs/{RUN}")
    assert api.status_code == 200
    assert {key: api.json()[key] for key in ("requests", "loops", "cost", "stopped")} == {
        key: shown[key] for key in ("requests", "loops", "cost", "stopped")}
    listed = admin_get(runs_gateway, "/tenants/acme/runs?limit=10").json()
    assert [run["run"] for run in listed][:2] == ["nightly-e2e-2", RUN]

    # The run's kill switch is an ordinary one: listed, and released by an admin, the run resumes.
    switches = admin_get(runs_gateway, "/kill-switches").json()
    assert [s["scope"] for s in switches] == [f"run:acme/{RUN}"]
    released = requests.delete(
        f"http://127.0.0.1:{runs_gateway.port}/admin/v1/kill-switches", params={"scope": f"run:acme/{RUN}"},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    assert released.status_code == 200
    assert client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "A new question."}], max_tokens=2).choices


def test_another_tenant_never_sees_the_run_and_max_run_requests_stops_its_own(runs_gateway):
    tenant_admin = runs_gateway.cli("admin-keys", "create", "--role", "tenant-admin", "--tenant", "globex").strip()
    assert admin_get(runs_gateway, f"/tenants/acme/runs/{RUN}", key=tenant_admin).status_code == 404
    assert admin_get(runs_gateway, f"/runs/{RUN}", key=tenant_admin).status_code == 403
    assert admin_get(runs_gateway, "/runs", key=tenant_admin).status_code == 403

    # globex's runs may send 3 requests; the same run id as acme's is globex's own run.
    client = openai.OpenAI(
        base_url=runs_gateway.base_url, api_key=runs_gateway.keys["globex"], max_retries=0, timeout=120,
        default_headers={"x-switchyard-run": RUN})
    for step in range(3):
        client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": f"Question {step}"}], max_tokens=2)
    with pytest.raises(openai.PermissionDeniedError) as stopped:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "One more"}], max_tokens=2)
    assert "max_run_requests" in stopped.value.message
    own = wait_until(
        lambda: (lambda r: r if r.status_code == 200 and r.json()["requests"] == 4 else None)(
            admin_get(runs_gateway, f"/tenants/globex/runs/{RUN}", key=tenant_admin)),
        timeout=30, what="globex's run in the ledger")
    assert own.json()["tenant"] == "globex" and own.json()["stopped"] is True
    # Requests that named no step are one step without a name.
    assert [(step["step"], step["requests"]) for step in own.json()["steps"]] == [(None, 4)]

    # A malformed run id is refused before anything reaches the model.
    response = requests.post(
        f"{runs_gateway.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {runs_gateway.keys['acme']}", "x-switchyard-run": "no spaces allowed"},
        json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}, timeout=30)
    assert response.status_code == 400
    assert "x-switchyard-run" in response.json()["error"]["message"]


FLEET_POLICY = """policies:
  - name: fleet-runs
    scope: tenant:acme
    max_run_requests: 6
"""


@pytest.mark.skipif(not os.environ.get("SWITCHYARD_TEST_POSTGRES_URL"), reason="SWITCHYARD_TEST_POSTGRES_URL not set")
def test_a_runs_rules_count_the_whole_fleet_and_its_stop_reaches_every_replica(tmp_path):
    """Two replicas on one PostgreSQL: each reads the other's share of its runs from the ledger, so
    max_run_requests holds for the fleet, not per replica; and the stop is the run's kill switch,
    which the other replica refuses by too."""
    url = fresh_database(os.environ["SWITCHYARD_TEST_POSTGRES_URL"], "sy_e2e_runs_")
    upstream = FaultUpstream(tmp_path)
    body = fault_config(upstream.base_url, FLEET_POLICY)
    first = Gateway(tmp_path / "a", body=body, storage_url=url)
    second = Gateway(tmp_path / "b", body=body, storage_url=url)
    key = first.keys["acme"]

    def chat(replica, run):
        return requests.post(
            f"{replica.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {key}", "x-switchyard-run": run},
            json={"model": "chat", "messages": [{"role": "user", "content": f"Hi from {run}"}], "max_tokens": 8},
            timeout=30)

    try:
        for _ in range(6):
            assert chat(first, "fleet-run").status_code == 200
        wait_until(
            lambda: psql(url, "SELECT COUNT(*) FROM usage_records WHERE run_id = 'fleet-run'") == "6", timeout=30,
            what="the first replica's 6 records in the ledger")
        # The second replica learns the first's share within a second or so; until then it counts
        # only its own. Per replica, it would admit 6 more.
        admitted_elsewhere = 0
        for _ in range(20):
            response = chat(second, "fleet-run")
            if response.status_code == 403:
                break
            assert response.status_code == 200
            admitted_elsewhere += 1
            time.sleep(0.5)
        assert response.status_code == 403, "the second replica never counted the first's requests"
        assert "max_run_requests" in response.json()["error"]["message"]
        assert admitted_elsewhere < 6
        assert psql(url, "SELECT scope FROM kill_switches") == "run:acme/fleet-run"
        assert chat(first, "fleet-run").json()["error"]["code"] == "kill_switch"
        # Another run goes on, on either replica, until an operator stops it on one: a run's kill
        # switch reaches every replica through the store. (A 403's Response is falsy: keep its JSON.)
        assert chat(first, "another-run").status_code == 200
        assert chat(second, "another-run").status_code == 200
        first.cli("kill", "engage", "run:acme/another-run", "--reason", "operator stop")
        stopped = wait_until(
            lambda: (lambda r: r.json() if r.status_code == 403 else None)(chat(second, "another-run")), timeout=15,
            what="the second replica refusing the run stopped through the first's CLI")
        assert "operator stop" in stopped["error"]["message"]
        shown = json.loads(first.cli("runs", "show", "fleet-run", "--format", "json"))
        assert shown["requests"] >= 6 + admitted_elsewhere
        assert shown["stopped"] is True
    finally:
        first.stop()
        second.stop()
        upstream.stop()
