"""Chaos with real processes: llama.cpp servers killed under load, and a fault-injecting upstream.

Every assertion is about what clients saw and what the ledger says happened.
"""

import json
import threading
import time

import openai
import pytest
import requests

from conftest import Gateway, ModelServer, wait_until

PROMPT = [{"role": "user", "content": "Say hi."}]


def deployment(name, provider, model="gemma-3-270m", extra=""):
    return f"""  - name: {name}
    provider: {provider}
    model: {model}
    price: {{ input_per_mtok: "0.02", output_per_mtok: "0.04" }}
{extra}"""


def config(providers, deployments, routes, tenants="tenants:\n  - name: acme\n  - name: globex\n"):
    return "providers:\n" + providers + "deployments:\n" + deployments + "routes:\n" + routes + tenants


def provider(name, url, extra=""):
    return f"""  - name: {name}
    kind: openai
    base_url: "{url}"
{extra}"""


def chat(gateway, key="acme", **kwargs):
    body = {"model": "ha", "messages": PROMPT, "max_tokens": 2, **kwargs}
    return requests.post(
        f"{gateway.base_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {gateway.keys[key]}"}, timeout=60,
    )


def attempts(record):
    return [(a["deployment"], a.get("status"), a.get("errorClass")) for a in json.loads(record["attempts"])]


def test_killing_a_model_server_under_load_fails_no_request(tmp_path, model_server):
    doomed = ModelServer(tmp_path / "doomed")
    body = config(
        provider("doomed", doomed.base_url) + provider("steady", model_server.base_url),
        deployment("doomed", "doomed", extra="    circuit_breaker: { consecutive_failures: 2, open_seconds: 60 }\n")
        + deployment("steady", "steady"),
        "  - name: ha\n    strategy: fallback\n    targets: [doomed, steady]\n",
    )
    gateway = Gateway(tmp_path / "gateway", body=body)
    results = []
    lock = threading.Lock()
    try:
        def worker():
            for _ in range(8):
                response = chat(gateway)
                with lock:
                    results.append((response.status_code, response.headers.get("x-request-id"), response.headers.get("x-switchyard-attempts")))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(results) >= 4, timeout=60, what="traffic flowing")
        doomed.kill()
        for thread in threads:
            thread.join(timeout=120)

        assert len(results) == 32
        assert [status for status, _, _ in results] == [200] * 32, "a client request failed while a healthy deployment existed"
        records = {r["id"]: r for r in (gateway.record(request_id) for _, request_id, _ in results)}
        # Headers and ledger agree on how many attempts each request took.
        for _, request_id, header in results:
            assert int(header) == len(attempts(records[request_id]))
        served = [r["deployment"] for r in records.values()]
        assert "doomed" in served and "steady" in served
        failovers = [r for r in records.values() if len(attempts(r)) > 1]
        assert failovers, "no request saw the failure"
        for record in failovers:
            first, last = attempts(record)[0], attempts(record)[-1]
            assert first[0] == "doomed" and first[2] in ("upstream_unavailable", "upstream_timeout")
            assert last == ("steady", 200, None)
        # Once the breaker opened, requests went straight to the healthy deployment.
        assert sum(1 for record in failovers) <= 2 + 4  # two to open the breaker, plus those in flight at the kill
        assert attempts(max(records.values(), key=lambda r: r["started_at"])) == [("steady", 200, None)]
    finally:
        gateway.stop()
        doomed.kill()


def test_breaker_opens_and_later_closes(tmp_path, model_server, fault):
    body = config(
        provider("fault", fault.base_url) + provider("steady", model_server.base_url),
        deployment("flaky", "fault", extra="    circuit_breaker: { consecutive_failures: 3, open_seconds: 1.5, half_open_probes: 1 }\n")
        + deployment("steady", "steady"),
        "  - name: ha\n    targets: [flaky, steady]\n",
    )
    gateway = Gateway(tmp_path / "gateway", body=body)
    try:
        fault.control(mode="error500", reset=True)
        for _ in range(6):
            assert chat(gateway).status_code == 200
        assert fault.stats()["chat_hits"] == 3, "the breaker should have opened after three failures"
        metrics = gateway.metrics()
        assert 'switchyard_upstream_errors_total{provider="fault",deployment="flaky",error_class="upstream_error"} 3' in metrics

        fault.control(mode="ok")
        time.sleep(1.6)
        response = chat(gateway)  # the half-open probe
        assert response.status_code == 200 and response.headers["x-switchyard-deployment"] == "flaky"
        for _ in range(3):
            assert chat(gateway).headers["x-switchyard-deployment"] == "flaky"  # closed again: first choice
        assert fault.stats()["chat_hits"] == 3 + 4
    finally:
        gateway.stop()


