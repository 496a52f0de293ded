"""Traces over OTLP/HTTP: the official OpenAI SDK sends a request with its own `traceparent`;
the gateway continues that trace with a SERVER span, makes a CLIENT span for the upstream
attempt and hands the upstream that span's context. A Python receiver decodes the official
protobuf messages (opentelemetry-proto) and the fault upstream records the headers it got."""

import json
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import openai
import pytest
import requests

from conftest import FaultUpstream, Gateway, fault_config, free_port, wait_until

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


# globex gets a project (the first line continues its tenant entry in fault_config) and a policy:
# its guardrail and policy decisions show as events on the request span, and it opts in to prompt
# and answer content in its traces.
POLICIES = """    projects: [labs]
policies:
  - name: globex-rules
    scope: tenant:globex
    denied_tools: [shell]
    guardrails: { emails: redact }
    trace_content: true
"""


class Receiver:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.log = open(workdir / f"otlp-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "otlp_receiver.py"), str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout=15, what="OTLP receiver")

    def _ready(self):
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/spans", timeout=1).ok
        except requests.RequestException:
            return False

    def spans(self):
        return requests.get(f"http://127.0.0.1:{self.port}/spans", timeout=5).json()

    def stop(self):
        self.process.kill()
        self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tracing")
    receiver = Receiver(workdir)
    upstream = FaultUpstream(workdir)
    body = fault_config(upstream.base_url, POLICIES) + f"""
observability:
  metrics_token_env: SWITCHYARD_METRICS_TOKEN
  tracing:
    endpoint: "http://127.0.0.1:{receiver.port}"
    service_name: switchyard-e2e
    allow_content: true
"""
    # Spans are batched; a short delay keeps the test quick (the standard variable, honoured as by any SDK).
    gateway = Gateway(workdir / "gateway", body=body, env={"OTEL_BSP_SCHEDULE_DELAY": "100"})
    yield gateway, receiver, upstream
    gateway.stop()
    upstream.stop()
    receiver.stop()


def spans_of(receiver, trace_id):
    """The trace's spans once its SERVER span (ended last, at settlement) has arrived."""
    def trace():
        return [s for s in receiver.spans() if s["trace_id"] == trace_id]
    wait_until(lambda: any(s["kind"] == "SERVER" for s in trace()), timeout=30, what=f"the server span of {trace_id}")
    return trace()


def test_a_clients_trace_is_continued_to_the_upstream_and_exported(traced):
    gateway, receiver, upstream = traced
    upstream.control(mode="ok", reset=True)
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8, temperature=0.25, top_p=0.5,
        extra_headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01", "tracestate": "congo=t61rcWkgMzE"})
    assert raw.parse().choices[0].message.content == "ok from fault upstream"
    spans = spans_of(receiver, TRACE_ID)
    server = next(s for s in spans if s["kind"] == "SERVER")
    attempt = next(s for s in spans if s["kind"] == "CLIENT")
    print(f"server span {server['name']}: {server['attributes']}")
    print(f"client span {attempt['name']}: {attempt['attributes']}")
    # The client's span is the parent of the gateway's; the attempt is the gateway span's child.
    assert server["parent_span_id"] == CLIENT_SPAN
    assert attempt["parent_span_id"] == server["span_id"]
    # Span.flags: sampled, and whether the parent is remote is known (bit 8) and true (bit 9)
    # for the span continued from the client; the attempt's parent is local.
    assert server["flags"] == 0x301 and attempt["flags"] == 0x101
    assert server["name"] == "chat chat"
    assert attempt["name"] == "chat fault-model"
    assert server["resource"]["service.name"] == "switchyard-e2e"
    attributes = server["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "chat"
    assert attributes["gen_ai.response.model"] == "fault-model"
    assert attributes["gen_ai.provider.name"] == "openai"  # the provider's kind; its name is ours
    assert attributes["switchyard.provider"] == "fault"
    assert attributes["gen_ai.usage.input_tokens"] == 9
    assert attributes["gen_ai.usage.output_tokens"] == 4
    assert attributes["switchyard.tenant"] == "acme"
    assert attributes["switchyard.route"] == "chat"
    assert attributes["switchyard.deployment"] == "fault-model"
    # 9 input and 4 output tokens at 1.00 / 2.00 per million: exact, as a decimal string.
    assert attributes["switchyard.cost"] == "0.000017000"
    assert attributes["switchyard.usage_estimated"] is False
    assert attributes["switchyard.request_id"] == raw.headers["x-request-id"]
    # The client's parameters and what the upstream said of its answer.
    assert attributes["gen_ai.request.max_tokens"] == 8
    assert attributes["gen_ai.request.temperature"] == 0.25
    assert attributes["gen_ai.request.top_p"] == 0.5
    assert attributes["gen_ai.response.id"] == raw.parse().id
    assert attributes["gen_ai.response.finish_reasons"] == [raw.parse().choices[0].finish_reason]
    assert attempt["attributes"]["server.address"] == "127.0.0.1"
    assert attempt["attributes"]["server.port"] == upstream.port
    assert attempt["attributes"]["http.response.status_code"] == 200
    # The upstream got the attempt's context: same trace, the attempt span as parent.
    sent = requests.get(f"http://127.0.0.1:{upstream.port}/received_headers", timeout=5).json()[-1]
    assert sent["traceparent"] == f"00-{TRACE_ID}-{attempt['span_id']}-01"
    # The client's tracestate goes along, to the upstream and into the spans.
    assert sent["tracestate"] == "congo=t61rcWkgMzE"
    assert server["trace_state"] == "congo=t61rcWkgMzE" and attempt["trace_state"] == "congo=t61rcWkgMzE"
    # The client can find its trace: the response carries the gateway span's context.
    assert raw.headers["traceparent"] == f"00-{TRACE_ID}-{server['span_id']}-01"
    # No prompt or completion text is exported.
    assert "Hi" not in str(spans) and "ok from fault upstream" not in str(spans)
    # The usage record names the trace.
    record = gateway.record(raw.headers["x-request-id"])
    assert record["trace_id"] == TRACE_ID


def test_failed_attempts_are_spans_with_the_error(traced):
    gateway, receiver, upstream = traced
    upstream.control(mode="error500", reset=True)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    response = requests.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
        headers={"Authorization": f"Bearer {gateway.keys['acme']}",
                 "traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}, timeout=30)
    upstream.control(mode="ok")
    assert response.status_code == 502
    spans = spans_of(receiver, trace_id)
    server = next(s for s in spans if s["kind"] == "SERVER")
    attempts = [s for s in spans if s["kind"] == "CLIENT"]
    print(f"{len(attempts)} attempts: {[s['attributes'] for s in attempts]}")
    assert attempts and all(s["attributes"]["error.type"] == "upstream_error" for s in attempts)
    assert sorted(s["attributes"]["switchyard.attempt"] for s in attempts) == list(range(1, len(attempts) + 1))
    assert server["attributes"]["error.type"] == "upstream_error"
    assert server["status"] == 2  # STATUS_CODE_ERROR


def test_an_unsampled_client_trace_is_not_recorded_but_reaches_the_upstream(traced):
    gateway, receiver, upstream = traced
    upstream.control(mode="ok", reset=True)
    parent = "00-5bf92f3577b34da6a3ce929d0e0e4736-10f067aa0ba902b7-00"
    response = requests.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
        headers={"Authorization": f"Bearer {gateway.keys['acme']}", "traceparent": parent, "tracestate": "v=1"},
        timeout=30)
    assert response.status_code == 200
    sent = requests.get(f"http://127.0.0.1:{upstream.port}/received_headers", timeout=5).json()[-1]
    assert sent["traceparent"] == parent and sent["tracestate"] == "v=1"
    # Not traced here, but the record still names the client's trace.
    assert gateway.record(response.headers["x-request-id"])["trace_id"] == parent.split("-")[1]
    # A sampled request after it is exported; the unsampled one never is.
    sampled = "6bf92f3577b34da6a3ce929d0e0e4736"
    requests.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
        headers={"Authorization": f"Bearer {gateway.keys['acme']}",
                 "traceparent": f"00-{sampled}-20f067aa0ba902b7-01"}, timeout=30).raise_for_status()
    spans_of(receiver, sampled)
    assert not [s for s in receiver.spans() if s["trace_id"] == parent.split("-")[1]]


def test_a_malformed_traceparent_starts_a_new_trace_and_logs_no_header(traced):
    gateway, receiver, upstream = traced
    upstream.control(mode="ok", reset=True)
    key = gateway.keys["acme"]
    for bad in ["x-01", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "00-zz-yy-01"]:
        response = requests.post(
            f"{gateway.base_url}/chat/completions",
            json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
            headers={"Authorization": f"Bearer {key}", "traceparent": bad, "tracestate": "=,="}, timeout=30)
        assert response.status_code == 200
        # A new trace of the gateway's own, which the upstream continues.
        trace_id = response.headers["traceparent"].split("-")[1]
        assert trace_id not in bad.lower()
        spans_of(receiver, trace_id)
    sent = requests.get(f"http://127.0.0.1:{upstream.port}/received_headers", timeout=5).json()
    assert all(h["traceparent"].split("-")[1] != "4bf92f3577b34da6a3ce929d0e0e4736" for h in sent)
    assert key not in gateway.log_path.read_text()


def test_a_model_list_is_a_finished_span(traced):
    gateway, receiver, _ = traced
    trace_id = "7bf92f3577b34da6a3ce929d0e0e4736"
    response = requests.get(
        f"{gateway.base_url}/models",
        headers={"Authorization": f"Bearer {gateway.keys['acme']}", "traceparent": f"00-{trace_id}-30f067aa0ba902b7-01"},
        timeout=30)
    assert response.status_code == 200
    server = next(s for s in spans_of(receiver, trace_id) if s["kind"] == "SERVER")
    assert server["attributes"]["gen_ai.operation.name"] == "models"


def test_a_streams_answer_id_finish_reason_and_run_are_on_its_span(traced):
    gateway, receiver, upstream = traced
    upstream.control(mode="ok", reset=True)
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0)
    trace_id = "9bf92f3577b34da6a3ce929d0e0e4736"
    chunks = list(client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8, stream=True,
        extra_headers={"traceparent": f"00-{trace_id}-90f067aa0ba902b7-01", "x-switchyard-run": "traced-run-1",
                       "x-switchyard-step": "draft"}))
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert reasons
    server = next(s for s in spans_of(receiver, trace_id) if s["kind"] == "SERVER")
    assert server["attributes"]["gen_ai.request.stream"] is True
    # The agent run, ours and as the conventions' conversation id.
    assert server["attributes"]["switchyard.run.id"] == "traced-run-1"
    assert server["attributes"]["gen_ai.conversation.id"] == "traced-run-1"
    assert server["attributes"]["switchyard.run.step"] == "draft"
    assert server["attributes"]["gen_ai.response.id"] == chunks[0].id
    assert server["attributes"]["gen_ai.response.finish_reasons"] == reasons


