"""Cost attribution end to end: tagged requests through Switchyard to the local model show up,
to the nano-unit, in the CLI's reports, the admin API and the FOCUS export."""

import csv
import io
import json
from decimal import Decimal

import openai
import pytest
import requests

from conftest import Gateway, wait_until

ADMIN_KEY = "sy-admin-e2e-secret"


@pytest.fixture(scope="module")
def finops_gateway(tmp_path_factory, model_server):
    gateway = Gateway(tmp_path_factory.mktemp("finops"), model_server.base_url, env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    yield gateway
    gateway.stop()


def send(gateway, customer, feature):
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0, timeout=120)
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8,
        extra_headers={"x-switchyard-tags": f"customer={customer},feature={feature}"},
    )
    return raw.headers["x-request-id"]


def nanos_to_decimal(nanos):
    return Decimal(nanos) / Decimal(1_000_000_000)


def test_tagged_requests_show_up_in_cost_reports_api_and_focus(finops_gateway):
    gateway = finops_gateway
    ids = [send(gateway, "alpha", "chat"), send(gateway, "alpha", "search"), send(gateway, "beta", "chat")]
    records = [gateway.record(request_id) for request_id in ids]
    expected = {"alpha": sum(r["cost_nanos"] for r in records[:2]), "beta": records[2]["cost_nanos"]}
    assert all(cost > 0 for cost in expected.values())
    # The ledger writer flushes asynchronously: wait until the rollups carry all three requests.
    def reported():
        rows = json.loads(gateway.cli("report", "cost", "--by", "customer", "--since", "1h", "--format", "json"))
        by_customer = {row["customer"]: row for row in rows}
        return by_customer if sum(int(row["requests"]) for row in rows) == 3 else None

    rows = wait_until(reported, timeout=10, what="three requests in the cost report")
    assert set(rows) == {"alpha", "beta"}
    assert int(rows["alpha"]["requests"]) == 2 and int(rows["beta"]["requests"]) == 1
    for customer, nanos in expected.items():
        assert Decimal(rows[customer]["cost"]) == nanos_to_decimal(nanos)
        assert rows[customer]["currency"] == "USD"

    by_feature = json.loads(gateway.cli("report", "cost", "--by", "feature", "--since", "1h", "--format", "json"))
    assert sorted(row["feature"] for row in by_feature) == ["chat", "search"]
    assert sum(Decimal(row["cost"]) for row in by_feature) == nanos_to_decimal(sum(expected.values()))

    # The admin API answers the same report, only to the admin key.
    url = f"http://127.0.0.1:{gateway.port}/admin/v1/reports/cost"
    assert requests.get(url, params={"by": "customer"}, headers={"Authorization": f"Bearer {gateway.keys['acme']}"}).status_code == 401
    answer = requests.get(url, params={"by": "customer"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert answer.status_code == 200
    api_rows = {row["customer"]: row for row in answer.json()}
    assert {c: Decimal(r["cost"]) for c, r in api_rows.items()} == {c: nanos_to_decimal(n) for c, n in expected.items()}

    # FOCUS rows carry the tags and sum to the ledger.
    focus = gateway.cli("export", "focus", "--since", "1h", "--format", "csv")
    focus_rows = list(csv.DictReader(io.StringIO(focus)))
    assert focus_rows and all(row["ServiceCategory"] == "AI and Machine Learning" for row in focus_rows)
    assert sum(Decimal(row["ListCost"]) for row in focus_rows) == nanos_to_decimal(sum(expected.values()))
    alpha = [row for row in focus_rows if json.loads(row["Tags"]).get("customer") == "alpha"]
    assert sum(Decimal(row["BilledCost"]) for row in alpha) == nanos_to_decimal(expected["alpha"])
    assert {row["RegionId"] for row in focus_rows} == {"on-prem"}

    # Re-pricing at the configured prices reproduces the recorded cost exactly.
    scenario = gateway.workdir / "same.yaml"
    scenario.write_text("moves: []\n")
    simulated = json.loads(gateway.cli("simulate", "--scenario", str(scenario), "--since", "1h", "--format", "json"))
    total = next(row for row in simulated if row["level"] == "total")
    assert Decimal(total["difference"]) == 0
    assert Decimal(total["actual"]) == nanos_to_decimal(sum(expected.values()))


def test_finops_verbs_explain_themselves(finops_gateway):
    for verb in (["report", "cost"], ["simulate"], ["prices", "import"], ["export", "focus"]):
        text = finops_gateway.cli(*verb, "--help")
        assert "--config" in text


def test_prices_import_reports_mapped_and_skipped_and_prices_unpriced_deployments(tmp_path):
    import subprocess

    from conftest import BINARY

    config = tmp_path / "switchyard.yaml"
    config.write_text(f"""
storage:
  url: "sqlite://{tmp_path / 'prices.db'}"
  journal: "{tmp_path / 'journal.ndjson'}"
providers:
  - {{name: openai, kind: openai, base_url: "https://api.openai.com/v1"}}
deployments:
  - {{name: mini, provider: openai, model: gpt-4o-mini}}
  - {{name: mystery, provider: openai, model: not-in-any-catalog}}
routes:
  - {{name: chat, targets: [mini, mystery]}}
""")

    def cli(*args):
        result = subprocess.run([str(BINARY), *args, "--config", str(config)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    before = {row["deployment"]: row for row in json.loads(cli("prices", "list", "--format", "json"))}
    assert before["mini"]["source"].startswith("default-") and before["mini"]["input_per_mtok"] == "0.15"
    assert before["mystery"]["source"] == "none (free)"

    litellm = tmp_path / "model_prices_and_context_window.json"
    litellm.write_text(json.dumps({
        "sample_spec": {"input_cost_per_token": 0},
        "gpt-4o-mini": {"input_cost_per_token": 1.2e-07, "output_cost_per_token": 4.8e-07, "mode": "chat",
                        "max_input_tokens": 128000},
        "dall-e-3": {"input_cost_per_pixel": 1e-08, "mode": "image_generation"},
    }))
    out = cli("prices", "import", str(litellm), "--effective", "2026-11-01", "--verbose")
    assert "imported 1 models" in out and "skipped 1" in out and "dall-e-3" in out
    after = {row["deployment"]: row for row in json.loads(cli("prices", "list", "--format", "json"))}
    assert after["mini"]["source"] == "imported" and after["mini"]["input_per_mtok"] == "0.12"
