"""Changes reach every replica in milliseconds, not at the next poll. Two replicas share one
PostgreSQL; a kill switch engaged and released, and a key revoked, through the CLI (which writes
the store, as another replica's admin API would) take effect on the replica that did not make
them. Each change is announced (NOTIFY) in the transaction that makes it; the watchers' polls
(1 s for kill switches, 2 s for keys) stay only as the fallback."""

import json
import os
import time

import pytest
import requests

from conftest import FaultUpstream, Gateway, fault_config, fresh_database, wait_until

BASE_URL = os.environ.get("SWITCHYARD_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not BASE_URL, reason="SWITCHYARD_TEST_POSTGRES_URL not set (scripts/test.sh sets it)")

# 5x what it takes here (tens of milliseconds), and below what the polls alone would give most
# of the time: over three rounds, the kill switch's 1 s poll would pass this by luck 1.6 % of runs.
BOUND = 0.25


def test_kill_switches_and_revocations_reach_the_other_replica_at_once(tmp_path):
    url = fresh_database(BASE_URL, "sy_e2e_changes_")
    upstream = FaultUpstream(tmp_path)
    body = fault_config(upstream.base_url)
    writer = Gateway(tmp_path / "a", body=body, storage_url=url)
    other = Gateway(tmp_path / "b", body=body, storage_url=url)
    session = requests.Session()

    def status(key):
        return session.post(
            f"{other.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=10,
            json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}).status_code

    try:
        key = writer.keys["acme"]
        assert status(key) == 200
        engaged, released = [], []
        for round in range(3):
            writer.cli("kill", "engage", "tenant:acme", "--reason", f"round {round}")
            started = time.monotonic()
            wait_until(lambda: status(key) == 403, timeout=10, interval=0.005, what="the switch on the other replica")
            engaged.append(time.monotonic() - started)
            writer.cli("kill", "release", "tenant:acme")
            started = time.monotonic()
            wait_until(lambda: status(key) == 200, timeout=10, interval=0.005, what="the release on the other replica")
            released.append(time.monotonic() - started)

        created = json.loads(writer.cli("keys", "create", "--tenant", "acme", "--json"))
        assert status(created["key"]) == 200  # known to the other replica now
        writer.cli("keys", "revoke", created["id"])
        started = time.monotonic()
        wait_until(lambda: status(created["key"]) == 401, timeout=10, interval=0.005, what="the revocation")
        revoked = time.monotonic() - started
    finally:
        writer.stop()
        other.stop()
        upstream.stop()
    print(f"kill switch engaged in {', '.join(f'{s * 1000:.0f}' for s in engaged)} ms, released in "
          f"{', '.join(f'{s * 1000:.0f}' for s in released)} ms; key revoked in {revoked * 1000:.0f} ms")
    assert max(engaged + released) < BOUND, (engaged, released)
    assert revoked < BOUND, revoked
