"""PostgreSQL sessions terminated under load (an operator's pg_terminate_backend, a restart, a
failover): a session lost inside a transaction fails the whole transaction, the ledger retries or
journals the batch, and nothing is lost or counted twice. Every served request has its record,
the rollups count exactly the records, and the audit chain verifies."""

import os
import secrets
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import ChatLoad, FaultUpstream, Gateway, fault_config, wait_until

BASE_URL = os.environ.get("SWITCHYARD_TEST_POSTGRES_URL")
if not BASE_URL and os.environ.get("SWITCHYARD_REQUIRE_POSTGRES") == "1":
    raise RuntimeError("SWITCHYARD_REQUIRE_POSTGRES=1 but SWITCHYARD_TEST_POSTGRES_URL is not set")
pytestmark = pytest.mark.skipif(not BASE_URL, reason="SWITCHYARD_TEST_POSTGRES_URL not set (scripts/test.sh sets it)")

LOAD_SECONDS = 12
KILL_INTERVAL = 0.1
CLIENTS = 12


def config(upstream_url: str) -> str:
    # max_output_tokens makes every tenth request a refusal, which the gateway audits: audit
    # appends run while sessions are being terminated too.
    return fault_config(
        upstream_url,
        """policies:
  - name: short-answers
    scope: tenant:acme
    max_output_tokens: 100
""",
    )


def psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True, check=True, timeout=30).stdout.strip()


