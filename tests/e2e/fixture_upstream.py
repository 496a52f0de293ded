"""A fake Anthropic and Gemini API serving the wire fixtures in Tests/Fixtures/.

Every request is checked against the provider's documented request shape (headers, auth, body);
a request that breaks it gets the provider's own 400 error body, so a test through Switchyard fails
loudly. POST /control {"mode": ...} injects malformed output: truncated (the stream stops mid-event),
invalid_json (a chunk that is not JSON), no_stop (the stream ends without its stop event),
unknown_event (an event type this version does not know, then the normal stream), overloaded
(Anthropic 529 / Gemini 503). GET /requests returns what was received.

Usage: fixture_upstream.py PORT   (binds 127.0.0.1)
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures"
ANTHROPIC_KEY = "sk-ant-fixture-key"
GEMINI_KEY = "gemini-fixture-key"
STATE = {"mode": "normal", "requests": []}
LOCK = threading.Lock()


def anthropic_problems(headers, body):
    if headers.get("x-api-key") != ANTHROPIC_KEY:
        return 401, "authentication_error", "invalid x-api-key"
    version = headers.get("anthropic-version", "")
    if len(version.split("-")) != 3 or not version.replace("-", "").isdigit():
        return 400, "invalid_request_error", "anthropic-version: header is required"
    if not isinstance(body.get("model"), str):
        return 400, "invalid_request_error", "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return 400, "invalid_request_error", "max_tokens: Field required"
    for key in ("n", "stream_options", "response_format", "messages[].name"):
        if key in body:
            return 400, "invalid_request_error", f"{key}: Extra inputs are not permitted"
    if "system" in body and not isinstance(body["system"], (str, list)):
        return 400, "invalid_request_error", "system: must be a string or a list of text blocks"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, "invalid_request_error", "messages: at least one message is required"
    for index, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            return 400, "invalid_request_error", f"messages.{index}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not content:
            return 400, "invalid_request_error", f"messages.{index}.content: required"
        for block in content:
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                continue
            if kind == "tool_use" and isinstance(block.get("input"), dict) and block.get("id") and block.get("name"):
                continue
            if kind == "tool_result" and isinstance(block.get("tool_use_id"), str):
                continue
            if kind == "image" and isinstance(block.get("source"), dict):
                continue
            return 400, "invalid_request_error", f"messages.{index}.content: invalid block {block}"
    for tool in body.get("tools", []):
        if not isinstance(tool.get("name"), str) or not isinstance(tool.get("input_schema"), dict):
            return 400, "invalid_request_error", "tools: name and input_schema are required"
    choice = body.get("tool_choice")
    if choice is not None and choice.get("type") not in ("auto", "any", "tool", "none"):
        return 400, "invalid_request_error", "tool_choice.type: invalid"
    return None


def gemini_problems(headers, body):
    if headers.get("x-goog-api-key") != GEMINI_KEY:
        return 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."
    if "model" in body or "messages" in body:
        return 400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name \"messages\""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return 400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"
    for content in contents:
        if content.get("role") not in ("user", "model"):
            return 400, "INVALID_ARGUMENT", "Please use a valid role: user, model."
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return 400, "INVALID_ARGUMENT", "contents.parts must not be empty"
        for part in parts:
            if len({"text", "inlineData", "functionCall", "functionResponse"} & set(part)) != 1:
                return 400, "INVALID_ARGUMENT", f"a part must hold exactly one kind of data: {part}"
            if "functionResponse" in part and not part["functionResponse"].get("name"):
                return 400, "INVALID_ARGUMENT", "functionResponse.name is required"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/requests":
            with LOCK:
                self.send(200, json.dumps(STATE["requests"]))
        else:
            self.send(200, json.dumps({"mode": STATE["mode"]}))

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        if self.path == "/control":
            with LOCK:
                STATE.update(json.loads(raw))
            return self.send(200, json.dumps({"mode": STATE["mode"]}))
        try:
            body = json.loads(raw)
        except ValueError:
            return self.send(400, json.dumps({"error": {"message": "not JSON"}}))
        headers = {key.lower(): value for key, value in self.headers.items()}
        with LOCK:
            STATE["requests"].append({"path": self.path, "body": body})
            mode = STATE["mode"]
        if self.path.startswith("/anthropic/v1/messages"):
            return self.anthropic(headers, body, mode)
        if self.path.startswith("/gemini/v1beta/models/"):
            return self.gemini(headers, body, mode)
        self.send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))

    def anthropic(self, headers, body, mode):
        problem = anthropic_problems(headers, body)
        if problem:
            status, kind, message = problem
            return self.send(status, json.dumps({"type": "error", "error": {"type": kind, "message": message}}))
        if mode == "overloaded":
            return self.send(529, (FIXTURES / "anthropic" / "error-overloaded.json").read_text())
        tool = bool(body.get("tools"))
        if body.get("stream"):
            name = "stream-tool-use.sse" if tool else "stream-text.sse"
            return self.stream((FIXTURES / "anthropic" / name).read_text(), mode, "\n\n")
        name = "message-tool-use.json" if tool else "message-text.json"
        self.send(200, (FIXTURES / "anthropic" / name).read_text())

    def gemini(self, headers, body, mode):
        problem = gemini_problems(headers, body)
        if problem:
            status, kind, message = problem
            return self.send(status, json.dumps({"error": {"code": status, "message": message, "status": kind}}))
        if mode == "overloaded":
            return self.send(503, json.dumps({"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}))
        tool = bool(body.get("tools"))
        if ":streamGenerateContent" in self.path:
            if "alt=sse" not in self.path:
                return self.send(400, json.dumps({"error": {"code": 400, "message": "expected alt=sse", "status": "INVALID_ARGUMENT"}}))
            name = "stream-function-call.sse" if tool else "stream-text.sse"
            return self.stream((FIXTURES / "gemini" / name).read_text(), mode, "\r\n\r\n")
        if ":generateContent" not in self.path:
            return self.send(404, json.dumps({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}))
        name = "generate-content-function-call.json" if tool else "generate-content-text.json"
        self.send(200, (FIXTURES / "gemini" / name).read_text())

    def stream(self, text, mode, separator):
        events = [event + separator for event in text.split(separator) if event.strip()]
        if mode == "truncated":
            events = events[: len(events) // 2] + [events[len(events) // 2][:25]]
        elif mode == "invalid_json":
            events.insert(2, "data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {" + separator)
        elif mode == "no_stop":
            events = events[:-1] if separator == "\n\n" else [e.replace('"finishReason":"STOP",', "") for e in events]
        elif mode == "unknown_event":
            events.insert(1, "event: brand_new_event" + separator.replace("\n\n", "\n").replace("\r\n\r\n", "\r\n")
                          + "data: {\"type\":\"brand_new_event\",\"detail\":1}" + separator)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(event.encode())
            self.wfile.flush()
        self.close_connection = True


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
