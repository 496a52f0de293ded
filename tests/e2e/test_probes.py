"""Canary-fact probes end to end.

Against the fault upstream, whose "canary" mode answers from the planted facts (all, the first
only, or none): the recall the gateway computes must match the known answers, the probes' cost is
booked to the reserved tenant `switchyard-probes` to the nano-unit, the day's probe budget caps
them, a route's `min_quality` steers traffic away from a deployment that recalls nothing, and a
model swapped behind a deployment's name opens a "model changed" incident that resolves when the
model comes back.

Against the real llama.cpp server (Gemma 3 270M): the recall curve over prompt lengths, and a
serving change behind the same deployment name (its chat template swapped) detected as drift.
"""

import json
import re
import signal
import sqlite3
import subprocess
from pathlib import Path

import requests

from conftest import PRICES, ROOT, FaultUpstream, Gateway, ModelServer, free_port, local_model, stop, wait_until

ADMIN_KEY = "sk-admin-probe-tests-0123456789abcdef"
NANOS = 1_000_000_000


def admin_get(gateway, path):
    response = requests.get(
        f"http://127.0.0.1:{gateway.port}{path}", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    response.raise_for_status()
    return response.json()


def scorecard(gateway):
    return {row["deployments"][0]: row for row in admin_get(gateway, "/admin/v1/probes/scorecard")}


def rounds(gateway, deployment=None):
    """Finished rounds (a running one's detail is empty: only its reservation)."""
    with sqlite3.connect(gateway.db_path) as db:
        rows = db.execute(
            "SELECT deployment, detail, cost_nanos FROM probe_rounds WHERE detail <> '' ORDER BY started_at").fetchall()
    return [(name, json.loads(detail), cost) for name, detail, cost in rows if deployment in (None, name)]


def probe_records(gateway):
    return [r for r in gateway.records() if r["tenant"] == "switchyard-probes"]


def fault_probes_config(upstreams, probes, routes=""):
    providers = "".join(
        f'  - name: p-{name}\n    kind: openai\n    base_url: "{upstream.base_url}"\n' for name, upstream in upstreams.items())
    deployments = "".join(
        f"  - name: {name}\n    provider: p-{name}\n    model: fault-model\n    context_window: 8192\n"
        f'    price: {{ input_per_mtok: "1.00", output_per_mtok: "2.00" }}\n' for name in upstreams)
    return f"""admin:
  key_env: SWITCHYARD_ADMIN_KEY
providers:
{providers}deployments:
{deployments}routes:
  - name: chat
    targets: [{", ".join(upstreams)}]
{routes}tenants:
  - name: acme
  - name: globex
probes:
{probes}"""


def test_recall_matches_known_answers_cost_is_booked_and_min_quality_routes(tmp_path):
    upstreams = {name: FaultUpstream(tmp_path) for name in ("sharp", "partial", "dull")}
    upstreams["partial"].control(mode="canary", canary_recall="first")
    upstreams["sharp"].control(mode="canary", canary_recall="all")
    upstreams["dull"].control(mode="canary", canary_recall="none")
    probes = """  interval_seconds: 3600
  lengths: [256, 1024]
  depths: [0.1, 0.5, 0.9]
  samples: 2
"""
    # Fallback order puts the deployment that recalls nothing first: min_quality must skip it.
    routes = """  - name: careful
    strategy: fallback
    min_quality: 0.5
    targets: [dull, partial, sharp]
"""
    gateway = Gateway(
        tmp_path / "gateway", body=fault_probes_config(upstreams, probes, routes), env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    try:
        wait_until(lambda: len({name for name, _, _ in rounds(gateway)}) == 3, timeout=60, what="a probe round each")
        card = scorecard(gateway)
        assert card["sharp"]["quality"] == 1
        assert [(p["tokens"], p["recalled"], p["planted"]) for p in card["sharp"]["recall_by_length"]] == [
            (256, 6, 6), (1024, 6, 6)]
        assert card["dull"]["quality"] == 0
        # Only the fact nearest the start is recalled: depth 0.1 at 1, the others at 0, a third overall.
        assert [(d["depth"], d["recall"]) for d in card["partial"]["recall_by_depth"]] == [(0.1, 1), (0.5, 0), (0.9, 0)]
        assert abs(card["partial"]["quality"] - 1 / 3) < 1e-3

        # Each probe is a ledger record of the reserved tenant, priced exactly (1.00 in, 2.00 out per
        # million tokens), and the rounds' costs add up to the ledger's.
        records = wait_until(lambda: len(probe_records(gateway)) == 12 and probe_records(gateway), timeout=30,
                             what="the probes' ledger records")
        for row in scorecard(gateway).values():
            assert row["requests_24h"] == 4 and row["error_rate_24h"] == 0 and row["availability_24h"] == 1
            assert row["p95_latency_ms_24h"] is not None and row["cost_per_mtok_24h"] is not None
        for record in records:
            assert record["endpoint"] == "canary.probe" and json.loads(record["tags"]) == {"probe": "canary"}
            assert record["cost_nanos"] == record["input_tokens"] * 1000 + record["output_tokens"] * 2000
        assert sum(r["cost_nanos"] for r in records) == sum(cost for _, _, cost in rounds(gateway)) > 0
        report = {row["tenant"]: row for row in gateway.report()}
        assert int(report["switchyard-probes"]["requests"]) == 12

        # min_quality 0.5: dull (0) and partial (0.33) are below it, so sharp serves though last.
        client_key = gateway.keys["acme"]
        before = {name: upstream.stats()["chat_hits"] for name, upstream in upstreams.items()}
        wait_until(lambda: "switchyard_probe_quality_percent" in gateway.metrics(), timeout=20, what="the quality gauge")
        for _ in range(3):
            response = requests.post(
                f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {client_key}"},
                json={"model": "careful", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
            assert response.status_code == 200, response.text
            assert response.headers["x-switchyard-deployment"] == "sharp"
        after = {name: upstream.stats()["chat_hits"] for name, upstream in upstreams.items()}
        assert after["dull"] == before["dull"] and after["partial"] == before["partial"]
        assert after["sharp"] == before["sharp"] + 3
        assert 'switchyard_probe_quality_percent{deployment="dull"} 0' in gateway.metrics()
    finally:
        gateway.stop()
        for upstream in upstreams.values():
            upstream.stop()


def test_the_days_probe_budget_caps_what_probes_spend(tmp_path):
    upstreams = {"solo": FaultUpstream(tmp_path)}
    upstreams["solo"].control(mode="canary")
    # A 256-token prompt's worst case (≈ 390 prompt tokens at 2 characters a token, 64 out) is about
    # 0.00052, its actual cost about 0.0002: the first round fits 0.0006, and no round after it does
    # (0.0002 spent + 0.00052).
    probes = """  interval_seconds: 1
  budget_per_day: "0.0006"
  lengths: [256]
"""
    gateway = Gateway(tmp_path / "gateway", body=fault_probes_config(upstreams, probes), env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    try:
        wait_until(lambda: rounds(gateway), timeout=30, what="a probe round")
        # Three later rounds refused, each logged.
        wait_until(lambda: gateway.log_path.read_text().count("probe budget has no room") >= 3, timeout=60,
                   what="later rounds left out for the budget")
        stored = rounds(gateway)
        assert len(stored) == 1 and len(stored[0][1]["observations"]) == 1
        records = wait_until(lambda: probe_records(gateway), timeout=30, what="the probe's ledger record")
        assert len(records) == 1 and upstreams["solo"].stats()["chat_hits"] == 1
        assert 0 < records[0]["cost_nanos"] == stored[0][2] <= 600_000
    finally:
        gateway.stop()
        upstreams["solo"].stop()


def drift_incidents(gateway, status):
    found = json.loads(gateway.cli("incidents", "list", "--status", status, "--format", "json"))
    return [i for i in found if i["cause_key"] == "drift deployment=solo"] or None


def test_a_model_swapped_behind_the_name_is_a_model_changed_incident(tmp_path):
    upstreams = {"solo": FaultUpstream(tmp_path)}
    upstreams["solo"].control(mode="canary", fingerprint="fp_a")
    probes = """  interval_seconds: 1
  lengths: [128]
"""
    gateway = Gateway(tmp_path / "gateway", body=fault_probes_config(upstreams, probes), env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    try:
        wait_until(lambda: len(rounds(gateway)) >= 2, timeout=30, what="two baseline rounds")
        assert drift_incidents(gateway, "open") is None
        upstreams["solo"].control(model="fault-model-mini", fingerprint="fp_b")
        incident = wait_until(lambda: drift_incidents(gateway, "open"), timeout=30, what="a model-changed incident")[0]
        assert incident["kind"] == "drift" and incident["where"] == {"dimension": "deployment", "value": "solo"}
        assert "answers name model fault-model-mini, not fault-model" in incident["summary"]
        assert "system_fingerprint fp_b, not fp_a" in incident["summary"]
        assert {s["metric"] for s in incident["signals"]} == {"response_model", "system_fingerprint"}
        shown = gateway.cli("incidents", "show", incident["id"])
        assert "model changed on deployment solo" in shown
        # Flagged rounds stay out of the baseline: the swap is still flagged rounds later.
        flagged = len(rounds(gateway))
        wait_until(lambda: len(rounds(gateway)) >= flagged + 2, timeout=30, what="two more rounds")
        assert drift_incidents(gateway, "open")[0]["id"] == incident["id"]
        assert rounds(gateway)[-1][1]["drift"]

        upstreams["solo"].control(model="fault-model", fingerprint="fp_a")
        resolved = wait_until(lambda: drift_incidents(gateway, "resolved"), timeout=30, what="the incident resolved")[0]
        assert resolved["id"] == incident["id"]
        actions = gateway.cli("audit", "export")
        assert "incident.opened" in actions and "incident.resolved" in actions
    finally:
        gateway.stop()
        upstreams["solo"].stop()


def llama_probes_config(model_url, probes):
    return "admin:\n  key_env: SWITCHYARD_ADMIN_KEY\n" + local_model(model_url) + f"""routes:
  - name: chat
    targets: [gemma-local]
tenants:
  - name: acme
  - name: globex
probes:
{probes}"""


def test_llama_recall_falls_with_context_length(tmp_path):
    """Gemma 3 270M, probed at three lengths up to most of its 2,048-token window: a real curve."""
    server = ModelServer(tmp_path / "model")
    probes = """  interval_seconds: 3600
  lengths: [64, 512, 1536]
  samples: 2
  max_output_tokens: 48
"""
    gateway = Gateway(
        tmp_path / "gateway", body=llama_probes_config(server.base_url, probes), env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    try:
        wait_until(lambda: rounds(gateway), timeout=600, what="a probe round on llama.cpp")
        wait_until(lambda: len(probe_records(gateway)) == 6, timeout=30, what="the probes' ledger records")
        print(gateway.cli("probes", "scorecard"))
        row = scorecard(gateway)["gemma-local"]
        curve = row["recall_by_length"]
        assert [p["tokens"] for p in curve] == [64, 512, 1536]
        assert all(p["planted"] == 6 for p in curve)
        # The recall the gateway computed, checked against the planted codes and the model's answers.
        (_, stored, _), = rounds(gateway)
        for observation in stored["observations"]:
            assert "error" not in observation and len(observation["facts"]) == 3
            numbers = set(re.findall(r"\d+", observation["answer"]))
            assert observation["recalled"] == [fact["code"] in numbers for fact in observation["facts"]]
            assert [fact["depth"] for fact in observation["facts"]] == [0.1, 0.5, 0.9]
        # A small model forgets with length: the short prompt (hardly more than the facts) recalls
        # more than the one filling most of the window.
        assert curve[0]["recall"] > curve[-1]["recall"]
        assert 0 <= row["quality"] <= 1 and row["availability_24h"] == 1
        records = probe_records(gateway)
        assert {r["deployment"] for r in records} == {"gemma-local"}
        in_price, out_price = (int(float(PRICES[k]) * 1000) for k in ("input", "output"))
        for record in records:
            assert record["cost_nanos"] == record["input_tokens"] * in_price + record["output_tokens"] * out_price
    finally:
        gateway.stop()
        server.kill(signal.SIGTERM)


def test_llama_serving_swap_behind_the_same_name_is_drift(tmp_path):
    """The same deployment name, restarted with another chat template: answers change character
    (empty), and the probes flag the model as changed; the right template back resolves it."""
    server = ModelServer(tmp_path / "model")
    probes = """  interval_seconds: 1
  lengths: [128]
  max_output_tokens: 32
"""
    gateway = Gateway(
        tmp_path / "gateway", body=llama_probes_config(server.base_url, probes), env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})

    def drift(status):
        found = json.loads(gateway.cli("incidents", "list", "--status", status, "--format", "json"))
        return [i for i in found if i["cause_key"] == "drift deployment=gemma-local"] or None

    def answered_rounds():
        return [r for _, r, _ in rounds(gateway) if any("error" not in o for o in r["observations"])]

    try:
        wait_until(lambda: len(answered_rounds()) >= 4, timeout=180, what="four baseline rounds")
        assert drift("open") is None
        server.kill(signal.SIGTERM)
        server = ModelServer(tmp_path / "model", port=server.port, extra=("--chat_format", "chatml"))
        incident = wait_until(lambda: drift("open"), timeout=180, what="a model-changed incident")[0]
        assert "output_length" in {s["metric"] for s in incident["signals"]}
        print(gateway.cli("incidents", "show", incident["id"]))
        server.kill(signal.SIGTERM)
        server = ModelServer(tmp_path / "model", port=server.port)
        resolved = wait_until(lambda: drift("resolved"), timeout=180, what="the incident resolved")[0]
        assert resolved["id"] == incident["id"]
    finally:
        gateway.stop()
        server.kill(signal.SIGTERM)


def test_a_drift_incident_of_a_deployment_no_longer_probed_is_resolved_at_start(tmp_path):
    upstreams = {"solo": FaultUpstream(tmp_path)}
    upstreams["solo"].control(mode="canary")
    probes = """  interval_seconds: 1
  lengths: [128]
"""
    body = fault_probes_config(upstreams, probes)
    gateway = Gateway(tmp_path / "gateway", body=body, env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    try:
        wait_until(lambda: len(rounds(gateway)) >= 1, timeout=30, what="a baseline round")
        upstreams["solo"].control(model="fault-model-mini")
        incident = wait_until(lambda: drift_incidents(gateway, "open"), timeout=30, what="a model-changed incident")[0]
        gateway.stop()
        # The same store, the deployment taken out of the probes.
        gateway = Gateway(tmp_path / "gateway", body=body.replace("  interval_seconds: 1\n", "  deployments: []\n"),
                          env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
        resolved = wait_until(lambda: drift_incidents(gateway, "resolved"), timeout=30, what="the incident resolved")[0]
        assert resolved["id"] == incident["id"] and "no longer probed" in resolved["summary"]
        assert resolved["status"] == "resolved" and resolved["resolved_at"]
    finally:
        gateway.stop()
        upstreams["solo"].stop()