class SessionKiller:
    """Terminates every other session on `database` every `interval` seconds, from one psql."""

    def __init__(self, database: str, interval: float):
        self.sql = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid();\n"
        )
        self.interval = interval
        self.terminated = 0
        self.stopping = threading.Event()
        self.psql = subprocess.Popen(
            ["psql", BASE_URL, "-Atq", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            bufsize=1,
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.wait(self.interval):
            self.psql.stdin.write(self.sql)
            self.psql.stdin.flush()
            self.terminated += int(self.psql.stdout.readline())

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=30)
        self.psql.stdin.close()
        self.psql.wait(timeout=30)


def test_terminated_sessions_under_load_lose_nothing(tmp_path):
    database = "sy_e2e_faults_" + secrets.token_hex(4)
    psql(BASE_URL, f"CREATE DATABASE {database}")
    url = BASE_URL.rsplit("/", 1)[0] + "/" + database
    upstream = FaultUpstream(tmp_path)
    gateway = Gateway(tmp_path / "gateway", body=config(upstream.base_url), storage_url=url)
    try:
        deadline = time.monotonic() + LOAD_SECONDS
        killer = SessionKiller(database, KILL_INTERVAL)
        try:
            # Every tenth asks for more output than the policy allows: refused, and audited.
            load = ChatLoad(
                gateway, gateway.keys["acme"], CLIENTS, lambda: time.monotonic() < deadline,
                max_tokens=lambda sent: 500 if sent % 10 == 0 else 8)
            load.join(timeout=LOAD_SECONDS + 60)
        finally:
            killer.stop()
        served, refused, failed = load.served, load.refused, load.failed

        assert not failed, f"{len(failed)} requests failed, e.g. {failed[:3]}"
        assert len(served) > 500 and refused, f"too little load: {len(served)} served, {len(refused)} refused"
        assert killer.terminated >= 20, f"only {killer.terminated} sessions terminated"
    finally:
        gateway.stop(signal.SIGTERM)
        upstream.stop()

    assert gateway.process.returncode == 0, (tmp_path / "gateway" / "serve.log").read_text()[-3000:]
    stored = set(psql(url, "SELECT id FROM usage_records").split())
    missing = [request_id for request_id in served if request_id not in stored]
    assert not missing, f"{len(missing)} of {len(served)} served requests have no usage record"
    records = int(psql(url, "SELECT count(*) FROM usage_records"))
    rolled_up = int(psql(url, "SELECT COALESCE(SUM(requests), 0) FROM usage_rollups"))
    assert rolled_up == records, f"rollups count {rolled_up} requests, the records hold {records}"
    # A served request has one record, a refused one is audited: nothing more, nothing less.
    assert records == len(served) + len(refused)
    gateway.cli("audit", "verify")  # asserts exit 0: the chain has no break
    audited = int(psql(url, "SELECT count(*) FROM audit_log WHERE action LIKE 'policy%'"))
    assert audited >= len(refused) > 0


class TableLock:
    """A psql session holding `LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE` until released: every
    statement that touches the table (a report, a usage batch's rollups) waits for it."""

    def __init__(self, url: str, table: str):
        self.psql = subprocess.Popen(
            ["psql", url, "-Atq", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            bufsize=1,
        )
        self.psql.stdin.write(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
        self.psql.stdin.flush()
        assert self.psql.stdout.readline().strip() == "locked"

    def release(self):
        if self.psql.poll() is None:
            self.psql.stdin.write("COMMIT;\n")
            self.psql.stdin.close()
            self.psql.wait(timeout=30)


def test_a_report_stuck_on_a_lock_holds_neither_keys_nor_readiness_nor_the_ledger(tmp_path):
    """The store has a connection per lane (control, ledger, reports). A report waiting on a
    lock (or just long) must not delay the store probe behind readiness, a new key's first use or the usage records: on
    one shared connection each of these waited for the report."""
    database = "sy_e2e_lanes_" + secrets.token_hex(4)
    psql(BASE_URL, f"CREATE DATABASE {database}")
    url = BASE_URL.rsplit("/", 1)[0] + "/" + database
    admin = "sy-admin-" + secrets.token_hex(16)
    upstream = FaultUpstream(tmp_path)
    gateway = Gateway(
        tmp_path / "gateway", body="admin:\n  key_env: SWITCHYARD_ADMIN_KEY\n" + config(upstream.base_url),
        storage_url=url, env={"SWITCHYARD_ADMIN_KEY": admin},
    )
    lock = None
    report = {}
    try:
        lock = TableLock(url, "usage_rollups")

        def read_report():
            # By key: a report the full rollups answer (by tenant, the coarse ones would, unlocked).
            response = requests.get(
                f"http://127.0.0.1:{gateway.port}/admin/v1/reports/cost?by=key",
                headers={"Authorization": f"Bearer {admin}"}, timeout=120)
            report["status"] = response.status_code

        reporter = threading.Thread(target=read_report)
        reporter.start()
        wait_until(
            lambda: psql(url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") != "0",
            timeout=30, what="the report waiting on the lock")

        # A key made now is unknown to the gateway: its first use is a lookup in the store.
        fresh = gateway.cli("keys", "create", "--tenant", "acme").strip()
        served = []
        for _ in range(20):
            response = requests.post(
                f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {fresh}"}, timeout=8,
                json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
            )
            assert response.status_code == 200, response.text
            served.append(response.headers["x-request-id"])
        # The store probe (what readiness reports) runs on the control lane too, now, within 5 s.
        health = requests.get(f"http://127.0.0.1:{gateway.port}/healthz?verbose", timeout=5).json()
        assert health["store"] == "ok", health
        assert "status" not in report, "the report should still be waiting on the lock"

        lock.release()
        reporter.join(timeout=60)
        assert report.get("status") == 200
        # Every served request reaches the store, and is rolled up once.
        wait_until(
            lambda: int(psql(url, "SELECT count(*) FROM usage_records")) == len(served), timeout=60,
            what="every usage record stored")
        assert int(psql(url, "SELECT COALESCE(SUM(requests), 0) FROM usage_rollups")) == len(served)
    finally:
        if lock is not None:
            lock.release()
        gateway.stop()
        upstream.stop()


def test_a_shutdown_against_a_hung_store_journals_everything_in_time(tmp_path):
    """SIGTERM while the store hangs (a lock holds every usage batch): the server drains, and the
    ledger writer journals what the store cannot take after its first refusal in a flush, instead
    of waiting out one statement timeout per batch (ten batches: about five minutes, far past any
    orchestrator's grace period, whose SIGKILL then loses them). Restarted with the store back,
    the journal replays every record once."""
    database = "sy_e2e_hung_" + secrets.token_hex(4)
    psql(BASE_URL, f"CREATE DATABASE {database}")
    url = BASE_URL.rsplit("/", 1)[0] + "/" + database
    upstream = FaultUpstream(tmp_path)
    gateway = Gateway(tmp_path / "gateway", body=config(upstream.base_url), storage_url=url)
    restarted = None
    lock = None
    try:
        lock = TableLock(url, "usage_rollups")
        served = []
        session = requests.Session()
        headers = {"Authorization": f"Bearer {gateway.keys['acme']}"}
        for _ in range(1000):  # ten batches of 100
            response = session.post(
                f"{gateway.base_url}/chat/completions", headers=headers, timeout=10,
                json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
            )
            assert response.status_code == 200, response.text
            served.append(response.headers["x-request-id"])
        started = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        # The batch under way and the last flush's first batch each wait out one statement timeout
        # (the ledger lane's 30 s less a second): about a minute, not ten timeouts.
        gateway.process.wait(timeout=200)
        took = time.monotonic() - started
        assert took < 150, f"shutdown took {took:.1f} s"
        assert int(psql(url, "SELECT count(*) FROM usage_records")) == 0  # the lock held them all back

        lock.release()
        restarted = Gateway(tmp_path / "gateway", body=config(upstream.base_url), storage_url=url)
        wait_until(
            lambda: int(psql(url, "SELECT count(*) FROM usage_records")) >= len(served), timeout=60,
            what="the journal replayed")
        stored = set(psql(url, "SELECT id FROM usage_records").split())
        assert set(served) <= stored
        assert int(psql(url, "SELECT count(*) FROM usage_records")) == len(served)
        assert int(psql(url, "SELECT COALESCE(SUM(requests), 0) FROM usage_rollups")) == len(served)
    finally:
        if lock is not None:
            lock.release()
        gateway.stop()
        if restarted is not None:
            restarted.stop()
        upstream.stop()
