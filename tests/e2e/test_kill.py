"""`kill -9` of a replica under load loses no usage record of an answer its client received:
each record is in the replica's write-ahead log (a `write`, group-committed) before the last byte
of its answer leaves, and the next start takes what the log holds to the store."""

import os
import signal
import threading

import pytest
import requests

from conftest import ChatLoad, FaultUpstream, Gateway, fault_config, fresh_database, psql, wait_until

BASE_URL = os.environ.get("SWITCHYARD_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not BASE_URL, reason="SWITCHYARD_TEST_POSTGRES_URL not set (scripts/test.sh sets it)")


def test_kill_9_under_load_loses_no_record_of_an_answer_sent(tmp_path):
    url = fresh_database(BASE_URL, "sy_e2e_kill_")
    upstream = FaultUpstream(tmp_path)
    body = fault_config(upstream.base_url)
    workdir = tmp_path / "replica"
    gateway = Gateway(workdir, body=body, storage_url=url)
    stopping = threading.Event()
    streams, lock = [], threading.Lock()

    def stream_client():
        # Streams too: a stream the client saw end ([DONE]) must have its record.
        session = requests.Session()
        while not stopping.is_set():
            try:
                response = session.post(
                    f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {gateway.keys['acme']}"},
                    json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "stream": True,
                          "max_tokens": 8}, stream=True, timeout=30)
                lines = [line for line in response.iter_lines() if line]
                if response.status_code == 200 and lines and lines[-1] == b"data: [DONE]":
                    with lock:
                        streams.append(response.headers["x-request-id"])
            except requests.RequestException:
                pass  # the kill cuts whatever is in flight

    try:
        load = ChatLoad(gateway, gateway.keys["acme"], 8, lambda: not stopping.is_set())
        streamers = [threading.Thread(target=stream_client) for _ in range(2)]
        for thread in streamers:
            thread.start()
        wait_until(lambda: load.served_count() > 2000, timeout=120, what="load under way")
        gateway.process.send_signal(signal.SIGKILL)
        gateway.process.wait(timeout=30)
        stopping.set()
        load.join(timeout=60)
        for thread in streamers:
            thread.join(timeout=60)
        served = load.served + streams
        stored_before = set(psql(url, "SELECT id FROM usage_records").split())
        missing_before = [request_id for request_id in served if request_id not in stored_before]
        # The next start of the same replica (same journal) takes the log's records to the store.
        gateway.log.close()
        restarted = Gateway(workdir, body=body, storage_url=url, port=gateway.port)
        stored = set(wait_until(
            lambda: (ids := set(psql(url, "SELECT id FROM usage_records").split())) >= set(served) and ids,
            timeout=60, what="every answered request's record in the store"))
        restarted.stop()
    finally:
        stopping.set()
        if gateway.process.poll() is None:
            gateway.stop()
        upstream.stop()
    missing = [request_id for request_id in served if request_id not in stored]
    print(f"kill -9 under load: {len(load.served)} answers and {len(streams)} streams received; "
          f"{len(missing_before)} records were only in the write-ahead log at the kill, {len(missing)} lost")
    assert not missing, f"{len(missing)} of {len(served)} answered requests have no record"