def test_a_translated_answers_id_and_finish_reason_are_on_its_span(traced):
    """An Anthropic client on an OpenAI-format upstream: the answer is translated, and its span
    still names the upstream's id and why it stopped (in OpenAI's words), streamed or not."""
    gateway, receiver, upstream = traced
    upstream.control(mode="ok", reset=True)
    client = anthropic.Anthropic(
        base_url=gateway.base_url.removesuffix("/v1"), api_key=gateway.keys["acme"], max_retries=0, timeout=60)
    trace_id = "abf92f3577b34da6a3ce929d0e0e4736"
    message = client.messages.create(
        model="chat", max_tokens=8, messages=[{"role": "user", "content": "Hi"}],
        extra_headers={"traceparent": f"00-{trace_id}-70f067aa0ba902b7-01"})
    assert message.stop_reason == "end_turn"
    server = next(s for s in spans_of(receiver, trace_id) if s["kind"] == "SERVER")
    assert server["attributes"]["gen_ai.operation.name"] == "chat"
    assert server["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    # The upstream's id (the Anthropic client sees it behind "msg_").
    assert message.id.endswith(server["attributes"]["gen_ai.response.id"])
    # acme's policy does not opt in to content: none, whatever the client's format.
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system")) for k in server["attributes"])
    assert "Hi" not in str(server)

    stream_trace = "bbf92f3577b34da6a3ce929d0e0e4736"
    with client.messages.stream(
        model="chat", max_tokens=8, messages=[{"role": "user", "content": "Hi"}],
        extra_headers={"traceparent": f"00-{stream_trace}-80f067aa0ba902b7-01"}) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    server = next(s for s in spans_of(receiver, stream_trace) if s["kind"] == "SERVER")
    assert server["attributes"]["gen_ai.request.stream"] is True
    assert server["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert final.id.endswith(server["attributes"]["gen_ai.response.id"])


def test_guardrail_and_policy_decisions_are_events_on_the_request_span(traced):
    gateway, receiver, upstream = traced
    upstream.control(mode="ok", reset=True)
    key = gateway.cli("keys", "create", "--tenant", "globex", "--project", "labs").strip()
    redacted = "1bf92f3577b34da6a3ce929d0e0e4736"
    response = requests.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "Mail jane@example.com"}], "max_tokens": 8},
        headers={"Authorization": f"Bearer {key}", "traceparent": f"00-{redacted}-40f067aa0ba902b7-01"}, timeout=30)
    assert response.status_code == 200
    server = next(s for s in spans_of(receiver, redacted) if s["kind"] == "SERVER")
    assert server["events"] == [{"name": "switchyard.guardrail", "attributes": {
        "switchyard.guardrail.detector": "emails", "switchyard.guardrail.action": "redact",
        "switchyard.guardrail.hits": 1}}]
    # globex's policy opts in to content in traces: the prompt as the upstream got it (redacted)
    # and the answer; acme's requests never show theirs (test_a_clients_trace_is_continued…).
    assert "Mail" in server["attributes"]["gen_ai.input.messages"]
    assert "jane@example.com" not in str(server)
    assert "ok from fault upstream" in server["attributes"]["gen_ai.output.messages"]
    assert server["attributes"]["switchyard.project"] == "labs"

    denied = "2bf92f3577b34da6a3ce929d0e0e4736"
    tool = {"type": "function", "function": {"name": "shell", "parameters": {"type": "object"}}}
    response = requests.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "tools": [tool]},
        headers={"Authorization": f"Bearer {key}", "traceparent": f"00-{denied}-50f067aa0ba902b7-01"}, timeout=30)
    assert response.status_code == 403
    server = next(s for s in spans_of(receiver, denied) if s["kind"] == "SERVER")
    assert server["events"] == [{"name": "switchyard.policy.denied", "attributes": {
        "switchyard.policy": "globex-rules", "switchyard.policy.rule": "denied_tools"}}]
    assert server["attributes"]["error.type"] == "policy_denied"
    assert not [s for s in spans_of(receiver, denied) if s["kind"] == "CLIENT"]


