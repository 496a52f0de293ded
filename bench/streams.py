"""Streaming measurements for bench/run.sh: time to first chunk (direct vs through Switchyard) and
the gateway's memory with 1,000 concurrent open streams. Prints one JSON object."""

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import time

BODY = {"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 64, "stream": True}


def first_chunk_times(host, path, model, key, count):
    address, port = host.split(":")
    connection = http.client.HTTPConnection(address, int(port), timeout=10)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    payload = json.dumps(dict(BODY, model=model))
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("POST", path, body=payload, headers=headers)
        response = response_ = connection.getresponse()
        response.read1(1) if hasattr(response, "read1") else response.read(1)
        samples.append((time.perf_counter() - started) * 1e6)
        response_.read()
    connection.close()
    samples.sort()
    return {"p50": samples[len(samples) // 2], "p99": samples[int(len(samples) * 0.99) - 1]}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


IDLE_SERVER = r'''
import asyncio, sys
async def handle(reader, writer):
    try:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        await asyncio.sleep(60)  # hold the stream open (bounded)
    except Exception:
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main())
'''


async def open_idle_streams(gateway, key, count):
    address, port = gateway.split(":")
    payload = json.dumps(dict(BODY, model="bench-idle")).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {gateway}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload

    async def one():
        reader, writer = await asyncio.open_connection(address, int(port))
        writer.write(request)
        await writer.drain()
        data = b""
        while b"data:" not in data:
            part = await asyncio.wait_for(reader.read(4096), timeout=30)
            if not part:
                raise RuntimeError("stream closed early")
            data += part
        return writer

    writers = []
    for start in range(0, count, 100):
        writers += await asyncio.gather(*(one() for _ in range(min(100, count - start))))
    return writers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway")
    parser.add_argument("--direct")
    parser.add_argument("--key")
    parser.add_argument("--idle-port")
    parser.add_argument("--gateway-pid", type=int)
    parser.add_argument("--idle-pid-file")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--idle-streams", type=int, default=1000)
    args = parser.parse_args()

    direct = first_chunk_times(args.direct, "/stream/v1/chat/completions", "bench", None, args.samples)
    through = first_chunk_times(args.gateway, "/v1/chat/completions", "bench-stream", args.key, args.samples)

    idle = subprocess.Popen([sys.executable, "-c", IDLE_SERVER, args.idle_port])
    with open(args.idle_pid_file, "w") as pidfile:
        pidfile.write(str(idle.pid))
    time.sleep(0.5)
    before = rss_kib(args.gateway_pid)
    loop = asyncio.new_event_loop()
    writers = loop.run_until_complete(open_idle_streams(args.gateway, args.key, args.idle_streams))
    time.sleep(1)
    during = rss_kib(args.gateway_pid)
    for writer in writers:
        writer.close()
    loop.close()
    idle.kill()
    print(json.dumps({
        "ttfc_direct_p50_us": direct["p50"], "ttfc_gateway_p50_us": through["p50"],
        "ttfc_direct_p99_us": direct["p99"], "ttfc_gateway_p99_us": through["p99"],
        "idle_streams": len(writers), "rss_before_kib": before, "rss_with_idle_streams_kib": during,
    }))


if __name__ == "__main__":
    main()
