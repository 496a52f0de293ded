"""A fault-injecting OpenAI-compatible upstream for the chaos tests.

Faults nginx cannot express: a stream that stops halfway or stalls after its first chunk, a server that accepts and never
answers, 429 with Retry-After once, a health endpoint that fails while chat works. Binds
127.0.0.1 only; every wait is bounded. Control it with POST /control {"mode": ...}; read
counters with GET /stats, and every chat request's raw body (as received) with GET /received,
its headers with GET /received_headers.

    python fault_upstream.py PORT
"""

import json
import re
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {
    "mode": "ok", "retry_after": 1, "delay": 0.0, "chat_hits": 0, "health_hits": 0,
    # Connections that have carried a chat request, open now and the most at once; chat requests
    # whose client (the gateway) closed the connection before the answer was due.
    "open_connections": 0, "max_open_connections": 0, "abandoned": 0,
    # Chat requests being answered now, and the most at once (a deployment's concurrency as the provider sees it).
    "in_flight": 0, "max_in_flight": 0,
    # The `model` (and `system_fingerprint`, when set) answers name: a model swap on command.
    "model": "fault-model", "fingerprint": None,
    # Mode "canary": answers canary probes from the prompt's planted facts: "all" of them, the "first"
    # (nearest the start) only, or "none" (an empty answer).
    "canary_recall": "all",
}
RECEIVED = []  # raw bodies of chat requests, decoded as text, in arrival order
RECEIVED_HEADERS = []  # their headers (names lowercased), in the same order
LOCK = threading.Lock()

COMPLETION = {
    "id": "chatcmpl-fault", "object": "chat.completion", "created": 1, "model": "fault-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok from fault upstream"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
}