def test_opted_in_content_is_in_the_conventions_schema_for_every_client_format(traced):
    """globex opts in to content: its prompt and answer are on the request span in the GenAI
    message schema (v1.41), the same shape whichever format the client spoke, streamed or not."""
    gateway, receiver, upstream = traced
    upstream.control(mode="ok", reset=True)
    key = gateway.cli("keys", "create", "--tenant", "globex").strip()
    system = [{"type": "text", "content": "Be brief"}]
    prompt = [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    openai_client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
    anthropic_client = anthropic.Anthropic(
        base_url=gateway.base_url.removesuffix("/v1"), api_key=key, max_retries=0, timeout=60)
    traces, answers = {}, {}

    def header(name):
        trace_id = f"{0xdcf92f3577b34da6a3ce929d0e0e4700 + len(traces):032x}"
        traces[name] = trace_id
        return {"traceparent": f"00-{trace_id}-60f067aa0ba902b7-01"}

    # Each answer's text as its client read it (the fault upstream streams other words than it answers whole).
    chat = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}]
    answers["chat"] = openai_client.chat.completions.create(
        model="chat", messages=chat, max_tokens=8, extra_headers=header("chat")).choices[0].message.content
    answers["chat stream"] = "".join(c.choices[0].delta.content or "" for c in openai_client.chat.completions.create(
        model="chat", messages=chat, max_tokens=8, stream=True, extra_headers=header("chat stream")) if c.choices)
    answers["messages"] = anthropic_client.messages.create(
        model="chat", max_tokens=8, system="Be brief", messages=[{"role": "user", "content": "Hi"}],
        extra_body={"temperature": 0.5}, extra_headers=header("messages")).content[0].text
    with anthropic_client.messages.stream(
            model="chat", max_tokens=8, system="Be brief", messages=[{"role": "user", "content": "Hi"}],
            extra_headers=header("messages stream")) as stream:
        answers["messages stream"] = stream.get_final_message().content[0].text
    answers["responses"] = openai_client.responses.create(
        model="chat", instructions="Be brief", input="Hi", max_output_tokens=16,
        extra_headers=header("responses")).output_text
    answers["responses stream"] = "".join(e.delta for e in openai_client.responses.create(
        model="chat", instructions="Be brief", input="Hi", max_output_tokens=16, stream=True,
        extra_headers=header("responses stream")) if e.type == "response.output_text.delta")

    for name, trace_id in traces.items():
        attributes = next(s for s in spans_of(receiver, trace_id) if s["kind"] == "SERVER")["attributes"]
        print(name, {k: v for k, v in attributes.items() if k.startswith("gen_ai.")})
        assert json.loads(attributes["gen_ai.system_instructions"]) == system, name
        assert json.loads(attributes["gen_ai.input.messages"]) == prompt, name
        assert answers[name], name
        assert json.loads(attributes["gen_ai.output.messages"]) == [{
            "role": "assistant", "parts": [{"type": "text", "content": answers[name]}], "finish_reason": "stop"}], name
        assert not any(k.startswith("switchyard.content_omitted") for k in attributes), name
        # The request's parameters, whichever format carried them.
        assert attributes["gen_ai.request.max_tokens"] == (16 if name.startswith("responses") else 8), name
    messages = next(s for s in spans_of(receiver, traces["messages"]) if s["kind"] == "SERVER")
    assert messages["attributes"]["gen_ai.request.temperature"] == 0.5


