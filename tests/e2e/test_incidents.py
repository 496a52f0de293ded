"""Incidents end to end: three deployments under steady load from real clients, one turned slow
by its fault upstream; the incident names it, mitigation ejects it, the incident resolves when
the fault stops, and the ejection is undone. Windows are one second (incidents.window_seconds),
so detection that takes minutes in production takes seconds here."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from conftest import FaultUpstream, Gateway, fault_config, free_port, wait_until

ADMIN_KEY = "sk-admin-incident-tests-0123456789"
DEPLOYMENTS = ["eu", "us", "ap"]


class WebhookSink:
    """A JSON webhook receiver on 127.0.0.1: keeps every body it is sent."""

    def __init__(self):
        self.bodies = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types(self):
        return [body["type"] for body in self.bodies]

    def stop(self):
        self.server.shutdown()


def config(upstreams, webhook_port, mitigation="eject_deployment: true, eject_windows: 3", attempts=1, window="window_seconds: 1"):
    providers = "".join(
        f'  - name: p-{name}\n    kind: openai\n    base_url: "{upstream.base_url}"\n' for name, upstream in upstreams.items())
    deployments = "".join(
        f'  - name: {name}\n    provider: p-{name}\n    model: fault-model\n'
        f'    price: {{ input_per_mtok: "1.00", output_per_mtok: "2.00" }}\n' for name in upstreams)
    targets = ", ".join(f"{{ deployment: {name}, weight: 1 }}" for name in upstreams)
    return f"""admin:
  key_env: SWITCHYARD_ADMIN_KEY
providers:
{providers}deployments:
{deployments}routes:
  - name: chat
    strategy: weighted
    targets: [{targets}]
    retry: {{ max_attempts: {attempts} }}
tenants:
  - name: acme
  - name: globex
governance:
  alert_webhook: "http://127.0.0.1:{webhook_port}/hook"
incidents:
  {window}
  consecutive: 3
  resolve_after: 3
  min_requests: 5
  mitigation: {{ {mitigation} }}
