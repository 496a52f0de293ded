"""Failures with real processes: a model server dying mid-stream, a client hanging up, SIGTERM under load."""

import contextlib
import os
import signal
import threading
import time

import openai
import pytest
import requests

from conftest import FaultUpstream, Gateway, ModelServer, fault_config, wait_until

MESSAGES = [{"role": "user", "content": "Tell me a long story about a lighthouse keeper."}]


def test_model_server_killed_mid_stream_gives_a_clean_error_and_a_record(tmp_path):
    doomed = ModelServer(tmp_path / "model")
    gateway = Gateway(tmp_path / "gateway", doomed.base_url)
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0, timeout=60)
        received = []
        with pytest.raises(openai.APIError) as raised:
            with client.chat.completions.with_streaming_response.create(
                model="chat", messages=MESSAGES, max_tokens=400, stream=True,
            ) as response:
                request_id = response.headers["x-request-id"]
                for chunk in response.parse():
                    received.append(chunk)
                    if len(received) == 3:
                        doomed.kill()
        assert len(received) >= 3
        assert "interrupted" in str(raised.value)
        record = gateway.record(request_id)
        assert record["error_class"] in ("stream_interrupted", "upstream_unavailable")
        assert record["status"] == 502
        assert record["output_tokens"] >= 2
        assert record["usage_estimated"] == 1

        # With the model server gone, new requests fail fast with 502 in OpenAI's shape.
        with pytest.raises(openai.InternalServerError) as refused:
            client.chat.completions.create(model="chat", messages=MESSAGES, max_tokens=2)
        assert refused.value.status_code == 502
    finally:
        gateway.stop()
        doomed.kill()


def test_client_disconnect_mid_stream_is_recorded(gateway):
    response = requests.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "chat", "messages": MESSAGES, "max_tokens": 300, "stream": True},
        headers={"Authorization": f"Bearer {gateway.keys['acme']}"}, stream=True, timeout=60,
    )
    request_id = response.headers["x-request-id"]
    lines = response.iter_lines()
    for _ in range(3):
        next(lines)
    response.close()
    record = gateway.record(request_id, timeout=30)
    # The upstream generation was cancelled too: the (single-slot) model server is free at once,
    # rather than busy for the ~10 s the remaining 297 tokens would take.
    started = time.monotonic()
    follow_up = requests.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2},
        headers={"Authorization": f"Bearer {gateway.keys['acme']}"}, timeout=60,
    )
    assert follow_up.status_code == 200
    assert time.monotonic() - started < 5, "the model server was still generating for the cancelled stream"
    assert record["status"] == 499
    assert record["error_class"] == "client_cancelled"
    assert record["output_tokens"] >= 1
    assert record["output_tokens"] < 300


def test_sigterm_during_load_loses_no_record(tmp_path, model_server):
    gateway = Gateway(tmp_path / "gateway", model_server.base_url)
    acknowledged = []
    lock = threading.Lock()
    stop_sending = threading.Event()
    deadline = time.monotonic() + 60

    def worker(index: int):
        session = requests.Session()
        n = 0
        while not stop_sending.is_set() and time.monotonic() < deadline and n < 50:
            n += 1
            body = {"model": "chat", "messages": [{"role": "user", "content": f"Count {index}-{n}"}], "max_tokens": 3}
            if n % 2:
                body["stream"] = True
            try:
                response = session.post(
                    f"{gateway.base_url}/chat/completions", json=body,
                    headers={"Authorization": f"Bearer {gateway.keys['acme']}"}, timeout=60,
                )
                _ = response.content  # read to the end: an acknowledged request
            except requests.RequestException:
                continue  # refused after shutdown began: never acknowledged
            with lock:
                acknowledged.append(response.headers["x-request-id"])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 10, timeout=60, what="some acknowledged requests")
    with lock:
        before_sigterm = len(acknowledged)
    gateway.process.send_signal(signal.SIGTERM)
    gateway.process.wait(timeout=60)
    stop_sending.set()
    for thread in threads:
        thread.join(timeout=90)
    gateway.log.close()
    assert gateway.process.returncode == 0, gateway.log_path.read_text()

    stored = {record["id"] for record in gateway.records()}
    missing = [request_id for request_id in acknowledged if request_id not in stored]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged requests have no ledger record"
    assert len(stored) >= len(acknowledged)
    # Requests in flight at SIGTERM were drained and answered, not cut off.
    assert len(acknowledged) > before_sigterm, "no request was in flight at SIGTERM; the test proved nothing"
    print(f"acknowledged={len(acknowledged)} (in flight at SIGTERM: {len(acknowledged) - before_sigterm}) stored={len(stored)}")


