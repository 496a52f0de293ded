"""Two tenants on one saturated llama.cpp deployment (one slot, a queue): a tenant flooding the
queue cannot push the other past about one request's service time."""

import concurrent.futures
import time

import openai
import pytest

from conftest import Gateway, local_model, wait_until

QUEUED = """    max_concurrency: 1
    queue: { timeout_seconds: 120 }
"""
BODY = """
routes:
  - name: chat
    targets: [gemma-local]
tenants:
  - name: acme
  - name: globex
"""


@pytest.fixture(scope="module")
def shared(tmp_path_factory, model_server):
    body = local_model(model_server.base_url, QUEUED) + BODY
    gateway = Gateway(tmp_path_factory.mktemp("fair-share"), model_server.base_url, body=body)
    yield gateway
    gateway.stop()


def ask(gateway, tenant):
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys[tenant], max_retries=0, timeout=300)
    started = time.monotonic()
    client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Count to twenty."}], max_tokens=24, temperature=0)
    return time.monotonic() - started


def test_a_flood_does_not_starve_the_other_tenant(shared):
    service = min(ask(shared, "acme") for _ in range(2))  # one request alone, warm
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        flood = [pool.submit(ask, shared, "acme") for _ in range(10)]
        time.sleep(service * 2)  # the flood is queued behind the one slot
        quiet = ask(shared, "globex")
        flood_latencies = [f.result() for f in flood]
    print(f"service {service:.2f}s, quiet {quiet:.2f}s, flood max {max(flood_latencies):.2f}s")
    # The flood needs about 10 service times; globex waits for the request in the slot and at
    # most one acme request ahead of it in the queue, then its own.
    assert max(flood_latencies) > 6 * service
    assert quiet < 4 * service + 1.0, f"globex took {quiet:.2f}s; one request takes {service:.2f}s"