"""


class Load:
    """Clients sending chat requests until stopped (each loop bounded by `deadline`), remembering
    which deployment answered each request and when."""

    def __init__(self, gateway, threads=6, deadline=240):
        self.answers = []  # (time, deployment)
        self.stop_at = time.monotonic() + deadline
        self.running = True
        headers = {"Authorization": f"Bearer {gateway.keys['acme']}"}
        body = {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}

        def loop():
            session = requests.Session()
            while self.running and time.monotonic() < self.stop_at:
                response = session.post(f"{gateway.base_url}/chat/completions", json=body, headers=headers, timeout=30)
                self.answers.append((time.monotonic(), response.headers.get("x-switchyard-deployment")))

        self.threads = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.join(timeout=60)


def incidents(gateway, status=None):
    url = f"http://127.0.0.1:{gateway.port}/admin/v1/incidents" + (f"?status={status}" if status else "")
    response = requests.get(url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
    response.raise_for_status()
    return response.json()


def test_a_slow_deployment_becomes_an_incident_is_ejected_and_resolves(tmp_path):
    upstreams = {name: FaultUpstream(tmp_path) for name in DEPLOYMENTS}
    sink = WebhookSink()
    gateway = Gateway(tmp_path / "gateway", body=config(upstreams, sink.port), env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    load = Load(gateway)
    try:
        # Baselines: every deployment answers in a few ms for a while.
        wait_until(lambda: len(load.answers) > 600, timeout=60, what="steady load for the baselines")
        time.sleep(6)  # six one-second windows of history (the detector needs five)
        upstreams["us"].control(delay=0.4)

        def opened_on_us():
            # Mitigated: under load the clients' drop may open it a window before the latency
            # signals that an ejection needs.
            return [i for i in incidents(gateway, "open") if i["cause_key"] == "deployment=us" and i["mitigations"]] or None

        incident = wait_until(opened_on_us, timeout=60, what="an incident on deployment us")[0]
        # One incident for one fault: the route's slower answers and its clients' fewer requests
        # are signals of the same one (an incident of the drop alone, opened a window earlier,
        # is closed as merged into it).
        others = [i for i in incidents(gateway) if i["id"] != incident["id"]]
        assert all(i["merged_into"] == incident["id"] for i in others), others
        assert "provider-side degradation on deployment us" in incident["cause"], incident
        assert any(signal["series"] == "deployment=us" and signal["metric"].startswith("latency")
                   for signal in incident["signals"]), incident
        assert incident["tenants"] == ["acme"] and incident["routes"] == ["chat"]
        # Mitigation: ejected as the incident opened; the next answers come from the others.
        assert [m["action"] + " " + m["target"] for m in incident["mitigations"]] == ["eject us"], incident
        ejected_at = time.monotonic()
        wait_until(lambda: len([a for a in load.answers if a[0] > ejected_at + 0.6]) >= 100, timeout=30,
                   what="answers after the ejection")
        # (Requests already waiting on us when it was ejected finish within its 0.4 s delay.)
        after = [deployment for at, deployment in load.answers if ejected_at + 0.6 < at < ejected_at + 2.5]
        assert after and "us" not in after, after[:20]

        # The fault stops: readmitted after its ejection, back in band, resolved, the ejection undone.
        upstreams["us"].control(delay=0)
        resolved = wait_until(
            lambda: [i for i in incidents(gateway, "resolved") if i["id"] == incident["id"]] or None, timeout=60,
            what="the incident resolved")[0]
        assert resolved["mitigations"] and all(m["undone_at"] for m in resolved["mitigations"]), resolved
        assert incidents(gateway, "open") == []
        unmerged = [i for i in incidents(gateway) if i["merged_into"] is None]
        assert len(unmerged) == 1, [(i["cause_key"], i["summary"], i["opened_at"], i["resolved_at"]) for i in unmerged]
        wait_until(lambda: any(d == "us" for at, d in load.answers[-200:]), timeout=30, what="us serving again")

        # Every surface: webhook, CLI, audit trail, metrics.
        wait_until(lambda: "incident.resolved" in sink.types(), timeout=30, what="the resolution webhook")
        # (An incident of the clients' drop alone may have opened, and been posted, a window earlier.)
        posted = [body["type"] for body in sink.bodies if body["id"] == incident["id"]]
        assert posted[0] == "incident.opened" and posted[-1] == "incident.resolved", posted
        listed = gateway.cli("incidents", "list")
        assert incident["id"] in listed and "resolved" in listed
        shown = gateway.cli("incidents", "show", incident["id"])
        print(shown)
        assert "provider-side degradation on deployment us" in shown and "eject us" in shown
        audit = gateway.cli("audit", "export")
        assert '"incident.opened"' in audit and '"incident.resolved"' in audit
        assert "switchyard_incidents_open 0.0" in gateway.metrics()
        # The wall's clock is not the tests' to drive.
        refused = requests.post(f"http://127.0.0.1:{gateway.port}/admin/v1/incidents/clock", json={"advance_windows": 1},
                                headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
        assert refused.status_code == 409, refused.text
    finally:
        load.stop()
        gateway.stop()
        sink.stop()
        for upstream in upstreams.values():
            upstream.stop()


def test_simulated_minutes_on_the_manual_clock_find_eject_and_resolve(tmp_path):
    """One-minute windows, as in production, driven by the test (incidents.clock: manual): each
    simulated minute is 30 requests, then POST /admin/v1/incidents/clock closes it. The slowed
    deployment is named within five simulated minutes, ejected, and resolved after it recovers."""
    upstreams = {name: FaultUpstream(tmp_path) for name in DEPLOYMENTS}
    sink = WebhookSink()
    body = config(upstreams, sink.port, window="window_seconds: 60\n  clock: manual")
    gateway = Gateway(tmp_path / "gateway", body=body, env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    session = requests.Session()
    headers = {"Authorization": f"Bearer {gateway.keys['acme']}"}
    chat = {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}

    def minute():
        """One simulated minute of traffic, closed: the deployments that answered, and the clock after."""
        served = [session.post(f"{gateway.base_url}/chat/completions", json=chat, headers=headers, timeout=30)
                  .headers.get("x-switchyard-deployment") for _ in range(30)]
        response = requests.post(f"http://127.0.0.1:{gateway.port}/admin/v1/incidents/clock", json={"advance_windows": 1},
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)
        response.raise_for_status()
        return served, response.json()["clock"]

    def on_us(status):
        return [i for i in incidents(gateway, status) if i["cause_key"] == "deployment=us"]

    try:
        for _ in range(8):
            minute()
        assert incidents(gateway) == []
        upstreams["us"].control(delay=0.3)
        _, slowed_at = minute()
        found = None
        for elapsed in range(2, 6):
            _, clock = minute()
            found = on_us("open")
            if found:
                break
        assert found, "no incident on deployment us within five simulated minutes"
        incident = found[0]
        # Named within five simulated minutes of the slowdown (opened at or after it).
        assert slowed_at <= incident["opened_at"] <= clock and elapsed <= 5, (slowed_at, incident["opened_at"], clock)
        assert "provider-side degradation on deployment us" in incident["cause"], incident
        assert [m["action"] + " " + m["target"] for m in incident["mitigations"]] == ["eject us"], incident
        served, _ = minute()
        assert "us" not in served, served

        upstreams["us"].control(delay=0)
        for _ in range(15):
            minute()
            if on_us("resolved"):
                break
        resolved = on_us("resolved")
        assert resolved and resolved[0]["id"] == incident["id"], incidents(gateway)
        assert all(m["undone_at"] for m in resolved[0]["mitigations"]), resolved
        served, _ = minute()
        assert "us" in served
        assert slowed_at < clock
    finally:
        gateway.stop()
        sink.stop()
        for upstream in upstreams.values():
            upstream.stop()


def test_shift_weight_moves_traffic_away_and_keeps_the_deployment_as_a_fallback(tmp_path):
    """incidents.mitigation.shift_weight: the slow deployment stops getting the weighted share
    but, unlike an ejection, still serves when the others fail; resolved, its share returns."""
    upstreams = {name: FaultUpstream(tmp_path) for name in DEPLOYMENTS}
    sink = WebhookSink()
    body = config(upstreams, sink.port, mitigation="shift_weight: true, eject_windows: 30", attempts=3)
    gateway = Gateway(tmp_path / "gateway", body=body, env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    load = Load(gateway)
    try:
        wait_until(lambda: len(load.answers) > 600, timeout=60, what="steady load for the baselines")
        time.sleep(6)  # six one-second windows of history (the detector needs five)
        upstreams["us"].control(delay=0.4)
        # (Under load the clients' drop may open it a window before the latency signals that
        # mitigation needs: the shift follows within windows.)
        incident = wait_until(
            lambda: [i for i in incidents(gateway, "open") if i["cause_key"] == "deployment=us" and i["mitigations"]]
            or None, timeout=60, what="a mitigated incident on deployment us")[0]
        assert [m["action"] + " " + m["target"] for m in incident["mitigations"]] == ["shift_weight us"], incident
        shifted_at = time.monotonic()
        wait_until(lambda: len([a for a in load.answers if a[0] > shifted_at + 0.6]) >= 100, timeout=30,
                   what="answers after the shift")
        after = [deployment for at, deployment in load.answers if shifted_at + 0.6 < at < shifted_at + 2.5]
        assert after and "us" not in after, after[:20]
        # The others fail: us, shifted but not ejected, answers as their fallback.
        failed_at = time.monotonic()
        for name in ("eu", "ap"):
            upstreams[name].control(mode="error500")
        wait_until(lambda: any(at > failed_at and d == "us" for at, d in load.answers), timeout=30,
                   what="us serving as the fallback")
        for name in ("eu", "ap"):
            upstreams[name].control(mode="ok")
        upstreams["us"].control(delay=0)
        try:
            resolved = wait_until(
                lambda: [i for i in incidents(gateway, "resolved") if i["id"] == incident["id"]] or None, timeout=90,
                what="the incident resolved")[0]
        except AssertionError as timeout:
            raise AssertionError(f"{timeout}; open: {json.dumps(incidents(gateway, 'open'))}") from None
        assert all(m["undone_at"] for m in resolved["mitigations"]), resolved
        back = time.monotonic()
        wait_until(lambda: any(at > back and d == "us" for at, d in load.answers), timeout=30,
                   what="us back in the weighted draw")
    finally:
        load.stop()
        gateway.stop()
        sink.stop()
        for upstream in upstreams.values():
            upstream.stop()


def test_a_runaway_agent_is_stopped_by_its_kill_switch_and_released(tmp_path):
    """An agent looping the same prompt far past its usual rate: the incident is the agent's, its
    kill switch is engaged (its requests are refused, other clients are served), and once it
    goes quiet the incident resolves and the switch is released."""
    upstream = FaultUpstream(tmp_path)
    body = "admin:\n  key_env: SWITCHYARD_ADMIN_KEY\n" + fault_config(upstream.base_url, """incidents:
  window_seconds: 1
  consecutive: 3
  resolve_after: 3
  min_requests: 5
  history: 10
  mitigation: { stop_agent: true }
