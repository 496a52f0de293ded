"""The official SDKs → switchyard serve → fake Anthropic and Gemini APIs replaying Tests/Fixtures/.

No internet here: the fakes serve responses built from each provider's public API reference and
reject requests that break its documented request shape, so these tests check both directions
of every translation to Anthropic and Gemini egress.
"""

import json

import anthropic
import openai
import pytest

from conftest import FixtureUpstream, Gateway

BODY = """
providers:
  - name: anthropic
    kind: anthropic
    base_url: "{url}/anthropic/v1"
    api_key_env: FIXTURE_ANTHROPIC_KEY
  - name: google
    kind: gemini
    base_url: "{url}/gemini/v1beta"
    api_key_env: FIXTURE_GEMINI_KEY
deployments:
  - name: claude
    provider: anthropic
    model: claude-sonnet-4-5
    # The malformed-output tests fail on purpose; keep the breaker out of the other tests' way.
    circuit_breaker: {{ consecutive_failures: 10000, failure_rate: "1.0" }}
    price: {{ input_per_mtok: "3", output_per_mtok: "15", cached_input_per_mtok: "0.30" }}
  - name: gemini-flash
    provider: google
    model: gemini-2.5-flash
    circuit_breaker: {{ consecutive_failures: 10000, failure_rate: "1.0" }}
    price: {{ input_per_mtok: "0.30", output_per_mtok: "2.50" }}
routes:
  - name: claude
    targets: [claude]
    retry: {{ max_attempts: 1 }}
  - name: gemini
    targets: [gemini-flash]
    retry: {{ max_attempts: 1 }}
tenants:
  - name: acme
  - name: globex
"""
TOOL_OPENAI = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
TOOL_ANTHROPIC = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
TOOL_RESPONSES = {"type": "function", "name": "get_weather", "parameters": TOOL_OPENAI["function"]["parameters"]}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
TEXT = {"claude": ("Hello! Paris is sunny today.", "Hello! Paris is sunny."), "gemini": ("Hello! Paris is sunny.",) * 2}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    fake = FixtureUpstream(tmp_path_factory.mktemp("fixtures"))
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream):
    gateway = Gateway(
        tmp_path_factory.mktemp("gateway-fixtures"), body=BODY.format(url=upstream.base_url),
        env={"FIXTURE_ANTHROPIC_KEY": "sk-ant-fixture-key", "FIXTURE_GEMINI_KEY": "gemini-fixture-key"},
    )
    yield gateway
    gateway.stop()


@pytest.fixture(autouse=True)
def normal_mode(upstream):
    upstream.mode("normal")
    yield


@pytest.fixture
def oai(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0, timeout=30)


@pytest.fixture
def claude(gateway):
    return anthropic.Anthropic(base_url=gateway.base_url.removesuffix("/v1"), api_key=gateway.keys["acme"], max_retries=0, timeout=30)


@pytest.mark.parametrize("route", ["claude", "gemini"])
def test_openai_chat_sdk(oai, gateway, upstream, route):
    raw = oai.chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "system", "content": "Be brief."}] + QUESTION, max_tokens=50,
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == TEXT[route][0]
    assert completion.choices[0].finish_reason == "stop"
    sent = upstream.requests()[-1]["body"]
    if route == "claude":
        assert sent["system"] == "Be brief." and sent["max_tokens"] == 50
        assert completion.usage.prompt_tokens == 121 and completion.usage.prompt_tokens_details.cached_tokens == 100
    else:
        assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        assert sent["generationConfig"]["maxOutputTokens"] == 50
    record = gateway.record(raw.headers["x-request-id"])
    assert record["input_tokens"] == completion.usage.prompt_tokens and record["usage_estimated"] == 0

    chunks = list(oai.chat.completions.create(
        model=route, messages=QUESTION, max_tokens=50, stream=True, stream_options={"include_usage": True},
    ))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT[route][1]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0

    call = oai.chat.completions.create(
        model=route, messages=QUESTION, tools=[TOOL_OPENAI], tool_choice={"type": "function", "function": {"name": "get_weather"}},
    ).choices[0]
    assert call.finish_reason == "tool_calls"
    assert json.loads(call.message.tool_calls[0].function.arguments) == {"city": "Paris"}

    streamed = list(oai.chat.completions.create(model=route, messages=QUESTION, tools=[TOOL_OPENAI], stream=True))
    arguments = "".join(
        tc.function.arguments or "" for c in streamed if c.choices for tc in (c.choices[0].delta.tool_calls or [])
    )
    assert json.loads(arguments) == {"city": "Paris"}


