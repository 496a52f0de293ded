"""The official Anthropic SDK → switchyard serve (/v1/messages) → llama.cpp (OpenAI-compatible egress)."""

# Forced tool calls run greedy (temperature 0, sent as extra_body: this SDK version has no
# temperature argument) with room to finish, so the 270M model writes complete JSON arguments.

import json

import anthropic
import pytest

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture
def claude(gateway):
    return anthropic.Anthropic(
        base_url=gateway.base_url.removesuffix("/v1"), api_key=gateway.keys["acme"], max_retries=0, timeout=120,
    )


def test_text_message_and_its_ledger_record(claude, gateway):
    raw = claude.messages.with_raw_response.create(
        model="chat", max_tokens=8, system="Answer briefly.", messages=[{"role": "user", "content": "Say hello."}],
        metadata={"user_id": "user-7"},
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.content and message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0

    record = gateway.record(raw.headers["x-request-id"])
    assert record["endpoint"] == "messages" and record["status"] == 200
    assert record["deployment"] == "gemma-local"
    assert record["input_tokens"] == message.usage.input_tokens
    assert record["output_tokens"] == message.usage.output_tokens


def test_streaming_with_the_sdk_accumulator(claude, gateway):
    with claude.messages.stream(model="chat", max_tokens=12, messages=[{"role": "user", "content": "Count to five."}]) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    assert events[0] == "message_start"
    assert "content_block_start" in events and "content_block_stop" in events
    assert events[-1] == "message_stop" and "message_delta" in events
    assert final.content[0].type == "text" and final.content[0].text
    assert final.stop_reason in ("end_turn", "max_tokens")

    record = gateway.record(request_id)
    assert record["streamed"] == 1 and record["status"] == 200
    assert record["output_tokens"] > 0


def test_forced_tool_call_round_trip(claude, gateway):
    message = claude.messages.create(
        model="chat", max_tokens=200, extra_body={"temperature": 0}, messages=QUESTION, tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert message.stop_reason == "tool_use"
    calls = [block for block in message.content if block.type == "tool_use"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert isinstance(calls[0].input, dict) and isinstance(calls[0].input.get("city"), str)

    # Send the result back: the tool_result must reach the model as an OpenAI tool message.
    follow_up = claude.messages.create(
        model="chat", max_tokens=12, tools=[WEATHER_TOOL],
        messages=QUESTION + [
            {"role": "assistant", "content": [block.model_dump() for block in message.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "sunny, 21 C"}]},
        ],
    )
    assert follow_up.content and follow_up.stop_reason in ("end_turn", "max_tokens", "tool_use")


def test_streamed_forced_tool_call_reassembles_arguments(claude):
    with claude.messages.stream(
        model="chat", max_tokens=200, extra_body={"temperature": 0}, messages=QUESTION, tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        fragments = [event.partial_json for event in stream if event.type == "input_json"]
        final = stream.get_final_message()
    call = next(block for block in final.content if block.type == "tool_use")
    assert call.name == "get_weather"
    assert len(fragments) > 1, "arguments arrive in fragments, as the model produces them"
    assert json.loads("".join(fragments), strict=False) == call.input
    assert final.stop_reason == "tool_use"


def test_count_tokens(claude):
    counted = claude.messages.count_tokens(model="chat", messages=[{"role": "user", "content": "Hello there, model."}])
    assert counted.input_tokens > 0


def test_errors_come_in_anthropics_format(claude, gateway):
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="no-such-route", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert missing.value.body["type"] == "error"
    assert "no-such-route" in missing.value.body["error"]["message"]

    with pytest.raises(anthropic.BadRequestError) as invalid:
        claude.messages.create(model="chat", max_tokens=8, messages=[{"role": "robot", "content": "hi"}])
    assert "messages[0].role" in invalid.value.body["error"]["message"]

    bad_key = anthropic.Anthropic(base_url=gateway.base_url.removesuffix("/v1"), api_key="sk-sy-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as denied:
        bad_key.messages.create(model="chat", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert denied.value.body["error"]["type"] == "authentication_error"