""")
    gateway = Gateway(tmp_path / "gateway", body=body, env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    agent_key = gateway.cli("keys", "create", "--tenant", "acme", "--agent", "nightly").strip()
    chat = {"model": "chat", "messages": [{"role": "user", "content": "Same prompt again"}], "max_tokens": 8}
    statuses = []  # (time, status) of the agent's requests
    running = {"fast": False, "on": True}
    stop_at = time.monotonic() + 240

    def agent_loop():
        session = requests.Session()
        while running["on"] and time.monotonic() < stop_at:
            response = session.post(f"{gateway.base_url}/chat/completions", json=chat,
                                    headers={"Authorization": f"Bearer {agent_key}"}, timeout=30)
            statuses.append((time.monotonic(), response.status_code))
            if not running["fast"]:
                time.sleep(0.2)

    background = Load(gateway, threads=2)
    agents = [threading.Thread(target=agent_loop, daemon=True) for _ in range(4)]
    try:
        for thread in agents:
            thread.start()
        wait_until(lambda: len(statuses) > 60, timeout=60, what="the agent's usual pace")
        time.sleep(6)  # baselines of the agent's usual rate (the detector needs five windows)
        running["fast"] = True

        def agent_incident():
            # Mitigated: the agent's own flood may first show as slower answers in its traffic, a
            # window before the surge in requests that stops it.
            found = [i for i in incidents(gateway, "open") if i["cause_key"] == "agent=acme/nightly" and i["mitigations"]]
            return found or None

        incident = wait_until(agent_incident, timeout=60, what="an incident on the agent")[0]
        assert [m["action"] + " " + m["target"] for m in incident["mitigations"]] == ["stop agent:acme/nightly"], incident
        stopped_at = time.monotonic()
        wait_until(lambda: any(at > stopped_at and status == 403 for at, status in statuses), timeout=30,
                   what="the agent's requests refused")
        kills = json.loads(gateway.cli("kill", "list", "--format", "json"))
        assert any(kill["scope"] == "agent:acme/nightly" for kill in kills), kills
        # Others are served meanwhile.
        wait_until(lambda: len([a for a in background.answers if a[0] > stopped_at]) >= 20, timeout=30,
                   what="other clients served")

        # The agent stops: quiet for a whole history, the incident resolves, the switch is released.
        running["on"] = False
        for thread in agents:
            thread.join(timeout=60)
        resolved = wait_until(
            lambda: [i for i in incidents(gateway, "resolved") if i["id"] == incident["id"]] or None, timeout=90,
            what="the agent's incident resolved")[0]
        assert all(m["undone_at"] for m in resolved["mitigations"]), resolved
        wait_until(lambda: not any(kill["scope"] == "agent:acme/nightly"
                                   for kill in json.loads(gateway.cli("kill", "list", "--format", "json"))),
                   timeout=30, what="the kill switch released")
    finally:
        running["on"] = False
        background.stop()
        gateway.stop()
        upstream.stop()


def test_agent_runs_that_loop_stall_or_accelerate_are_run_incidents(tmp_path):
    """Three runs of one agent: one repeating its prompt (loop), one whose every request fails
    (stalled), one whose prompts double each second after a steady start (cost accelerating). Each is an incident naming
    the run, the agent and the pattern; with stop_run the looping and the accelerating runs are
    stopped by their kill switches (the stalled one is not: stopping it saves nothing), and all
    resolve, switches released, once their clients stop."""
    good, broken = FaultUpstream(tmp_path), FaultUpstream(tmp_path)
    good.control(mode="canary")  # answers; usage counts the prompt at 4 characters a token
    broken.control(mode="error500")
    body = f"""admin:
  key_env: SWITCHYARD_ADMIN_KEY