def test_an_unauthenticated_request_is_never_traced(traced):
    gateway, receiver, upstream = traced
    upstream.control(mode="ok", reset=True)
    anonymous = "3cf92f3577b34da6a3ce929d0e0e4736"
    response = requests.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
        headers={"Authorization": "Bearer sk-sy-made-up", "traceparent": f"00-{anonymous}-60f067aa0ba902b7-01"},
        timeout=30)
    assert response.status_code == 401
    assert "traceparent" not in response.headers
    # Not traced here, but its record still names the client's trace.
    assert gateway.record(response.headers["x-request-id"])["trace_id"] == anonymous
    # A sampled request after it is exported; the unauthenticated one never is.
    after = "4cf92f3577b34da6a3ce929d0e0e4736"
    requests.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
        headers={"Authorization": f"Bearer {gateway.keys['acme']}", "traceparent": f"00-{after}-70f067aa0ba902b7-01"},
        timeout=30).raise_for_status()
    spans_of(receiver, after)
    assert not [s for s in receiver.spans() if s["trace_id"] == anonymous]


def metric(gateway, line_start):
    text = gateway.metrics()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(line_start))


@pytest.fixture(scope="module")
def tail(tmp_path_factory):
    """Head sampling keeps nothing (ratio 0); the tail rule keeps failures and answers slower than 300 ms."""
    workdir = tmp_path_factory.mktemp("tail")
    receiver = Receiver(workdir)
    upstream = FaultUpstream(workdir)
    body = fault_config(upstream.base_url) + f"""
observability:
  metrics_token_env: SWITCHYARD_METRICS_TOKEN
  tracing:
    endpoint: "http://127.0.0.1:{receiver.port}"
    sample_ratio: 0
    keep_slower_than_ms: 300
"""
    gateway = Gateway(workdir / "gateway", body=body, env={
        "OTEL_BSP_SCHEDULE_DELAY": "100"})
    yield gateway, receiver, upstream
    gateway.stop()
    upstream.stop()
    receiver.stop()