def test_retries_stay_within_the_budget(tmp_path, fault):
    body = config(
        provider("fault", fault.base_url),
        deployment("flaky", "fault", extra="    circuit_breaker: { consecutive_failures: 10000, minimum_requests: 100000 }\n"),
        "  - name: ha\n    targets: [flaky]\n    retry: { max_attempts: 3, budget_ratio: 0.1, min_retries_per_second: 1, backoff_base_ms: 1, backoff_max_ms: 2 }\n",
    )
    gateway = Gateway(tmp_path / "gateway", body=body)
    try:
        fault.control(mode="error500", reset=True)
        statuses = [chat(gateway).status_code for _ in range(40)]
        assert statuses == [502] * 40
        hits = fault.stats()["chat_hits"]
        # 40 first attempts; retries at most 10 % of requests + 1/s × 10 s.
        assert 40 < hits <= 40 + 4 + 10, hits
        wait_until(lambda: len(gateway.records()) == 40, timeout=10, what="40 records")
        records = gateway.records()
        assert sum(len(attempts(r)) for r in records) == hits
    finally:
        gateway.stop()


def test_retry_after_is_honoured(tmp_path, fault):
    body = config(
        provider("fault", fault.base_url),
        deployment("flaky", "fault"),
        "  - name: ha\n    targets: [flaky]\n    retry: { max_attempts: 2 }\n",
    )
    gateway = Gateway(tmp_path / "gateway", body=body)
    try:
        fault.control(mode="ratelimit_once", retry_after=1, reset=True)
        started = time.monotonic()
        response = chat(gateway)
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert elapsed >= 1.0
        record = gateway.record(response.headers["x-request-id"])
        assert attempts(record) == [("flaky", 429, "rate_limited"), ("flaky", 200, None)]
    finally:
        gateway.stop()


def test_an_upstream_that_never_answers_times_out_and_fails_over(tmp_path, model_server, fault):
    body = config(
        provider("fault", fault.base_url) + provider("steady", model_server.base_url),
        deployment("hung", "fault", extra="    timeouts: { first_byte_seconds: 1 }\n") + deployment("steady", "steady"),
        "  - name: ha\n    targets: [hung, steady]\n",
    )
    gateway = Gateway(tmp_path / "gateway", body=body)
    try:
        fault.control(mode="hang", reset=True)
        started = time.monotonic()
        response = chat(gateway)
        assert response.status_code == 200
        assert time.monotonic() - started < 10
        record = gateway.record(response.headers["x-request-id"])
        assert attempts(record)[0][:1] == ("hung",) and attempts(record)[0][2] == "upstream_timeout"
        assert attempts(record)[-1] == ("steady", 200, None)
    finally:
        gateway.stop()


def test_a_stream_that_stops_halfway_ends_cleanly_and_is_not_retried(tmp_path, model_server, fault):
    body = config(
        provider("fault", fault.base_url) + provider("steady", model_server.base_url),
        deployment("broken", "fault") + deployment("steady", "steady"),
        "  - name: ha\n    targets: [broken, steady]\n",
    )
    gateway = Gateway(tmp_path / "gateway", body=body)
    try:
        fault.control(mode="stream_half", reset=True)
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0)
        received = []
        with pytest.raises(openai.APIError):
            with client.chat.completions.with_streaming_response.create(model="ha", messages=PROMPT, max_tokens=5, stream=True) as response:
                request_id = response.headers["x-request-id"]
                for chunk in response.parse():
                    received.append(chunk.choices[0].delta.content if chunk.choices else None)
        assert "one" in received
        record = gateway.record(request_id)
        assert record["error_class"] == "stream_interrupted"
        assert attempts(record) == [("broken", 200, "stream_interrupted")]
        assert fault.stats()["chat_hits"] == 1
    finally:
        gateway.stop()


def test_failing_health_checks_eject_and_passing_ones_restore(tmp_path, model_server, fault):
    body = config(
        provider("fault", fault.base_url, extra="    health_check: { path: /models, interval_seconds: 0.3, timeout_seconds: 1 }\n")
        + provider("steady", model_server.base_url),
        deployment("checked", "fault") + deployment("steady", "steady"),
        "  - name: ha\n    targets: [checked, steady]\n",
    )
    gateway = Gateway(tmp_path / "gateway", body=body)
    try:
        fault.control(mode="ok", reset=True)
        assert chat(gateway).headers["x-switchyard-deployment"] == "checked"
        fault.control(mode="unhealthy")  # chat still works, the health endpoint says no
        wait_until(lambda: chat(gateway).headers["x-switchyard-deployment"] == "steady", timeout=10, what="ejection")
        hits = fault.stats()["chat_hits"]
        for _ in range(3):
            assert chat(gateway).headers["x-switchyard-deployment"] == "steady"
        assert fault.stats()["chat_hits"] == hits
        fault.control(mode="ok")
        wait_until(lambda: chat(gateway).headers["x-switchyard-deployment"] == "checked", timeout=10, what="restoration")
    finally:
        gateway.stop()