def chunk(content=None, finish=None):
    delta = {} if content is None else {"content": content}
    return {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 1, "model": "fault-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    carried_chat = False

    def count_chat_connection(self):
        if not self.carried_chat:
            self.carried_chat = True
            with LOCK:
                STATE["open_connections"] += 1
                STATE["max_open_connections"] = max(STATE["max_open_connections"], STATE["open_connections"])

    def finish(self):
        try:
            super().finish()
        finally:
            if self.carried_chat:
                with LOCK:
                    STATE["open_connections"] -= 1

    def wait_unless_abandoned(self, seconds):
        """Waits `seconds` (at most 60); True if the peer closed the connection meanwhile."""
        deadline = time.monotonic() + min(seconds, 60)
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            try:
                closed = readable and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                closed = True
            if closed:
                with LOCK:
                    STATE["abandoned"] += 1
                self.close_connection = True
                return True
        return False

    def send_json(self, status, body, headers=None):
        self.leave_in_flight()
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                return self.send_json(200, dict(STATE))
        if self.path == "/received":
            with LOCK:
                return self.send_json(200, list(RECEIVED))
        if self.path == "/received_headers":
            with LOCK:
                return self.send_json(200, list(RECEIVED_HEADERS))
        if self.path == "/v1/models":
            with LOCK:
                STATE["health_hits"] += 1
                healthy = STATE["mode"] not in ("unhealthy", "error500")
            return self.send_json(200 if healthy else 503, {"object": "list", "data": [{"id": "fault-model"}]})
        self.send_json(404, {"detail": "Not Found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        body = json.loads(raw or b"{}")
        if self.path == "/control":
            with LOCK:
                STATE.update(body)
                if body.get("reset"):
                    STATE["chat_hits"] = STATE["health_hits"] = STATE["abandoned"] = 0
                    STATE["max_open_connections"] = STATE["open_connections"]
                    STATE["max_in_flight"] = STATE["in_flight"]
                    RECEIVED.clear()
                    RECEIVED_HEADERS.clear()
            return self.send_json(200, dict(STATE))
        if self.path != "/v1/chat/completions":
            return self.send_json(404, {"detail": "Not Found"})
        self.count_chat_connection()
        with LOCK:
            STATE["in_flight"] += 1
            STATE["max_in_flight"] = max(STATE["max_in_flight"], STATE["in_flight"])
        self.counted_in_flight = True
        try:
            self.answer_chat(raw, body)
        finally:
            self.leave_in_flight()

    counted_in_flight = False

    def leave_in_flight(self):
        """Before the answer's bytes leave: the gateway may send the next request the moment it has them."""
        if self.counted_in_flight:
            self.counted_in_flight = False
            with LOCK:
                STATE["in_flight"] -= 1

    def answer_chat(self, raw, body):
        with LOCK:
            RECEIVED.append(raw.decode("utf-8", "replace"))
            RECEIVED_HEADERS.append({name.lower(): value for name, value in self.headers.items()})
            STATE["chat_hits"] += 1
            mode, retry_after, delay = STATE["mode"], STATE["retry_after"], STATE["delay"]
            if mode == "ratelimit_once":
                STATE["mode"] = "ok"
        if mode == "error500":
            return self.send_json(500, {"error": {"message": "injected failure", "type": "server_error"}})
        if mode == "error400":
            # A refusal the gateway logs in full (up to 500 bytes of it) and does not count against
            # the deployment's health: one long log line per request.
            message = "injected refusal " + "x" * 480
            return self.send_json(400, {"error": {"message": message, "type": "invalid_request_error"}})
        if mode == "ratelimit_once":
            return self.send_json(
                429, {"error": {"message": "injected rate limit", "type": "requests", "code": "rate_limit_exceeded"}},
                {"Retry-After": str(retry_after)},
            )
        if mode == "hang":
            time.sleep(60)  # accepts, never answers (bounded so the process can exit)
            return
        if delay and self.wait_unless_abandoned(delay):
            return
        if body.get("stream"):
            if mode == "stream_long":
                return self.stream_long(STATE.get("chunks", 400))
            return self.stream(half=(mode == "stream_half"), stall=(mode == "stream_stall"))
        if mode == "canary":
            return self.send_json(200, self.canary_answer(body))
        self.send_json(200, self.completion())

    def completion(self, content=None, prompt_tokens=9, completion_tokens=4):
        with LOCK:
            model, fingerprint = STATE["model"], STATE["fingerprint"]
        answer = json.loads(json.dumps(COMPLETION))
        answer["model"] = model
        if fingerprint:
            answer["system_fingerprint"] = fingerprint
        if content is not None:
            answer["choices"][0]["message"]["content"] = content
            answer["usage"] = {
                "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        return answer

    def canary_answer(self, body):
        """A reader of the planted facts: one line per recalled vault. Tokens are counted as 4
        characters each, so a test can price the answer exactly."""
        prompt = "".join(
            part if isinstance(part, str) else part.get("text", "")
            for message in body.get("messages", []) for part in (
                [message.get("content")] if isinstance(message.get("content"), str) else message.get("content") or []))
        facts = re.findall(r"The access code for vault (\d+) is (\d+)\.", prompt)
        with LOCK:
            recall = STATE["canary_recall"]
        kept = facts if recall == "all" else facts[:1] if recall == "first" else []
        content = "\n".join(f"vault {vault}: {code}" for vault, code in kept)
        return self.completion(content, prompt_tokens=len(prompt) // 4, completion_tokens=len(content) // 4)

    def stream_long(self, chunks):
        """`chunks` one-word chunks 10 ms apart, then [DONE]; ends early when the peer leaves."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for index in range(chunks):
                self.wfile.write(b"data: " + json.dumps(chunk(f" w{index}")).encode() + b"\n\n")
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b"data: " + json.dumps(chunk(finish="stop")).encode() + b"\n\ndata: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            with LOCK:
                STATE["abandoned"] += 1
        self.close_connection = True

    def stream(self, half, stall=False):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        events = [chunk("one"), chunk(" two"), chunk(" three"), chunk(finish="stop")]
        for index, event in enumerate(events):
            if stall and index == 1:
                self.wait_unless_abandoned(60)  # one chunk, then nothing until the peer leaves
                self.close_connection = True
                return
            if half and index == 2:
                self.wfile.flush()
                self.close_connection = True
                return  # the connection closes mid-stream, no [DONE]
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()
            time.sleep(0.05)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
