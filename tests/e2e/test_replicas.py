"""Three replicas on one PostgreSQL and one Redis (`storage.redis_url`), behind HAProxy: one
budget and one rate limit for the fleet, not one per replica. Each replica admits against leases
it takes from Redis in the background, so these figures are also what the hot path pays for."""

import os
import shutil
import threading
import time

import pytest
import requests

from conftest import FaultUpstream, Gateway, HAProxy, RedisServer, fault_config, fresh_database, psql, wait_until

BASE_URL = os.environ.get("SWITCHYARD_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.skipif(not BASE_URL, reason="SWITCHYARD_TEST_POSTGRES_URL not set (scripts/test.sh sets it)"),
    pytest.mark.skipif(not shutil.which("haproxy"), reason="HAProxy not installed (scripts/install-test-deps.sh)"),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="Redis not installed (scripts/install-test-deps.sh)"),
]

# A request costs 9 input + 4 output tokens at 1.00 / 2.00 per million: 17,000 nano-USD. It
# reserves its estimate (7 input tokens) and max_tokens 8: 23,000.
COST = 17_000
RESERVED = 23_000
REQUESTS_WORTH = 300
LIMIT = REQUESTS_WORTH * COST  # 0.0051 USD
GOVERNANCE = f"""budgets:
  - name: acme-day
    scope: tenant:acme
    period: day
    limit: "{LIMIT / 1e9:.4f}"
limits:
  - scope: tenant:globex
    requests_per_minute: 600
"""


class Fleet:
    def __init__(self, tmp_path, governance=GOVERNANCE, replicas=3, deployment_extra=""):
        self.url = fresh_database(BASE_URL, "sy_e2e_fleet_")
        self.redis = RedisServer(tmp_path)
        self.upstream = FaultUpstream(tmp_path)
        storage = f'  redis_url: "{self.redis.url}"\n'
        body = fault_config(self.upstream.base_url, governance)
        body = body.replace("    model: fault-model\n", "    model: fault-model\n" + deployment_extra, 1)
        self.replicas = []
        try:
            for index in range(replicas):
                self.replicas.append(
                    Gateway(tmp_path / f"r{index}", body=body, storage_url=self.url, storage_extra=storage))
            self.balancer = HAProxy(tmp_path, [replica.port for replica in self.replicas])
        except BaseException:
            self.stop()
            raise
        self.keys = self.replicas[0].keys

    def stop(self):
        if getattr(self, "balancer", None):
            self.balancer.stop()
        for replica in self.replicas:
            replica.stop()
        self.upstream.stop()
        self.redis.stop()