def test_the_tail_rule_keeps_failed_and_slow_requests_that_head_sampling_dropped(tail):
    gateway, receiver, upstream = tail
    chat = {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
    headers = {"Authorization": f"Bearer {gateway.keys['acme']}"}
    upstream.control(mode="ok", reset=True)
    fast = requests.post(f"{gateway.base_url}/chat/completions", json=chat, headers=headers, timeout=30)
    assert fast.status_code == 200 and "traceparent" not in fast.headers
    upstream.control(mode="error500")
    failed = requests.post(f"{gateway.base_url}/chat/completions", json=chat, headers=headers, timeout=30)
    assert failed.status_code == 502
    upstream.control(mode="ok")
    # A client's own fault (here an invalid request) keeps no trace: a tenant cannot flood the
    # export queue with cheap refusals.
    invalid = requests.post(
        f"{gateway.base_url}/chat/completions", json={**chat, "max_tokens": 0}, headers=headers, timeout=30)
    assert invalid.status_code == 400
    upstream.control(mode="ok", delay=0.6)
    slow = requests.post(f"{gateway.base_url}/chat/completions", json=chat, headers=headers, timeout=30)
    upstream.control(mode="ok", delay=0)
    assert slow.status_code == 200

    failed_trace = gateway.record(failed.headers["x-request-id"])["trace_id"]
    slow_trace = gateway.record(slow.headers["x-request-id"])["trace_id"]
    assert failed_trace and slow_trace
    # Settled before its answer left, a kept request's answer names its trace, as a head-sampled one does.
    assert failed.headers["traceparent"].split("-")[1] == failed_trace
    assert slow.headers["traceparent"].split("-")[1] == slow_trace
    assert "traceparent" not in invalid.headers
    assert gateway.record(fast.headers["x-request-id"])["trace_id"] is None
    assert gateway.record(invalid.headers["x-request-id"])["trace_id"] is None
    server = next(s for s in spans_of(receiver, failed_trace) if s["kind"] == "SERVER")
    attributes = server["attributes"]
    print(f"tail-kept failure: {attributes}")
    assert attributes["switchyard.trace.kept_by"] == "tail"
    assert attributes["error.type"] == "upstream_error" and server["status"] == 2
    assert attributes["switchyard.attempts.deployment"][0] == "fault-model"
    assert set(attributes["switchyard.attempts.error_type"]) == {"upstream_error"}
    assert set(attributes["switchyard.attempts.status_code"]) == {500}
    slow_span = next(s for s in spans_of(receiver, slow_trace) if s["kind"] == "SERVER")
    assert slow_span["attributes"]["switchyard.trace.kept_by"] == "tail"
    assert (slow_span["end"] - slow_span["start"]) >= 600_000_000
    # The fast request's span was never made: only the two kept traces are there.
    assert {s["trace_id"] for s in receiver.spans()} == {failed_trace, slow_trace}


# Last of the module's tests on `traced`: it stops the receiver.
def test_a_collector_that_is_gone_does_not_fail_requests(traced):
    gateway, receiver, upstream = traced
    upstream.control(mode="ok", reset=True)
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0)

    def fifty():
        started = time.monotonic()
        for _ in range(50):
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
        return time.monotonic() - started

    with_collector = fifty()
    receiver.stop()
    without = fifty()
    print(f"50 requests: {with_collector:.2f} s with the collector, {without:.2f} s with it gone")
    assert upstream.stats()["chat_hits"] == 100
    # Exports fail in the background; requests do not wait for them.
    assert without < 5 * with_collector