@pytest.mark.parametrize("route", ["claude", "gemini"])
def test_anthropic_sdk(claude, route):
    message = claude.messages.create(model=route, max_tokens=50, system="Be brief.", messages=QUESTION)
    assert message.content[0].text == TEXT[route][0] and message.stop_reason == "end_turn"

    with claude.messages.stream(model=route, max_tokens=50, messages=QUESTION) as stream:
        assert "".join(stream.text_stream) == TEXT[route][1]
        assert stream.get_final_message().usage.output_tokens > 0

    with claude.messages.stream(
        model=route, max_tokens=50, messages=QUESTION, tools=[TOOL_ANTHROPIC], tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        final = stream.get_final_message()
    call = next(block for block in final.content if block.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "Paris"} and final.stop_reason == "tool_use"


@pytest.mark.parametrize("route", ["claude", "gemini"])
def test_responses_sdk(oai, route):
    response = oai.responses.create(model=route, instructions="Be brief.", input="What is the weather in Paris?", max_output_tokens=50)
    assert response.output_text == TEXT[route][0] and response.status == "completed"

    events = list(oai.responses.create(model=route, input="What is the weather in Paris?", stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == TEXT[route][1]

    # The SDK's stream helper accumulates the events into the final response.
    with oai.responses.stream(model=route, input="What is the weather in Paris?") as stream:
        assert stream.get_final_response().output_text == TEXT[route][1]

    called = oai.responses.create(
        model=route, input="What is the weather in Paris?", tools=[TOOL_RESPONSES], tool_choice={"type": "function", "name": "get_weather"},
    )
    call = next(item for item in called.output if item.type == "function_call")
    assert json.loads(call.arguments) == {"city": "Paris"}


def test_tool_results_reach_gemini_by_function_name(oai, upstream):
    oai.chat.completions.create(
        model="gemini", tools=[TOOL_OPENAI],
        messages=QUESTION + [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
    )
    contents = upstream.requests()[-1]["body"]["contents"]
    assert contents[1] == {"role": "model", "parts": [{"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}}]}
    assert contents[2]["parts"][0]["functionResponse"]["name"] == "get_weather"


def test_what_a_target_cannot_express_is_a_400_naming_the_field(oai, upstream):
    before = len(upstream.requests())
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(model="claude", messages=QUESTION, n=2)
    assert refused.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(model="claude", messages=QUESTION, logprobs=True)
    assert refused.value.body["param"] == "logprobs"
    assert len(upstream.requests()) == before, "nothing was sent upstream"


@pytest.mark.parametrize("mode", ["truncated", "invalid_json", "no_stop"])
@pytest.mark.parametrize("route", ["claude", "gemini"])
def test_malformed_streams_end_in_a_clean_error_and_a_ledger_record(oai, claude, gateway, upstream, mode, route):
    upstream.mode(mode)
    with pytest.raises(openai.APIError):
        with oai.chat.completions.with_streaming_response.create(model=route, messages=QUESTION, stream=True) as response:
            request_id = response.headers["x-request-id"]
            for _ in response.parse():
                pass
    record = gateway.record(request_id)
    assert record["status"] == 502 and record["error_class"] == "stream_interrupted"

    with pytest.raises(anthropic.APIStatusError):
        with claude.messages.stream(model=route, max_tokens=50, messages=QUESTION) as stream:
            for _ in stream:
                pass

    events = list(oai.responses.create(model=route, input="What is the weather in Paris?", stream=True))
    assert events[-1].type == "response.failed"


def test_unknown_event_types_are_skipped(claude, upstream):
    upstream.mode("unknown_event")
    with claude.messages.stream(model="claude", max_tokens=50, messages=QUESTION) as stream:
        assert "".join(stream.text_stream) == TEXT["claude"][1]


@pytest.mark.parametrize("route", ["claude", "gemini"])
def test_provider_overload_maps_to_each_clients_error(oai, claude, gateway, upstream, route):
    upstream.mode("overloaded")
    with pytest.raises(openai.InternalServerError) as failed:
        oai.chat.completions.create(model=route, messages=QUESTION)
    assert failed.value.status_code == 503 and failed.value.body["code"] == "upstream_overloaded"
    with pytest.raises(anthropic.InternalServerError) as failed:
        claude.messages.create(model=route, max_tokens=50, messages=QUESTION)
    assert failed.value.body["error"]["type"] == "overloaded_error"