def hammer(base_url, key, clients, requests_each):
    """`clients` threads, each on its own connection, sending `requests_each` chat completions.
    Returns the answers as (status, error code) pairs."""
    answers, lock = [], threading.Lock()

    def client():
        session = requests.Session()
        for _ in range(requests_each):
            body = {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
            try:
                response = session.post(f"{base_url}/chat/completions", json=body,
                                        headers={"Authorization": f"Bearer {key}"}, timeout=30)
                code = None if response.status_code == 200 else response.json()["error"].get("code")
                outcome = (response.status_code, code)
            except requests.RequestException as error:
                outcome = (0, repr(error))
            with lock:
                answers.append(outcome)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return answers


def test_three_replicas_hammered_at_once_never_spend_past_one_budget(tmp_path):
    fleet = Fleet(tmp_path)
    try:
        # 64 connections, 640 requests for a budget of 300 requests' worth.
        answers = hammer(fleet.balancer.base_url, fleet.keys["acme"], clients=64, requests_each=10)
        served = sum(1 for status, _ in answers if status == 200)
        refused = [(status, code) for status, code in answers if status != 200]
        # Every replica reports its last spend within 200 ms; the store has every record soon after.
        wait_until(lambda: int(psql(fleet.url, "SELECT count(*) FROM usage_records WHERE status = 200") or 0) == served,
                   timeout=30, what="every served request's record")
    finally:
        fleet.stop()
    spent = int(psql(fleet.url, "SELECT coalesce(sum(cost_nanos), 0) FROM usage_records WHERE tenant = 'acme'"))
    replicas_serving = psql(fleet.url, "SELECT count(DISTINCT replica) FROM usage_records WHERE status = 200")
    # Three writers upserting the same hourly rollup rows at once: still exact.
    rolled_up = psql(fleet.url, "SELECT coalesce(sum(requests), 0), coalesce(sum(cost_nanos), 0) FROM usage_rollups "
                                "WHERE tenant = 'acme'")
    records = psql(fleet.url, "SELECT count(*), coalesce(sum(cost_nanos), 0) FROM usage_records WHERE tenant = 'acme'")
    print(f"one budget of {LIMIT} nano-USD, 3 replicas, 64 connections: {served} served, {len(refused)} refused, "
          f"spent {spent} ({spent / LIMIT:.1%} of the limit) on {replicas_serving} replicas")
    assert len(answers) == 640
    # Refusals are the budget's, in OpenAI's format; nothing else failed.
    assert set(refused) <= {(429, "budget_exceeded")}, set(refused)
    assert spent == served * COST
    assert spent <= LIMIT, f"the fleet spent {spent}, past the limit of {LIMIT}"
    # Unspent at the end: less than a reservation in each replica's lease and in Redis.
    assert spent > LIMIT - 4 * RESERVED, f"the fleet stopped early at {spent} of {LIMIT}"
    assert replicas_serving == "3"
    assert rolled_up == records, f"rollups {rolled_up} against records {records}"


def test_a_rate_limit_of_600_a_minute_holds_across_three_replicas(tmp_path):
    fleet = Fleet(tmp_path)
    try:
        started = time.monotonic()
        answers = hammer(fleet.balancer.base_url, fleet.keys["globex"], clients=16, requests_each=100)
        elapsed = time.monotonic() - started
    finally:
        fleet.stop()
    accepted = sum(1 for status, _ in answers if status == 200)
    refused = [(status, code) for status, code in answers if status != 200]
    # The shared bucket holds 600 and refills 10 a second, and it refills while the replicas hold
    # slices of it (at most a twentieth of the minute, 30, each): the stated bound.
    ceiling = 600 + int(elapsed * 10) + 1 + 3 * 30
    print(f"rate limit 600/min, 3 replicas: {accepted} accepted of {len(answers)} in {elapsed:.1f} s "
          f"(ceiling {ceiling}; one bucket per replica would have allowed {3 * 600})")
    assert set(refused) <= {(429, "rate_limit_exceeded")}, set(refused)
    assert accepted <= ceiling
    # Leases left unused when the load ended: at most a slice (30) per replica.
    assert accepted >= 600 - 3 * 30


def test_a_redis_outage_falls_back_to_local_shares_and_is_reconciled_from_the_ledger(tmp_path):
    governance = GOVERNANCE.replace(f'limit: "{LIMIT / 1e9:.4f}"', 'limit: "5.00"')
    fleet = Fleet(tmp_path, governance=governance)
    stopping = threading.Event()
    answers, lock = [], threading.Lock()

    def client():
        session = requests.Session()
        while not stopping.is_set():
            body = {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
            try:
                response = session.post(f"{fleet.balancer.base_url}/chat/completions", json=body,
                                        headers={"Authorization": f"Bearer {fleet.keys['acme']}"}, timeout=30)
                outcome = response.status_code
            except requests.RequestException as error:
                outcome = repr(error)
            with lock:
                answers.append(outcome)
            time.sleep(0.005)

    def fallbacks():
        return [metric_value(replica.metrics(), "switchyard_fleet_fallback_budgets") for replica in fleet.replicas]

    threads = [threading.Thread(target=client) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: len(answers) > 200, timeout=60, what="load under way")
        fleet.redis.stop()
        outage_started, served_before = time.monotonic(), len(answers)
        # Each replica notices at its next step (within a second) and spends its local share.
        wait_until(lambda: fallbacks() == [1, 1, 1], timeout=30, what="every replica on its local share")
        while time.monotonic() - outage_started < 30:
            time.sleep(0.5)
        served_during = len(answers) - served_before
        fleet.redis.start()
        # Back in contact: the counter Redis lost is seeded from the ledger, leases resume.
        wait_until(lambda: fallbacks() == [0, 0, 0], timeout=30, what="every replica back on Redis")
        time.sleep(0.5)
        stopping.set()
        for thread in threads:
            thread.join(timeout=60)
        total_served = sum(1 for answer in answers if answer == 200)
        wait_until(lambda: int(psql(fleet.url, "SELECT count(*) FROM usage_records WHERE status = 200")) == total_served,
                   timeout=30, what="every served request's record")
        # Every replica reports within 200 ms of its last spend.
        ledger = int(psql(fleet.url, "SELECT sum(cost_nanos) FROM usage_records WHERE tenant = 'acme'"))
        key = next(k for k in fleet.redis.cli("KEYS", "switchyard:budget:acme-day:*").split())

        def counted():
            return int(fleet.redis.cli("HGET", key, "spent") or 0)

        wait_until(lambda: counted() >= ledger - 200 * COST, timeout=30, what="the counter reconciled")
        redis_spent = counted()
    finally:
        stopping.set()
        fleet.stop()
    failed = [answer for answer in answers if answer != 200]
    print(f"Redis down 30 s under load: {served_during} requests during the outage, {len(failed)} failed; "
          f"after it, Redis counts {redis_spent} of the ledger's {ledger} nano-USD")
    assert not failed, failed[:5]
    assert served_during > 100
    # Seeded from the ledger when Redis came back empty: what the ledger held then, and every
    # report since. Records still in a replica's writer queue at that moment are the only gap.
    assert ledger - 200 * COST <= redis_spent <= ledger


def metric_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError(f"{name} not exported")


def test_streams_on_two_replicas_are_cut_when_their_shared_budget_runs_out(tmp_path):
    # globex: 200 output tokens' worth (2,000 nano-USD each), `on_exceed: cut`; a request reserves
    # its input and 4 output tokens, so its stream must ask the budget for more as it goes.
    governance = """budgets:
  - name: globex-day
    scope: tenant:globex
    period: day
    limit: "0.0004"
    on_exceed: cut
governance:
  assumed_output_tokens: 4
"""
    fleet = Fleet(tmp_path, governance=governance)
    results = {}
    try:
        fleet.upstream.control(mode="stream_long", chunks=400)

        def stream(index, replica):
            response = requests.post(
                f"{replica.base_url}/chat/completions", headers={"Authorization": f"Bearer {fleet.keys['globex']}"},
                json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "stream": True},
                stream=True, timeout=60)
            results[index] = (response.status_code, [line for line in response.iter_lines() if line])

        threads = [threading.Thread(target=stream, args=(index, fleet.replicas[index])) for index in range(2)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.monotonic() - started
        wait_until(lambda: psql(fleet.url, "SELECT count(*) FROM usage_records WHERE tenant = 'globex'") == "2",
                   timeout=30, what="both streams' records")
    finally:
        fleet.stop()
    spent = int(psql(fleet.url, "SELECT sum(cost_nanos) FROM usage_records WHERE tenant = 'globex'"))
    classes = psql(fleet.url, "SELECT error_class FROM usage_records WHERE tenant = 'globex'").split()
    words = [sum(1 for line in lines if b'"content"' in line) for _, lines in results.values()]
    print(f"two streams on two replicas, one budget of 400000 nano-USD with on_exceed: cut: {words} chunks relayed "
          f"of 400 each, cut after {elapsed:.1f} s, spent {spent}")
    for status, lines in results.values():
        assert status == 200
        assert b"budget_exceeded" in lines[-1], lines[-3:]
        assert lines[-1] != b"data: [DONE]"
    assert classes == ["budget_exceeded", "budget_exceeded"]
    assert spent <= 400_000
    # Cut near the end of the money, not at the start: the two streams used most of it.
    assert spent > 400_000 // 2


SLOTS = """    max_concurrency: {slots}
    queue: {{ timeout_seconds: 60 }}
"""


def test_a_deployments_max_concurrency_holds_for_the_fleet(tmp_path):
    """max_concurrency 4 on three replicas behind HAProxy: the provider never sees more than 4
    requests at once (one count per replica would allow 12), and every queued request is served."""
    fleet = Fleet(tmp_path, governance="", deployment_extra=SLOTS.format(slots=4))
    try:
        fleet.upstream.control(delay=0.3, reset=True)
        started = time.monotonic()
        answers = hammer(fleet.balancer.base_url, fleet.keys["globex"], clients=24, requests_each=4)
        elapsed = time.monotonic() - started
        stats = fleet.upstream.stats()
        served_by = psql(fleet.url, "SELECT count(DISTINCT replica) FROM usage_records WHERE status = 200")
    finally:
        fleet.stop()
    served = sum(1 for status, _ in answers if status == 200)
    print(f"max_concurrency 4 on 3 replicas, 24 connections: {served} of {len(answers)} served in {elapsed:.1f} s "
          f"(4 slots x 0.3 s: {96 * 0.3 / 4:.1f} s at best), at most {stats['max_in_flight']} at once upstream")
    assert served == 96, sorted(set(answers))
    assert stats["max_in_flight"] <= 4
    # The fleet used its slots: all four were busy at once.
    assert stats["max_in_flight"] == 4
    assert served_by == "3"


def test_a_quiet_tenant_on_one_replica_is_not_starved_by_a_flood_on_another(tmp_path):
    """max_concurrency 2 for the fleet. acme floods replica 0 with 32 requests; globex sends one
    to replica 1 once the flood is queued. The fleet's queue orders both by shared virtual time:
    globex waits for the two requests in service and at most one acme request queued before it
    (one per slot), not for acme's backlog."""
    fleet = Fleet(tmp_path, governance="", deployment_extra=SLOTS.format(slots=2))
    try:
        service = 0.3
        fleet.upstream.control(delay=service, reset=True)
        flood_done = {}

        def flood():
            flood_done["answers"] = hammer(fleet.replicas[0].base_url, fleet.keys["acme"], clients=16, requests_each=2)
            flood_done["at"] = time.monotonic()

        started = time.monotonic()
        thread = threading.Thread(target=flood)
        thread.start()
        wait_until(lambda: fleet.upstream.stats()["chat_hits"] >= 2, timeout=10, what="the flood in service")
        time.sleep(service)  # the rest of the flood is queued behind the two slots
        quiet_started = time.monotonic()
        quiet = hammer(fleet.replicas[1].base_url, fleet.keys["globex"], clients=1, requests_each=1)
        quiet_took = time.monotonic() - quiet_started
        thread.join(timeout=120)
    finally:
        fleet.stop()
    flood_took = flood_done["at"] - started
    print(f"flood of 32 on replica 0: {flood_took:.1f} s; quiet request on replica 1: {quiet_took:.2f} s "
          f"(service {service} s, 2 slots)")
    assert quiet == [(200, None)]
    assert all(status == 200 for status, _ in flood_done["answers"])
    assert flood_took > 10 * service
    # In service: up to one service time left; then at most one acme request per slot ahead of
    # it; then its own. A FIFO across the fleet would make it wait for ~13 service times.
    assert quiet_took < 4 * service + 1.0, f"globex took {quiet_took:.2f} s"
