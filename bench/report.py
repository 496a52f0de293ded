"""Prints the benchmark table from bench/run.sh's raw results."""

import json
import sys

results_path, streams_path, pid, clock_ticks, records = sys.argv[1:6]
clock_ticks = int(clock_ticks)
rows = {}
for line in open(results_path):
    name, connections, payload, ticks = line.split(" ", 3)
    data = json.loads(payload)
    data["cpu_ticks"] = int(ticks)
    rows[(name, int(connections))] = data


def rps(row):
    return row["requests"] / (row["duration_us"] / 1e6)


def peak_rss_mib():
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


print()
print("Non-streaming chat completions (wrk, closed loop; latencies in µs; 'added' = through Switchyard − direct)")
print(f"{'conns':>5} {'direct rps':>11} {'sy rps':>9} {'sy/direct':>9} | {'p50 d/sy/added':>20} | {'p90 d/sy/added':>20} | {'p99 d/sy/added':>22} | {'p99.9 d/sy/added':>22} | {'CPU s/1k':>8} {'errors':>6}")
for kind in ("", "-open", "-stream"):
    if kind == "-open":
        print()
        print("Open loop (fixed rate, 64 connections; first column = requests/s offered; latency from when each was due)")
    if kind == "-stream":
        print()
        print("Streaming (50-chunk SSE body; latency = whole stream)")
    for (name, connections), direct in sorted((k, v) for k, v in rows.items() if k[0] == "direct" + kind):
        sy = rows.get(("switchyard" + kind, connections))
        if not sy:
            continue
        cells = []
        for p in ("p50", "p90", "p99", "p999"):
            cells.append(f"{direct[p]:>6}/{sy[p]:>6}/{sy[p] - direct[p]:>6}")
        cpu = sy["cpu_ticks"] / clock_ticks / max(1, sy["requests"]) * 1000
        if direct["errors"] or sy["errors"]:
            print(f"  !! non-2xx or socket errors: direct {direct['errors']}, switchyard {sy['errors']}: the row is not valid")
        if direct.get("late") or sy.get("late"):
            print(f"  !! requests that waited for a free connection: direct {direct.get('late')}, switchyard {sy.get('late')}")
        print(f"{connections:>5} {rps(direct):>11.0f} {rps(sy):>9.0f} {rps(sy) / rps(direct):>9.1%} | {cells[0]:>20} | {cells[1]:>20} | {cells[2]:>22} | {cells[3]:>22} | {cpu:>8.3f} {sy['errors']:>6}")

proxy_rows = sorted((k[1], v) for k, v in rows.items() if k[0] == "nginx-proxy")
if proxy_rows:
    print()
    print("Reference: nginx as a keep-alive reverse proxy in front of the same upstream (what a mature C proxy adds here)")
    print(f"{'conns':>5} {'proxy rps':>11} {'proxy/direct':>12} | {'p50 added':>9} {'p99 added':>9} | {'Switchyard/proxy rps':>20}")
    for connections, proxy in proxy_rows:
        direct, sy = rows.get(("direct", connections)), rows.get(("switchyard", connections))
        if not direct:
            continue
        versus = f"{rps(sy) / rps(proxy):.1%}" if sy else "-"
        print(f"{connections:>5} {rps(proxy):>11.0f} {rps(proxy) / rps(direct):>12.1%} | {proxy['p50'] - direct['p50']:>9} "
              f"{proxy['p99'] - direct['p99']:>9} | {versus:>20}")

streams = json.load(open(streams_path))
print()
print(f"Time to first chunk (sequential, µs): direct p50 {streams['ttfc_direct_p50_us']:.0f}, through Switchyard p50 "
      f"{streams['ttfc_gateway_p50_us']:.0f} → added {streams['ttfc_gateway_p50_us'] - streams['ttfc_direct_p50_us']:.0f} "
      f"(p99 added {streams['ttfc_gateway_p99_us'] - streams['ttfc_direct_p99_us']:.0f})")
print(f"{streams['idle_streams']} concurrent open streams: Switchyard RSS {streams['rss_with_idle_streams_kib'] / 1024:.1f} MiB "
      f"(before {streams['rss_before_kib'] / 1024:.1f} MiB)")
print(f"Peak RSS of Switchyard over the run: {peak_rss_mib():.1f} MiB; usage records written: {records}")