def test_spans_a_full_queue_cannot_hold_are_dropped_and_counted(tmp_path):
    """The collector takes connections and never answers; the queue holds 4 spans. Requests go
    through at their pace, the spans past the bound are counted, and shutdown is not held."""
    import signal
    import socket

    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(64)  # never accepted: the export's request is sent and never answered
    upstream = FaultUpstream(tmp_path)
    body = fault_config(upstream.base_url) + f"""
observability:
  metrics_token_env: SWITCHYARD_METRICS_TOKEN
  tracing:
    endpoint: "http://127.0.0.1:{blackhole.getsockname()[1]}"
"""
    gateway = Gateway(tmp_path / "gateway", body=body, env={
        "OTEL_BSP_SCHEDULE_DELAY": "60000", "OTEL_BSP_MAX_QUEUE_SIZE": "4", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "4000"})
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0)
        started = time.monotonic()
        for _ in range(20):
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
        took = time.monotonic() - started
        print(f"20 requests in {took:.2f} s with the collector silent")
        # Far under one export timeout (4 s): no request waited for the export.
        assert took < 4
        # 40 spans (a request and its attempt each): 4 are in the export that hangs, at most 4
        # wait in the queue, the rest were dropped when it was full.
        dropped = metric(gateway, 'switchyard_trace_spans_total{outcome="dropped"}')
        assert dropped >= 32 and metric(gateway, "switchyard_trace_spans_queued") <= 4
        assert metric(gateway, 'switchyard_trace_spans_total{outcome="exported"}') == 0
        # Shutdown waits for at most the hanging export and one bounded last round.
        gateway.process.send_signal(signal.SIGTERM)
        gateway.process.wait(timeout=30)
        assert gateway.process.returncode == 0
    finally:
        gateway.stop()
        upstream.stop()
        blackhole.close()


def test_json_logs_carry_the_trace_and_span_of_each_request(tmp_path):
    """LOG_FORMAT=json: every line is one JSON object; a request's line names its trace and span."""
    import json

    receiver = Receiver(tmp_path)
    upstream = FaultUpstream(tmp_path)
    # acme's policy asks for content in traces, but the operator has not allowed it (allow_content).
    policy = "policies:\n  - name: acme-content\n    scope: tenant:acme\n    trace_content: true\n"
    body = fault_config(upstream.base_url, policy) + f"""
observability:
  metrics_token_env: SWITCHYARD_METRICS_TOKEN
  tracing:
    endpoint: "http://127.0.0.1:{receiver.port}"
"""
    gateway = Gateway(tmp_path / "gateway", body=body, env={
        "LOG_FORMAT": "json", "LOG_LEVEL": "info", "OTEL_BSP_SCHEDULE_DELAY": "100"})
    try:
        trace_id = "8bf92f3577b34da6a3ce929d0e0e4736"
        response = requests.post(
            f"{gateway.base_url}/chat/completions",
            json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
            headers={"Authorization": f"Bearer {gateway.keys['acme']}",
                     "traceparent": f"00-{trace_id}-80f067aa0ba902b7-01"}, timeout=30)
        assert response.status_code == 200
        server = next(s for s in spans_of(receiver, trace_id) if s["kind"] == "SERVER")
        request_id = response.headers["x-request-id"]

        def request_line():
            for line in gateway.log_path.read_text().splitlines():
                entry = json.loads(line)
                if entry.get("request_id") == request_id:
                    return entry
            return None

        wait_until(lambda: request_line() is not None, timeout=30, what="the request's log line")
        lines = [json.loads(line) for line in gateway.log_path.read_text().splitlines()]
        assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
        entry = request_line()
        print(f"request line: {entry}")
        assert entry["message"] == "request" and entry["level"] == "info"
        assert entry["trace_id"] == trace_id and entry["span_id"] == server["span_id"]
        assert entry["tenant"] == "acme" and entry["status"] == "200"
        assert entry["time"].endswith("Z") and len(entry["time"]) == len("2026-12-07T02:30:11.123Z")
        assert gateway.keys["acme"] not in gateway.log_path.read_text()
        assert "gen_ai.input.messages" not in server["attributes"] and "Hi" not in str(server)
    finally:
        gateway.stop()
        upstream.stop()
        receiver.stop()


