"""The upstream transport as an operator relies on it, against a real `switchyard serve` and a
real upstream process, on SQLite and on PostgreSQL:

- a provider's `max_connections` is a cap on connections open at once, not only on idle ones:
  requests beyond it wait in line for a connection and are all served;
- a client that hangs up during a non-streamed request ends the upstream call at once, and its
  deployment slot, concurrency limit and budget reservation are free for the next request.
"""

import json
import os
import secrets
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import FaultUpstream, Gateway, wait_until

POSTGRES_URL = os.environ.get("SWITCHYARD_TEST_POSTGRES_URL")
if not POSTGRES_URL and os.environ.get("SWITCHYARD_REQUIRE_POSTGRES") == "1":
    raise RuntimeError("SWITCHYARD_REQUIRE_POSTGRES=1 but SWITCHYARD_TEST_POSTGRES_URL is not set")


def config(upstream_url: str) -> str:
    return f"""providers:
  - name: fault
    kind: openai
    base_url: "{upstream_url}"
    max_connections: 4
deployments:
  - name: fault-model
    provider: fault
    model: fault-model
    price: {{ input_per_mtok: "1.00", output_per_mtok: "2.00" }}
  - name: single
    provider: fault
    model: fault-model
    max_concurrency: 1
    price: {{ input_per_mtok: "1.00", output_per_mtok: "2.00" }}
routes:
  - name: chat
    targets: [fault-model]
  - name: single
    targets: [single]
tenants:
  - name: acme
  - name: globex
limits:
  - scope: tenant:globex
    concurrent_requests: 1
budgets:
  - name: globex-day
    scope: tenant:globex
    limit: "0.02"
"""


def psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True, check=True, timeout=30).stdout.strip()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request):
    """A storage URL for the gateway (None: SQLite in its work directory) and a query function."""
    if request.param == "sqlite":
        yield None
        return
    if not POSTGRES_URL:
        pytest.skip("SWITCHYARD_TEST_POSTGRES_URL not set (scripts/test.sh sets it)")
    database = "sy_e2e_transport_" + secrets.token_hex(4)
    psql(POSTGRES_URL, f"CREATE DATABASE {database}")
    yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + database


@pytest.fixture
def setup(tmp_path, store):
    upstream = FaultUpstream(tmp_path)
    gateway = Gateway(tmp_path / "gateway", body=config(upstream.base_url), storage_url=store)
    yield upstream, gateway, store
    gateway.stop()
    upstream.stop()


def chat(gateway, tenant="acme", model="chat", timeout=30):
    return requests.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
        headers={"Authorization": f"Bearer {gateway.keys[tenant]}"}, timeout=timeout,
    )


def records(gateway, store):
    """(status, error_class, deployment) of every usage record, oldest first."""
    sql = "SELECT status, error_class, deployment FROM usage_records ORDER BY started_at"
    if store is None:
        import sqlite3

        with sqlite3.connect(gateway.db_path) as db:
            return [tuple(row) for row in db.execute(sql)]
    rows = psql(store, sql)
    return [(int(status), error or None, deployment or None) for status, error, deployment in
            (line.split("|") for line in rows.splitlines() if line)]


def test_max_connections_caps_open_connections_and_queues_the_rest(setup):
    upstream, gateway, _ = setup
    upstream.control(reset=True, delay=0.5)
    results = []
    lock = threading.Lock()

    def client():
        response = chat(gateway)
        with lock:
            results.append(response.status_code)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    stats = upstream.stats()
    assert results == [200] * 16, results
    assert stats["chat_hits"] == 16
    # 16 requests at once through a cap of 4: never more than 4 connections (the health checker
    # uses its own client, and is idle here).
    assert stats["max_open_connections"] <= 4, stats


def hang_up_after(gateway, seconds: float, tenant: str, model: str):
    """Sends a non-streamed chat request on a raw socket and closes it after `seconds`."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}).encode()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(
            (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gateway.keys[tenant]}\r\n"
             f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        time.sleep(seconds)


@pytest.mark.parametrize("tenant,model", [("acme", "single"), ("globex", "chat")])
def test_a_client_that_hangs_up_frees_its_slot_at_once(setup, tenant, model):
    """acme on `single`: the deployment's max_concurrency 1. globex on `chat`: its tenant's
    concurrent_requests 1 and a budget whose reservation the departed request held."""
    upstream, gateway, store = setup
    upstream.control(reset=True, delay=30)
    started = time.monotonic()
    hang_up_after(gateway, 0.5, tenant, model)
    # The upstream sees the call end (the gateway closes its connection) well before its 30 s.
    wait_until(lambda: upstream.stats()["abandoned"] == 1, timeout=10, what="the upstream call to end")
    upstream.control(delay=0)
    response = chat(gateway, tenant=tenant, model=model)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 15
    deployment = "single" if model == "single" else "fault-model"
    assert wait_until(lambda: len(records(gateway, store)) == 2, timeout=10, what="two usage records")
    departed, served = records(gateway, store)
    assert departed == (499, "client_cancelled", deployment), departed
    assert served == (200, None, deployment), served
