"""Instructions per request of a gateway running under QEMU with bench/insncount.c.

Sequential keep-alive requests, so the figure does not depend on scheduling: warm up, read the
counter, send N requests, read it again, then stay idle for as long as the requests took and read
it a third time. The idle reading is the background work (timers, the ledger writer's wake-ups)
that the emulator's slowdown stretches over each request; it is reported and subtracted.
"""

import argparse
import http.client
import json
import os
import time


def snapshot(ctl, out):
    before = os.stat(out).st_mtime_ns if os.path.exists(out) else 0
    with open(ctl, "w") as fifo:
        fifo.write("snap\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.path.exists(out) and os.stat(out).st_mtime_ns != before:
            text = open(out).read().strip()
            if text:
                return int(text)
        time.sleep(0.01)
    raise SystemExit("the instruction counter did not answer within 10 s")


def send(conn, path, body, key, extra=()):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    headers.update(extra)
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise SystemExit(f"status {response.status}: {data[:200]!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ctl", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--body", required=True)
    parser.add_argument("--warmup-seconds", type=float, default=0,
                        help="after the warm-up requests, wait until this long since they began")
    parser.add_argument("--header", action="append", default=[], help="NAME:VALUE sent with every request")
    args = parser.parse_args()
    extra = [tuple(header.split(":", 1)) for header in args.header]
    body = open(args.body, "rb").read()
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
    warmup_began = time.monotonic()
    for _ in range(args.warmup):
        send(conn, "/v1/chat/completions", body, args.key, extra)
    # Background work due once (a trace exporter's first export) then falls before the count.
    time.sleep(max(0.0, warmup_began + args.warmup_seconds - time.monotonic()))
    start_count = snapshot(args.ctl, args.out)
    started = time.monotonic()
    for _ in range(args.requests):
        send(conn, "/v1/chat/completions", body, args.key, extra)
    elapsed = time.monotonic() - started
    loaded_count = snapshot(args.ctl, args.out)
    time.sleep(elapsed)
    idle_count = snapshot(args.ctl, args.out)
    loaded = (loaded_count - start_count) / args.requests
    idle = (idle_count - loaded_count) / args.requests
    print(json.dumps({"per_request": round(loaded), "idle_per_request": round(idle),
                      "net_per_request": round(loaded - idle), "seconds": round(elapsed, 1)}))


if __name__ == "__main__":
    main()
