"""PostgreSQL stopped for 30 s under load. Every replica shares the store, so a readiness that
failed with it would take the whole fleet out of the load balancer at once: readiness stays 200
("degraded"), known keys keep being served, usage goes to the journal, and after the store
returns every served request has its record, rollups included."""

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import ChatLoad, FaultUpstream, Gateway, fault_config, free_port, wait_until

pytestmark = pytest.mark.skipif(not shutil.which("psql"), reason="PostgreSQL client not installed")

POSTGRES = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"
OUTAGE_SECONDS = 30
CLIENTS = 4


class Postgres:
    """A PostgreSQL of this test's own (scripts/postgres.sh), so it can be stopped and started."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sy-outage-"))
        self.dir.chmod(0o755)  # the server runs as 'postgres' and must reach its data dir
        self.port = free_port()
        self.url = self.start()

    def start(self):
        return subprocess.run(
            ["bash", str(POSTGRES), "start", str(self.dir / "pg"), str(self.port)], capture_output=True, text=True,
            check=True, timeout=120,
        ).stdout.strip()

    def stop(self):
        subprocess.run(["bash", str(POSTGRES), "stop", str(self.dir / "pg")], check=True, timeout=120)

    def query(self, sql):
        return subprocess.run(
            ["psql", self.url, "-Atc", sql], capture_output=True, text=True, check=True, timeout=30).stdout.strip()

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def verbose_health(gateway):
    return requests.get(f"http://127.0.0.1:{gateway.port}/healthz?verbose", timeout=30).json()


def replayed(gateway):
    """Usage records replayed from the journal, from /metrics (the main listener's verbose
    health check shows the store only: the ledger's counts are every tenant's traffic)."""
    line = next(line for line in gateway.metrics().splitlines() if line.startswith('switchyard_ledger_records{state="replayed"}'))
    return int(float(line.split(" ")[1]))


def test_a_store_outage_keeps_the_replica_ready_and_loses_no_record(tmp_path):
    postgres = Postgres()
    upstream = FaultUpstream(tmp_path)
    gateway = Gateway(tmp_path / "gateway", body=fault_config(upstream.base_url), storage_url=postgres.url)
    readiness, stopping = [], threading.Event()
    headers = {"Authorization": f"Bearer {gateway.keys['acme']}"}
    body = {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}

    try:
        # The key is known (looked up once) before the store goes.
        first = requests.post(f"{gateway.base_url}/chat/completions", json=body, headers=headers, timeout=30)
        assert first.status_code == 200, first.text
        load = ChatLoad(gateway, gateway.keys["acme"], CLIENTS, lambda: not stopping.is_set(), pause=0.005)
        load.served.append(first.headers["x-request-id"])
        try:
            postgres.stop()
            down_at = time.monotonic()
            wait_until(lambda: verbose_health(gateway)["store"] == "unavailable", timeout=30, what="store seen down")
            before = load.served_count()
            while time.monotonic() - down_at < OUTAGE_SECONDS:
                started = time.monotonic()
                response = requests.get(f"http://127.0.0.1:{gateway.port}/readyz", timeout=5)
                readiness.append((response.status_code, response.json(), time.monotonic() - started))
                time.sleep(0.25)
            served_in_outage = load.served_count() - before
            assert "switchyard_store_up 0" in gateway.metrics()
            postgres.url = postgres.start()
            wait_until(lambda: verbose_health(gateway)["store"] == "ok", timeout=60, what="store seen back")
            # Traffic after the return: its batches succeed, and the journal is replayed behind them.
            wait_until(lambda: replayed(gateway) > 0, timeout=60, what="journal replayed")
        finally:
            stopping.set()
            load.join(timeout=60)
        served, failed = load.served, load.failed + load.refused

        assert not failed, f"{len(failed)} requests failed, e.g. {failed[:3]}"
        assert served_in_outage > 100, f"only {served_in_outage} requests served during the outage"
        assert readiness and all(status == 200 for status, _, _ in readiness), readiness[:5]
        assert any(answer == {"status": "degraded", "store": "unavailable"} for _, answer, _ in readiness)
        # Answered from the last known state, never waiting on the store (bound: 5x a loaded box's worst).
        slowest = max(seconds for _, _, seconds in readiness)
        assert slowest < 1.0, f"a readiness check took {slowest:.2f} s"

        def all_recorded():
            stored = set(postgres.query("SELECT id FROM usage_records").split())
            return not [request_id for request_id in served if request_id not in stored]

        wait_until(all_recorded, timeout=60, what="every served request's record in the store")
        records = int(postgres.query("SELECT count(*) FROM usage_records"))
        rolled_up = int(postgres.query("SELECT COALESCE(SUM(requests), 0) FROM usage_rollups"))
        assert records == len(served), f"{records} records for {len(served)} served requests"
        assert rolled_up == records, f"rollups count {rolled_up} requests, the records hold {records}"
        print(f"store outage {OUTAGE_SECONDS} s: {len(served)} served ({served_in_outage} during it), 0 failed, "
              f"{len(readiness)} readiness checks all 200, slowest {slowest * 1000:.0f} ms, {records} records")
    finally:
        gateway.stop()
        upstream.stop()
        postgres.remove()