providers:
  - name: good
    kind: openai
    base_url: "{good.base_url}"
  - name: broken
    kind: openai
    base_url: "{broken.base_url}"
deployments:
  - name: good
    provider: good
    model: fault-model
    price: {{ input_per_mtok: "1.00", output_per_mtok: "2.00" }}
  - name: broken
    provider: broken
    model: fault-model
    price: {{ input_per_mtok: "1.00", output_per_mtok: "2.00" }}
    circuit_breaker: {{ consecutive_failures: 1000, failure_rate: 1, minimum_requests: 100000 }}
routes:
  - name: chat
    targets: [good]
  - name: broken
    targets: [broken]
    retry: {{ max_attempts: 1 }}
tenants:
  - name: acme
  - name: globex
policies:
  - name: acme-runs
    scope: tenant:acme
    on_loop: flag
    loop_repeats: 3
incidents:
  window_seconds: 1
  consecutive: 3
  resolve_after: 3
  history: 10
  mitigation: {{ stop_run: true }}
"""
    gateway = Gateway(tmp_path / "gateway", body=body, env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    agent_key = gateway.cli("keys", "create", "--tenant", "acme", "--agent", "nightly").strip()
    running = {"on": True}
    stop_at = time.monotonic() + 120
    statuses = {"loop-1": [], "stall-1": [], "grow-1": []}

    def client(run, route, prompt):
        session = requests.Session()
        started = time.monotonic()
        while running["on"] and time.monotonic() < stop_at:
            response = session.post(
                f"{gateway.base_url}/chat/completions",
                json={"model": route, "messages": [{"role": "user", "content": prompt(time.monotonic() - started)}],
                      "max_tokens": 8},
                headers={"Authorization": f"Bearer {agent_key}", "x-switchyard-run": run}, timeout=30)
            statuses[run].append(response.status_code)
            time.sleep(0.15)

    threads = [
        threading.Thread(target=client, args=("loop-1", "chat", lambda _: "Is the ticket fixed yet?"), daemon=True),
        threading.Thread(target=client, args=("stall-1", "broken", lambda elapsed: f"step at {elapsed:.2f}"), daemon=True),
        # Distinct prompts (no loop): steady for six seconds (its baseline), then doubling every second.
        threading.Thread(
            target=client,
            args=("grow-1", "chat", lambda elapsed: f"{elapsed:.3f} " + "x" * int(400 * 2 ** max(0.0, elapsed - 6))),
            daemon=True),
    ]

    def run_incident(run, status="open"):
        return [i for i in incidents(gateway, status) if i["cause_key"] == f"run=acme/{run}"] or None

    try:
        for thread in threads:
            thread.start()
        found = {run: wait_until(lambda: run_incident(run), timeout=60, what=f"an incident on run {run}")[0]
                 for run in ("loop-1", "stall-1", "grow-1")}
        for run, metric in (("loop-1", "run_loop"), ("stall-1", "run_stalled"), ("grow-1", "run_cost_acceleration")):
            incident = found[run]
            assert incident["kind"] == "run" and incident["agents"] == ["acme/nightly"], incident
            assert incident["where"] == {"dimension": "run", "value": f"acme/{run}"}
            assert metric in {s["metric"] for s in incident["signals"]}, incident
            assert f"run acme/{run} of agent acme/nightly" in incident["summary"]
        assert [m["target"] for m in found["loop-1"]["mitigations"]] == ["run:acme/loop-1"]
        assert [m["target"] for m in found["grow-1"]["mitigations"]] == ["run:acme/grow-1"]
        assert found["stall-1"]["mitigations"] == []
        # The stopped runs' requests are refused; the stalled one still reaches its upstream.
        wait_until(lambda: statuses["loop-1"][-3:] == [403] * 3 and statuses["grow-1"][-3:] == [403] * 3, timeout=30,
                   what="the stopped runs refused")
        kills = {kill["scope"] for kill in json.loads(gateway.cli("kill", "list", "--format", "json"))}
        assert {"run:acme/loop-1", "run:acme/grow-1"} <= kills and "run:acme/stall-1" not in kills

        running["on"] = False
        for thread in threads:
            thread.join(timeout=60)
        for run in found:
            resolved = wait_until(lambda: run_incident(run, "resolved"), timeout=60, what=f"run {run}'s incident resolved")[0]
            assert resolved["id"] == found[run]["id"] and all(m["undone_at"] for m in resolved["mitigations"])
        wait_until(lambda: not {k["scope"] for k in json.loads(gateway.cli("kill", "list", "--format", "json"))}
                   & {"run:acme/loop-1", "run:acme/grow-1"}, timeout=30, what="the run kill switches released")
    finally:
        running["on"] = False
        gateway.stop()
        good.stop()
        broken.stop()
