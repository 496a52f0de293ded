"""The official OpenAI SDK → switchyard serve → llama.cpp (Gemma 3 270M)."""

import json
from decimal import Decimal

import openai
import pytest
import requests

from conftest import PRICES

MESSAGES = [{"role": "user", "content": "Write one sentence about trains."}]


def expected_cost_nanos(input_tokens: int, output_tokens: int, cached: int = 0) -> int:
    micro = (
        Decimal(input_tokens - cached) * Decimal(PRICES["input"])
        + Decimal(cached) * Decimal(PRICES["cached_input"])
        + Decimal(output_tokens) * Decimal(PRICES["output"])
    )
    return int((micro * 1000).to_integral_value(rounding="ROUND_HALF_EVEN"))


def test_non_streaming_usage_in_the_ledger_equals_the_upstreams(client, gateway):
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=MESSAGES, max_tokens=8, temperature=0, seed=42,
        extra_headers={"x-switchyard-tags": "customer=c-001,feature=e2e"},
    )
    completion = raw.parse()
    assert completion.choices[0].message.role == "assistant"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert raw.headers["x-switchyard-deployment"] == "gemma-local"

    record = gateway.record(raw.headers["x-request-id"])
    assert record["tenant"] == "acme"
    assert record["status"] == 200 and record["error_class"] is None
    assert record["usage_estimated"] == 0
    assert record["input_tokens"] == completion.usage.prompt_tokens
    assert record["output_tokens"] == completion.usage.completion_tokens
    assert record["cost_nanos"] == expected_cost_nanos(record["input_tokens"], record["output_tokens"])
    assert json.loads(record["tags"]) == {"customer": "c-001", "feature": "e2e"}
    assert record["deployment"] == "gemma-local" and record["upstream_model"] == "gemma-3-270m"


def test_stream_without_upstream_usage_is_estimated_close_to_the_real_count(client, gateway):
    # The same request, non-streamed, gives the real token counts (temperature 0, fixed seed).
    real = client.chat.completions.create(model="chat", messages=MESSAGES, max_tokens=12, temperature=0, seed=7)

    with client.chat.completions.with_streaming_response.create(
        model="chat", messages=MESSAGES, max_tokens=12, temperature=0, seed=7, stream=True,
    ) as response:
        request_id = response.headers["x-request-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks and text
    # The client did not ask for usage, so it sees none.
    assert all(getattr(c, "usage", None) is None for c in chunks)

    record = gateway.record(request_id)
    assert record["streamed"] == 1
    assert record["usage_estimated"] == 1
    assert abs(record["output_tokens"] - real.usage.completion_tokens) <= 1
    assert abs(record["input_tokens"] - real.usage.prompt_tokens) <= max(4, real.usage.prompt_tokens * 0.3)
    assert record["cost_nanos"] == expected_cost_nanos(record["input_tokens"], record["output_tokens"])
    assert record["ttft_us"] is not None and 0 < record["ttft_us"] <= record["latency_us"]


def test_stream_when_the_client_asks_for_usage(client, gateway):
    stream = client.chat.completions.create(
        model="chat", messages=MESSAGES, max_tokens=5, stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert any(c.choices and c.choices[0].delta.content for c in chunks)


def test_report_usage_by_tenant_shows_exact_costs_and_keeps_tenants_apart(gateway):
    import openai as sdk

    globex = sdk.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["globex"], max_retries=0, timeout=120)
    raw = globex.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES, max_tokens=4)
    gateway.record(raw.headers["x-request-id"])

    records = gateway.records()
    report = {row["tenant"]: row for row in gateway.report("tenant")}
    for tenant in ("acme", "globex"):
        mine = [r for r in records if r["tenant"] == tenant]
        assert mine, tenant
        row = report[tenant]
        assert int(row["requests"]) == len(mine)
        assert int(row["input_tokens"]) == sum(r["input_tokens"] for r in mine)
        assert int(row["output_tokens"]) == sum(r["output_tokens"] for r in mine)
        assert int(row["cost_nanos"]) == sum(r["cost_nanos"] for r in mine)
        assert Decimal(row["cost"]) == Decimal(int(row["cost_nanos"])) / Decimal(10**9)
    globex_ids = {r["id"] for r in records if r["tenant"] == "globex"}
    assert raw.headers["x-request-id"] in globex_ids
    table = gateway.cli("report", "usage", "--by", "tenant")
    assert "acme" in table and "globex" in table


def test_bad_key_is_401_in_openais_shape(gateway):
    bad = openai.OpenAI(base_url=gateway.base_url, api_key="sk-sy-not-a-real-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        bad.chat.completions.create(model="chat", messages=MESSAGES, max_tokens=2)
    assert raised.value.status_code == 401
    assert raised.value.body["code"] == "invalid_api_key"


def test_malformed_bodies_are_400(client, gateway):
    response = requests.post(
        f"{gateway.base_url}/chat/completions", data="{not json",
        headers={"Authorization": f"Bearer {gateway.keys['acme']}", "Content-Type": "application/json"}, timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    gateway.record(response.headers["x-request-id"])

    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="chat", messages="not a list", max_tokens=2)
    assert "messages" in raised.value.message


def test_unknown_and_forbidden_models(gateway):
    acme = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0)
    with pytest.raises(openai.NotFoundError):
        acme.chat.completions.create(model="gpt-9", messages=MESSAGES, max_tokens=2)
    assert [m.id for m in acme.models.list()] == ["chat"]


def test_metrics_and_health(gateway):
    base = gateway.base_url.removesuffix("/v1")
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    metrics = gateway.metrics()
    assert 'switchyard_requests_total{endpoint="chat.completions"' in metrics
    assert "switchyard_cost_nanos_total" in metrics
    assert "switchyard_time_to_first_token_seconds_bucket" in metrics
