"""A rolling restart behind a load balancer: three replicas on one PostgreSQL behind HAProxy
(health check on /readyz), restarted one at a time under steady load with streams open. The
drain (`server.drain_delay_seconds`: /readyz says "draining" while the replica still serves, so
the balancer stops sending before anything is refused) makes it invisible: no request fails,
every stream ends with [DONE], every served request has its record."""

import os
import shutil
import signal
import threading
import time

import pytest
import requests

from conftest import ChatLoad, FaultUpstream, Gateway, HAProxy, fault_config, fresh_database, psql, wait_until

BASE_URL = os.environ.get("SWITCHYARD_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.skipif(not BASE_URL, reason="SWITCHYARD_TEST_POSTGRES_URL not set (scripts/test.sh sets it)"),
    pytest.mark.skipif(not shutil.which("haproxy"), reason="HAProxy not installed (scripts/install-test-deps.sh)"),
]

REPLICAS = 3
DRAIN = "  drain_delay_seconds: 1.5\n  drain_timeout_seconds: 20\n"


def test_a_rolling_restart_behind_a_balancer_fails_nothing_and_loses_nothing(tmp_path):
    url = fresh_database(BASE_URL, "sy_e2e_rolling_")
    upstream = FaultUpstream(tmp_path)
    body = fault_config(upstream.base_url)
    replicas = [Gateway(tmp_path / f"r{i}-0", body=body, storage_url=url, server_extra=DRAIN) for i in range(REPLICAS)]
    ports = [replica.port for replica in replicas]
    balancer = HAProxy(tmp_path, ports)
    stopping = threading.Event()
    streams, stream_failures = [], []

    class Front:  # what ChatLoad posts to: the balancer
        base_url = balancer.base_url

    key = replicas[0].keys["acme"]

    def stream_client():
        session = requests.Session()
        while not stopping.is_set():
            try:
                response = session.post(
                    f"{balancer.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"}, stream=True,
                    timeout=30, json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "stream": True})
                lines = [line for line in response.iter_lines() if line]
                if response.status_code == 200 and lines[-1] == b"data: [DONE]":
                    streams.append(response.headers["x-request-id"])
                else:
                    stream_failures.append(f"{response.status_code} {lines[-2:]}")
            except requests.RequestException as error:
                stream_failures.append(repr(error))

    restarts = []
    try:
        load = ChatLoad(Front, key, 4, lambda: not stopping.is_set(), pause=0.002)
        streamers = [threading.Thread(target=stream_client) for _ in range(2)]
        for thread in streamers:
            thread.start()
        wait_until(lambda: load.served_count() > 200, timeout=60, what="load under way")
        for index in range(REPLICAS):
            old = replicas[index]
            started = time.monotonic()
            old.process.send_signal(signal.SIGTERM)
            old.process.wait(timeout=60)
            old.log.close()
            assert old.process.returncode == 0, old.log_path.read_text()[-2000:]
            replicas[index] = Gateway(
                tmp_path / f"r{index}-1", body=body, storage_url=url, server_extra=DRAIN, port=ports[index])
            wait_until(lambda: balancer.states()[index] == "UP", timeout=30, what=f"replica {index} back in HAProxy")
            restarts.append(time.monotonic() - started)
        served_before_stop = load.served_count()
        stopping.set()
        load.join(timeout=60)
        for thread in streamers:
            thread.join(timeout=60)
    finally:
        stopping.set()
        balancer.stop()
        for replica in replicas:
            if replica.process.poll() is None:
                replica.stop()
        upstream.stop()

    assert not load.failed and not load.refused, f"{len(load.failed)} requests failed, e.g. {load.failed[:3]}"
    assert not stream_failures, f"{len(stream_failures)} streams failed, e.g. {stream_failures[:3]}"
    assert served_before_stop > 200 and len(streams) > 10, f"too little load: {served_before_stop} / {len(streams)}"
    stored = set(psql(url, "SELECT id FROM usage_records").split())
    missing = [request_id for request_id in load.served + streams if request_id not in stored]
    assert not missing, f"{len(missing)} of {len(load.served) + len(streams)} served requests have no record"
    # Each record says which replica served it: here the host and each replica's port.
    replicas_seen = set(psql(url, "SELECT DISTINCT replica FROM usage_records").split())
    assert {replica.rsplit(":", 1)[1] for replica in replicas_seen} == {str(port) for port in ports}, replicas_seen
    print(f"rolling restart of {REPLICAS} replicas: {len(load.served)} requests and {len(streams)} streams, "
          f"0 failed, 0 lost; each restart {', '.join(f'{seconds:.1f}' for seconds in restarts)} s")