@contextlib.contextmanager
def gateway_with_stderr_pipe(tmp_path):
    """A gateway (on a fault upstream) whose stderr is the write end of a pipe; yields the
    gateway, the upstream and the read end, which the test may close (then it yields None)."""
    upstream = FaultUpstream(tmp_path)
    read_end, write_end = os.pipe()
    gateway = None
    ends = {"read": read_end}
    try:
        gateway = Gateway(tmp_path / "gateway", body=fault_config(upstream.base_url), output=write_end)
        os.close(write_end)
        write_end = None
        yield gateway, upstream, ends
    finally:
        if gateway is not None:
            gateway.stop()
        upstream.stop()
        for end in (ends["read"], write_end):
            if end is not None:
                os.close(end)


def test_a_log_nobody_reads_does_not_stall_the_gateway(tmp_path):
    """The server's stderr is a pipe nobody reads (a stuck log shipper). A server that writes its
    log lines where it serves requests blocks there once the pipe's 64 KiB are full; Switchyard
    writes them from a thread of its own, so every request is still answered, and the lines wait
    in memory until the reader comes back: none is lost."""
    with gateway_with_stderr_pipe(tmp_path) as (gateway, upstream, ends):
        # Each refusal is logged with up to 500 bytes of the upstream's message: 400 of them are
        # several times what the pipe holds.
        upstream.control(mode="error400")
        session = requests.Session()
        headers = {"Authorization": f"Bearer {gateway.keys['acme']}"}
        for index in range(400):
            response = session.post(
                f"{gateway.base_url}/chat/completions", headers=headers, timeout=10,
                json={"model": "chat", "messages": [{"role": "user", "content": "hello"}]},
            )
            assert response.status_code == 400, (index, response.text)
        assert upstream.stats()["chat_hits"] == 400
        assert requests.get(f"http://127.0.0.1:{gateway.port}/healthz", timeout=10).ok

        # The reader comes back: every line written while it was away arrives.
        read_end = ends["read"]
        os.set_blocking(read_end, False)
        output = bytearray()

        def all_lines_arrived():
            try:
                while chunk := os.read(read_end, 1 << 16):
                    output.extend(chunk)
            except BlockingIOError:
                pass
            return output.count(b"upstream answered with an error") >= 400

        wait_until(all_lines_arrived, timeout=30, what="the buffered log lines")


def test_a_log_reader_that_dies_costs_lines_not_the_gateway(tmp_path):
    """The server's stderr is a pipe whose reader dies (a crashed log shipper). Writing there
    fails with EPIPE (SIGPIPE is ignored; by default it would kill the process with every record
    still in memory): Switchyard keeps serving, and counts the lines it could not write in
    /metrics."""
    with gateway_with_stderr_pipe(tmp_path) as (gateway, upstream, ends):
        os.close(ends["read"])
        ends["read"] = None
        headers = {"Authorization": f"Bearer {gateway.keys['acme']}"}
        session = requests.Session()
        for index in range(50):
            response = session.post(
                f"{gateway.base_url}/chat/completions", headers=headers, timeout=10,
                json={"model": "chat", "messages": [{"role": "user", "content": "hello"}]},
            )
            assert response.status_code == 200, (index, response.text)
        assert gateway.process.poll() is None, "the gateway died"

        def lost_lines():
            for line in gateway.metrics().splitlines():
                if line.startswith('switchyard_log_lines_lost_total{reason="write_failed"}'):
                    return int(line.split()[-1])
            return 0

        wait_until(lambda: lost_lines() >= 50, timeout=30, what="the lost log lines counted")


