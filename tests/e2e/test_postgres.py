"""The same gateway on PostgreSQL: records land in the shared store and the CLI reports them."""

import os
import secrets
import subprocess

import openai
import pytest

from conftest import Gateway, wait_until

BASE_URL = os.environ.get("SWITCHYARD_TEST_POSTGRES_URL")
if not BASE_URL and os.environ.get("SWITCHYARD_REQUIRE_POSTGRES") == "1":
    raise RuntimeError("SWITCHYARD_REQUIRE_POSTGRES=1 but SWITCHYARD_TEST_POSTGRES_URL is not set")
pytestmark = pytest.mark.skipif(not BASE_URL, reason="SWITCHYARD_TEST_POSTGRES_URL not set (scripts/test.sh sets it)")


def psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def test_gateway_on_postgres(tmp_path, model_server):
    database = "sy_e2e_" + secrets.token_hex(4)
    psql(BASE_URL, f"CREATE DATABASE {database}")
    url = BASE_URL.rsplit("/", 1)[0] + "/" + database
    gateway = Gateway(tmp_path / "gateway", model_server.base_url, storage_url=url)
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0, timeout=120)
        raw = client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=4,
        )
        usage = raw.parse().usage
        request_id = raw.headers["x-request-id"]
        row = wait_until(
            lambda: psql(url, f"SELECT tenant, input_tokens, output_tokens, usage_estimated FROM usage_records WHERE id = '{request_id}'"),
            timeout=10, what="record in PostgreSQL",
        )
        assert row == f"acme|{usage.prompt_tokens}|{usage.completion_tokens}|0"
        assert psql(url, "SELECT count(*) FROM api_keys") == "2"
        # Keys are stored hashed only.
        assert psql(url, f"SELECT count(*) FROM api_keys WHERE key_hash LIKE '%{gateway.keys['acme'][-10:]}%'") == "0"
        report = {r["tenant"]: r for r in gateway.report("tenant")}
        assert int(report["acme"]["input_tokens"]) == usage.prompt_tokens
    finally:
        gateway.stop()