def test_the_genai_metrics_are_exposed_and_pass_promtool(tmp_path):
    """The OpenTelemetry GenAI metrics in Prometheus' translation, with the conventions' buckets,
    beside switchyard_*; Prometheus's own promtool accepts the whole exposition."""
    import shutil

    upstream = FaultUpstream(tmp_path)
    gateway = Gateway(tmp_path / "gateway", body=fault_config(upstream.base_url))
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0)
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
        stream = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8, stream=True)
        for _ in stream:
            pass
        upstream.control(mode="error500")
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
        upstream.control(mode="ok")
        labels = ('gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="chat",'
                  'gen_ai_response_model="fault-model"')

        def exposition():
            text = gateway.metrics()
            return text if f'gen_ai_client_operation_duration_seconds_count{{{labels},error_type="upstream_error"}} 1' in text \
                else None

        wait_until(lambda: exposition() is not None, timeout=30, what="the failed request's GenAI series")
        text = exposition()
        assert f'gen_ai_client_operation_duration_seconds_count{{{labels}}} 2' in text
        # The fault upstream's stream reports no usage: the gateway's estimate is not a provider's
        # count, so only the non-streamed answer's tokens are in the histogram.
        assert f'gen_ai_client_token_usage_bucket{{{labels},gen_ai_token_type="input",le="16.0"}} 1' in text
        assert f'gen_ai_client_token_usage_bucket{{{labels},gen_ai_token_type="input",le="4.0"}} 0' in text
        assert f'gen_ai_server_time_to_first_token_seconds_count{{{labels}}} 1' in text
        # Nor is its time per output token (it would divide by an estimate).
        assert "gen_ai_server_time_per_output_token_seconds_count" not in text
        assert '# TYPE gen_ai_client_token_usage histogram' in text
        # No library reused a metric name as another shape.
        assert "switchyard_metric_name_conflicts_total 0" in text
        # The conventions' boundaries, not the latency buckets.
        assert f'gen_ai_client_token_usage_bucket{{{labels},gen_ai_token_type="output",le="67108864.0"}}' in text
        promtool = shutil.which("promtool")
        assert promtool, "promtool (Debian package prometheus) is installed by scripts/install-test-deps.sh"
        checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        print(checked.stdout, checked.stderr)
        # promtool exits 3 on lint findings and 1 when it cannot parse: only a clean run passes.
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        gateway.stop()
        upstream.stop()