def test_a_drain_says_so_serves_through_its_delay_and_cuts_what_outlasts_its_timeout(tmp_path):
    """SIGTERM behind a load balancer: readiness turns 503 at once, the server keeps serving for
    `drain_delay_seconds` (so the balancer stops sending before anything is refused), then stops
    accepting; a stream that outlasts `drain_timeout_seconds` is cut, recorded, and the process
    exits well before an orchestrator's SIGKILL."""
    upstream = FaultUpstream(tmp_path)
    gateway = Gateway(
        tmp_path / "gateway", body=fault_config(upstream.base_url),
        server_extra="  drain_delay_seconds: 2\n  drain_timeout_seconds: 1\n",
    )
    headers = {"Authorization": f"Bearer {gateway.keys['acme']}"}
    try:
        upstream.control(mode="stream_stall")
        stream = requests.post(
            f"{gateway.base_url}/chat/completions", headers=headers, stream=True, timeout=60,
            json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "stream": True},
        )
        assert stream.status_code == 200
        stalled_id = stream.headers["x-request-id"]
        chunks = stream.iter_lines()
        assert next(line for line in chunks if line).startswith(b"data: ")
        # A second stalled stream whose client leaves: its relay, waiting on the upstream, has not
        # noticed; the drain timeout must still end it, and its record must still be written.
        left = requests.post(
            f"{gateway.base_url}/chat/completions", headers=headers, stream=True, timeout=60,
            json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "stream": True},
        )
        left_id = left.headers["x-request-id"]
        assert next(line for line in left.iter_lines() if line).startswith(b"data: ")
        left.close()
        # A non-streamed request the upstream holds for 30 s: in flight when the drain times out.
        upstream.control(delay=30)
        held = {}

        def post_held():
            try:
                held["response"] = requests.post(
                    f"{gateway.base_url}/chat/completions", headers=headers, timeout=60,
                    json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8})
            except requests.RequestException as error:
                held["error"] = error

        holder = threading.Thread(target=post_held)
        holder.start()
        wait_until(lambda: upstream.stats()["chat_hits"] >= 3, timeout=30, what="the held request at the upstream")
        upstream.control(mode="ok", delay=0)

        gateway.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        readyz = f"http://127.0.0.1:{gateway.port}/readyz"
        wait_until(lambda: requests.get(readyz, timeout=5).status_code == 503, timeout=10, what="readiness off")
        assert requests.get(readyz, timeout=5).json() == {"status": "draining"}
        # Still within the delay: a new connection is accepted and served.
        late = requests.post(
            f"{gateway.base_url}/chat/completions", headers=headers, timeout=30,
            json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
        )
        assert late.status_code == 200

        rest = []
        with contextlib.suppress(requests.RequestException):
            rest = [line for line in chunks if line]
        assert b"data: [DONE]" not in rest, "the stalled stream ended normally: nothing was cut"
        gateway.process.wait(timeout=60)
        took = time.monotonic() - signalled
        holder.join(timeout=60)
        assert "error" in held, f"the held request was answered: {held}"  # its connection was closed
    finally:
        gateway.stop()
        upstream.stop()
    assert gateway.process.returncode == 0, gateway.log_path.read_text()[-2000:]
    # Delay 2 s + timeout 1 s, then the ledger's flush: far from the default 30 s drain or the
    # upstream's 60 s stall.
    assert took < 20, f"the drain took {took:.1f} s"
    records = {record["id"]: record for record in gateway.records()}
    assert (records[stalled_id]["status"], records[stalled_id]["error_class"]) == (503, "server_shutdown"), records[stalled_id]
    assert records[stalled_id]["output_tokens"] >= 1  # what reached the client is booked
    assert records[late.headers["x-request-id"]]["status"] == 200
    held_record = next(record for record in records.values() if record["status"] not in (200,) and record["id"] not in (stalled_id, left_id))
    assert (held_record["status"], held_record["error_class"]) == (503, "server_shutdown"), held_record
    # Its client had left, but nothing told its relay before the cut: booked as the cut.
    assert records[left_id]["status"] in (499, 503), records[left_id]
    print(f"drain: exited {took:.1f} s after SIGTERM (delay 2 s, timeout 1 s)")