def test_the_same_metrics_are_pushed_over_otlp_with_the_conventions_names(tmp_path):
    """OTEL_EXPORTER_OTLP_ENDPOINT (as any SDK reads it) also pushes the metrics to the collector,
    through swift-otel's backend: the GenAI families under their semantic-convention names, units
    and attribute keys, the switchyard_* families as they are, cumulative, agreeing with /metrics."""
    receiver = Receiver(tmp_path)
    upstream = FaultUpstream(tmp_path)
    gateway = Gateway(
        tmp_path / "gateway", body=fault_config(upstream.base_url),
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}", "OTEL_METRIC_EXPORT_INTERVAL": "300",
             "OTEL_TRACES_EXPORTER": "none", "OTEL_SERVICE_NAME": "switchyard-metrics-e2e",
             "OTEL_EXPORTER_OTLP_HEADERS": "x-collector-token=s3cret%20value"})
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0)
        for _ in range(3):
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8)

        def pushed():
            state = requests.get(f"http://127.0.0.1:{receiver.port}/metrics-pushed", timeout=5).json()
            by_name = {metric["name"]: metric for metric in state["last"]}
            usage = by_name.get("gen_ai.client.token.usage")
            if not usage or sum(point["count"] for point in usage["points"]) < 6:
                return None
            return by_name

        metrics = wait_until(pushed, timeout=30, what="a push with the three requests' token usage")
        usage = metrics["gen_ai.client.token.usage"]
        assert usage["kind"] == "histogram" and usage["unit"] == "{token}"
        assert usage["description"] == "Number of input and output tokens used."
        assert usage["temporality"] == 2  # cumulative
        assert usage["resource"]["service.name"] == "switchyard-metrics-e2e"
        types = sorted(point["attributes"]["gen_ai.token.type"] for point in usage["points"])
        assert types == ["input", "output"]
        for point in usage["points"]:
            assert point["attributes"]["gen_ai.operation.name"] == "chat"
            assert point["attributes"]["gen_ai.request.model"] == "chat"
            assert point["count"] == 3
            assert sum(point["bucket_counts"]) == point["count"]
            assert len(point["bucket_counts"]) == len(point["explicit_bounds"]) + 1
            assert point["explicit_bounds"][:3] == [1, 4, 16]  # the conventions' token buckets
        duration = metrics["gen_ai.client.operation.duration"]
        assert duration["unit"] == "s" and sum(point["count"] for point in duration["points"]) == 3
        # The header as every SDK sends it (percent-decoded), and never in the log.
        state = requests.get(f"http://127.0.0.1:{receiver.port}/metrics-pushed", timeout=5).json()
        assert state["headers"]["x-collector-token"] == "s3cret value"
        assert "s3cret" not in gateway.log_path.read_text()
        # Values kept elsewhere, copied in before a push, travel with the rest.
        assert [point["value"] for point in metrics["switchyard_store_up"]["points"]] == [1]
        requests_total = metrics["switchyard_requests_total"]
        assert requests_total["kind"] == "sum" and requests_total["monotonic"] is True
        pushed_count = sum(point["value"] for point in requests_total["points"])
        assert pushed_count == 3
        # The same counter as the Prometheus exposition.
        scraped = sum(
            float(line.rsplit(" ", 1)[1]) for line in gateway.metrics().splitlines()
            if line.startswith("switchyard_requests_total{"))
        assert scraped == pushed_count
    finally:
        gateway.stop()
        upstream.stop()
        receiver.stop()



def test_the_last_push_at_shutdown_carries_the_final_counts(tmp_path):
    """With a push interval far longer than the test, nothing is pushed while the gateway runs;
    SIGTERM then pushes once (after the ledger's flush and a last copy of the values kept
    elsewhere), with every request answered before it."""
    receiver = Receiver(tmp_path)
    upstream = FaultUpstream(tmp_path)
    gateway = Gateway(
        tmp_path / "gateway", body=fault_config(upstream.base_url),
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}", "OTEL_METRIC_EXPORT_INTERVAL": "600000",
             "OTEL_TRACES_EXPORTER": "none"})
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0)
        for _ in range(4):
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
        gateway.stop()
        assert gateway.process.returncode == 0
        state = requests.get(f"http://127.0.0.1:{receiver.port}/metrics-pushed", timeout=5).json()
        assert state["pushes"] == 1
        by_name = {metric["name"]: metric for metric in state["last"]}
        assert sum(point["value"] for point in by_name["switchyard_requests_total"]["points"]) == 4
        written = [point["value"] for point in by_name["switchyard_ledger_records"]["points"]
                   if point["attributes"]["state"] == "written"]
        assert written == [4]
    finally:
        gateway.stop()
        upstream.stop()
        receiver.stop()


def test_a_grpc_protocol_leaves_the_metrics_unpushed_and_the_gateway_up(tmp_path):
    """swift-otel stops the process when asked for gRPC, which is not built: the gateway warns,
    serves without the push, and still exports its traces over http/protobuf."""
    receiver = Receiver(tmp_path)
    upstream = FaultUpstream(tmp_path)
    gateway = Gateway(
        tmp_path / "gateway", body=fault_config(upstream.base_url),
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
             "OTEL_METRIC_EXPORT_INTERVAL": "200"})
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0)
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
        wait_until(lambda: any(span["name"].startswith("chat") for span in receiver.spans()), timeout=30,
                   what="the request's spans")
        assert gateway.process.poll() is None
        assert "metrics are not pushed" in gateway.log_path.read_text()
        state = requests.get(f"http://127.0.0.1:{receiver.port}/metrics-pushed", timeout=5).json()
        assert state["pushes"] == 0
    finally:
        gateway.stop()
        upstream.stop()
        receiver.stop()
