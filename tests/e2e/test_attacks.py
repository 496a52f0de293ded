"""The attacks of issue 17, each against a real `switchyard serve`.

A tenant with a key, or someone with write access to the database, tries to get more than it
pays for, to read what is not theirs, or to erase what it did. Every test asserts the refusal or
the detection, and, where a request is refused, that nothing of it reached the upstream (the
fault upstream records every body it receives).
"""

import json
import os
import socket

import pytest
import requests

from conftest import Gateway, fault_config, wait_until

PROMPT = [{"role": "user", "content": "Say hi."}]

POLICIES = """
policies:
  - name: acme-safety
    scope: tenant:acme
    denied_tools: [shell]
    max_input_tokens: 200
    max_output_tokens: 100
    guardrails: { secrets: block, credit_cards: block }
"""


def attack_config(upstream_url: str, extra: str = "") -> str:
    return "admin:\n  key_env: SWITCHYARD_ADMIN_KEY\n" + fault_config(upstream_url, POLICIES + extra)


ADMIN_KEY = "sk-admin-attack-tests-0123456789"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    from conftest import FaultUpstream

    server = FaultUpstream(tmp_path_factory.mktemp("attack-upstream"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def target(tmp_path_factory, upstream):
    gateway = Gateway(
        tmp_path_factory.mktemp("attack-gateway"), body=attack_config(upstream.base_url),
        env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY},
    )
    yield gateway
    gateway.stop()


def post_raw(gateway, body: bytes, key="acme", path="/chat/completions", headers=None):
    """POSTs `body` exactly as given (no client-side JSON encoding, so duplicate keys survive)."""
    return requests.post(
        f"{gateway.base_url}{path}", data=body,
        headers={"Authorization": f"Bearer {gateway.keys[key]}", "Content-Type": "application/json", **(headers or {})},
        timeout=30,
    )


def refused_without_reaching(upstream, gateway, body: bytes, status=400, **kwargs):
    """Sends `body`, asserts the status, and that the upstream received nothing."""
    upstream.control(reset=True)
    response = post_raw(gateway, body, **kwargs)
    assert response.status_code == status, response.text
    assert upstream.received() == [], "a refused request reached the upstream"
    return response


# --- Finding 1: duplicate JSON keys, max_tokens, tool names -----------------------------------


# --- Finding 4: kill-switch authority ---

def admin_api(gateway, method, path, key, **kwargs):
    return requests.request(
        method, f"http://127.0.0.1:{gateway.port}/admin/v1{path}", headers={"Authorization": f"Bearer {key}"},
        timeout=30, **kwargs,
    )


@pytest.fixture(scope="module")
def acme_tenant_admin(target):
    """acme's tenant-admin key (`admin-keys create` prints the secret alone on stdout)."""
    return target.cli("admin-keys", "create", "--role", "tenant-admin", "--tenant", "acme").strip()


def acme_chat():
    return json.dumps({"model": "chat", "messages": PROMPT, "max_tokens": 5}).encode()


def test_a_tenant_admin_cannot_release_the_admins_kill_switch(target, upstream, acme_tenant_admin):
    engaged = admin_api(target, "POST", "/kill-switches", ADMIN_KEY, json={"scope": "tenant:acme", "reason": "attack: admin stop"})
    assert engaged.status_code == 201, engaged.text
    try:
        released = admin_api(target, "DELETE", "/tenants/acme/kill-switches?scope=tenant:acme", acme_tenant_admin)
        assert released.status_code == 403, released.text
        assert released.json()["error"]["type"] == "permission_error"
        assert "needs the admin role" in released.json()["error"]["message"]
        refused = refused_without_reaching(upstream, target, acme_chat(), status=403)
        assert refused.json()["error"]["code"] == "kill_switch"
        listed = admin_api(target, "GET", "/tenants/acme/kill-switches", acme_tenant_admin).json()
        assert [(kill["scope"], kill["authority"]) for kill in listed] == [("tenant:acme", "admin")]
    finally:
        assert admin_api(target, "DELETE", "/kill-switches?scope=tenant:acme", ADMIN_KEY).status_code == 200
    assert post_raw(target, acme_chat()).status_code == 200
    audit = admin_api(target, "GET", "/tenants/acme/audit", acme_tenant_admin).json()
    refusal = next(entry for entry in audit if entry["action"] == "kill_switch.release_refused")
    assert refusal["principal"].startswith("admin-key:") and '"engaged_by":"admin"' in refusal["before"]
    assert [entry["principal"] for entry in audit if entry["action"] == "kill_switch.release"][-1] == "admin"


def test_a_tenant_admin_releases_its_own_switch_but_not_the_clis(target, acme_tenant_admin):
    own = admin_api(
        target, "POST", "/tenants/acme/kill-switches", acme_tenant_admin, json={"scope": "agent:acme/own", "reason": "mine"})
    assert own.status_code == 201, own.text
    assert admin_api(target, "DELETE", "/tenants/acme/kill-switches?scope=agent:acme/own", acme_tenant_admin).status_code == 200

    # The CLI reaches the store directly: it engages and releases with admin authority.
    target.cli("kill", "engage", "agent:acme/bot", "--reason", "attack: cli stop")
    try:
        refused = admin_api(target, "DELETE", "/tenants/acme/kill-switches?scope=agent:acme/bot", acme_tenant_admin)
        assert refused.status_code == 403, refused.text
    finally:
        target.cli("kill", "release", "agent:acme/bot")
    assert json.loads(target.cli("kill", "list", "--format", "json")) == []


# --- Finding 8: small leaks ---

def test_another_tenant_answers_exactly_like_an_absent_one(target, acme_tenant_admin):
    for path in ("/tenants/{}", "/tenants/{}/keys", "/tenants/{}/kill-switches"):
        answers = [admin_api(target, "GET", path.format(name), acme_tenant_admin) for name in ("globex", "no-such-tenant")]
        assert [answer.status_code for answer in answers] == [404, 404], path
        assert answers[0].content == answers[1].content, path
    # A scope naming the other tenant, under acme's own path.
    answers = [
        admin_api(target, "POST", "/tenants/acme/kill-switches", acme_tenant_admin, json={"scope": f"tenant:{name}", "reason": "x"})
        for name in ("globex", "no-such-tenant")
    ]
    assert [answer.status_code for answer in answers] == [400, 400]
    assert answers[0].content == answers[1].content


# --- Finding 5: audit chain ---

AUDIT_KEY = "e2e-audit-key-0123456789abcdef0123456789abcdef"


def audit_hash(sequence, time_us, principal, action, target, tenant, before, after, detail, previous_hash):
    """The chain's SHA-256, as an attacker with the source computes it: every field length-prefixed."""
    import hashlib

    def field(value):
        if value is None:
            return b"-;"
        data = str(value).encode()
        return str(len(data)).encode() + b":" + data + b";"

    fields = ("switchyard-audit-v1", sequence, time_us, principal, action, target, tenant, before, after, detail, previous_hash)
    return hashlib.sha256(b"".join(field(value) for value in fields)).hexdigest()


def audit_verify(gateway, checkpoints):
    import os
    import subprocess

    from conftest import BINARY

    return subprocess.run(
        [str(BINARY), "audit", "verify", "--checkpoints", str(checkpoints), "--config", str(gateway.config)],
        capture_output=True, text=True, timeout=60, cwd=gateway.workdir, env=os.environ,
    )


def test_a_rewritten_audit_chain_is_found_against_macs_and_checkpoints(tmp_path, upstream, monkeypatch):
    import sqlite3
    import time

    # The CLI (keys create, audit verify) and serve all sign with the key from the environment.
    monkeypatch.setenv("SWITCHYARD_AUDIT_KEY", AUDIT_KEY)
    checkpoints = tmp_path / "audit-checkpoints.jsonl"
    extra = f"""
audit:
  key_env: SWITCHYARD_AUDIT_KEY
  checkpoint_file: "{checkpoints}"
  checkpoint_every_entries: 1
  checkpoint_interval_seconds: 1
"""
    gateway = Gateway(
        tmp_path / "gateway", body=attack_config(upstream.base_url, extra=extra), env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})

    def head():
        with sqlite3.connect(gateway.db_path) as db:
            return db.execute("SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1").fetchone()

    def last_checkpoint():
        lines = checkpoints.read_text().splitlines() if checkpoints.exists() else []
        return json.loads(lines[-1]) if lines else None

    try:
        gateway.cli("keys", "create", "--tenant", "acme", "--agent", "audited")
        engaged = admin_api(gateway, "POST", "/kill-switches", ADMIN_KEY, json={"scope": "tenant:globex", "reason": "audit e2e"})
        assert engaged.status_code == 201, engaged.text
        assert admin_api(gateway, "DELETE", "/kill-switches?scope=tenant:globex", ADMIN_KEY).status_code == 200
        wait_until(
            lambda: (last_checkpoint() or {}).get("sequence") == head()[0], timeout=30, what="a checkpoint of the head")
    finally:
        gateway.stop()
    sequence, head_hash = head()
    checkpoint = last_checkpoint()
    assert checkpoint["type"] == "audit.checkpoint" and checkpoint["hash"] == head_hash and checkpoint["head_signed"]
    with sqlite3.connect(gateway.db_path) as db:
        actions = [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY sequence")]
        assert {"key.create", "kill_switch.engage", "kill_switch.release"} <= set(actions)
        assert db.execute("SELECT COUNT(*) FROM audit_log WHERE mac IS NULL").fetchone()[0] == 0
    intact = audit_verify(gateway, checkpoints)
    assert intact.returncode == 0, intact.stderr
    assert f"head {sequence} {head_hash}" in intact.stdout and "MACs verified" in intact.stdout

    # A forged release, chained with a correct SHA-256 but without the key: no valid MAC.
    with sqlite3.connect(gateway.db_path) as db:
        time_us = int(time.time() * 1_000_000)
        forged = (sequence + 1, time_us, "admin", "kill_switch.release", "tenant:globex", "globex", None, None, None, head_hash)
        tenant_sequence = db.execute("SELECT MAX(tenant_sequence) FROM audit_log WHERE tenant = 'globex'").fetchone()[0] + 1
        db.execute(
            """INSERT INTO audit_log (sequence, at, principal, action, target, tenant, before_value, after_value, detail,
                   previous_hash, hash, tenant_sequence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (*forged, audit_hash(*forged), tenant_sequence),
        )
    broken = audit_verify(gateway, checkpoints)
    assert broken.returncode != 0
    assert f"BROKEN at entry {sequence + 1}:" in broken.stderr and "no MAC" in broken.stderr, broken.stderr

    # The forgery and the last real entry deleted: a valid, signed chain, shorter than the checkpoint.
    with sqlite3.connect(gateway.db_path) as db:
        db.execute("DELETE FROM audit_log WHERE sequence >= ?", (sequence,))
    truncated = audit_verify(gateway, checkpoints)
    assert truncated.returncode != 0
    assert f"BROKEN at entry {sequence}:" in truncated.stderr and "missing" in truncated.stderr, truncated.stderr


def chat_body(**members) -> dict:
    return {"model": "chat", "messages": PROMPT, "max_tokens": 5, **members}


DUPLICATES = {
    "max_tokens": b'{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"max_tokens":100000}',
    "tool name": b'{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,'
    b'"tools":[{"type":"function","function":{"name":"search","name":"shell","parameters":{}}}]}',
    "messages": b'{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"messages":[{"role":"user","content":"'
    + b"x" * 20_000 + b'"}]}',
    "nested content": b'{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"Hi","content":"'
    + b"y" * 20_000 + b'"}]}',
    "stream": b'{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"stream":false,"stream":true}',
    "include_usage": b'{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"stream":true,'
    b'"stream_options":{"include_usage":true,"include_usage":false}}',
    "escaped spelling": b'{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"max\\u005ftokens":100000}',
}

# Names not in lowercase: Go's encoding/json (Ollama) reads MAX_TOKENS as max_tokens, alone or
# beside its twin (then the last counts).
CASE_VARIANTS = {
    "twin": (b'{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"MAX_TOKENS":100000}', "MAX_TOKENS"),
    "alone": (b'{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_completion_tokens":5,"MAX_TOKENS":100000}',
              "MAX_TOKENS"),
    "kelvin sign": (b'{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"max_to\\u212Aens":100000}',
                    '["max_to\u212aens"]'),
    "tool name": (b'{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,'
                  b'"tools":[{"type":"function","function":{"NAME":"shell","parameters":{}}}]}', "tools[0].function.NAME"),
}


@pytest.mark.parametrize("case", sorted(CASE_VARIANTS))
def test_a_member_name_not_in_lowercase_is_refused(upstream, target, case):
    body, path = CASE_VARIANTS[case]
    error = refused_without_reaching(upstream, target, body).json()["error"]
    assert error["code"] == "invalid_member_name", error
    assert error["param"] == path, error


DUPLICATE_PATHS = {
    "max_tokens": "max_tokens", "tool name": "tools[0].function.name", "messages": "messages",
    "nested content": "messages[0].content", "stream": "stream", "include_usage": "stream_options.include_usage",
    "escaped spelling": "max_tokens",
}


@pytest.mark.parametrize("case", sorted(DUPLICATES))
def test_a_repeated_member_is_refused_naming_its_path(upstream, target, case):
    response = refused_without_reaching(upstream, target, DUPLICATES[case])
    error = response.json()["error"]
    assert error["code"] == "duplicate_key", error
    assert error["param"] == DUPLICATE_PATHS[case], error


def test_a_repeated_member_is_refused_on_the_anthropic_endpoint_in_its_format(upstream, target):
    body = b'{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"Hi"}],"max_tokens":100000}'
    response = refused_without_reaching(
        upstream, target, body, path="/messages", headers={"anthropic-version": "2023-06-01"})
    assert response.json()["type"] == "error"
    assert "max_tokens" in response.json()["error"]["message"]


@pytest.mark.parametrize("members", [{"max_tokens": 0}, {"max_tokens": -100}, {"max_completion_tokens": 0}])
def test_a_token_maximum_below_one_is_refused(upstream, target, members):
    body = {"model": "chat", "messages": PROMPT, **members}
    response = refused_without_reaching(upstream, target, json.dumps(body).encode())
    assert "at least 1" in response.json()["error"]["message"]


def test_with_both_maxima_the_larger_is_what_the_policy_judges(upstream, target):
    body = chat_body(max_tokens=5, max_completion_tokens=100_000)
    response = refused_without_reaching(upstream, target, json.dumps(body).encode(), status=403)
    assert "max_output_tokens" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "tools",
    [
        [{"type": "function", "function": {"name": "Shell", "parameters": {}}}],
        [{"type": "custom", "custom": {"name": "SHELL"}}],
        [{"type": "shell"}],
        [{"type": "function", "function": {"name": "ｓｈｅｌｌ", "parameters": {}}}],
        [{"type": "function", "function": {"name": "sh\u200bell ", "parameters": {}}}],
    ],
)
def test_denied_tools_hold_in_any_case_and_any_tool_type(upstream, target, tools):
    response = refused_without_reaching(upstream, target, json.dumps(chat_body(tools=tools)).encode(), status=403)
    assert "denied_tools" in response.json()["error"]["message"]


def test_an_allowed_request_still_reaches_the_upstream_byte_for_byte(upstream, target):
    upstream.control(reset=True)
    body = json.dumps(chat_body(tools=[{"type": "function", "function": {"name": "search", "parameters": {}}}])).encode()
    response = post_raw(target, body)
    assert response.status_code == 200, response.text
    received = upstream.received()
    assert len(received) == 1
    assert json.loads(received[0])["tools"][0]["function"]["name"] == "search"
    assert json.loads(received[0])["model"] == "fault-model"


# --- Finding 2: metrics -------------------------------------------------------------------------


def test_metrics_need_a_credential_that_sees_every_tenant(upstream, target):
    assert post_raw(target, json.dumps(chat_body()).encode()).status_code == 200  # some spend to show
    metrics = f"http://127.0.0.1:{target.port}/metrics"
    anonymous = requests.get(metrics, timeout=10)
    assert anonymous.status_code == 401
    assert "tenant=" not in anonymous.text and "cost" not in anonymous.text
    data_plane = requests.get(metrics, headers={"Authorization": f"Bearer {target.keys['acme']}"}, timeout=10)
    assert data_plane.status_code == 401
    tenant_admin = target.cli("admin-keys", "create", "--role", "tenant-admin", "--tenant", "acme").strip().split()[-1]
    bound = requests.get(metrics, headers={"Authorization": f"Bearer {tenant_admin}"}, timeout=10)
    assert bound.status_code == 403, bound.text
    assert "tenant=" not in bound.text
    admin = requests.get(metrics, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
    assert admin.status_code == 200
    assert 'tenant="acme"' in admin.text


def test_the_metrics_listener_serves_a_scraper_on_loopback(tmp_path, upstream):
    from conftest import free_port

    port = free_port()
    gateway = Gateway(
        tmp_path, body=attack_config(upstream.base_url, extra=f"observability:\n  metrics_listen: \"{port}\"\n"),
        env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY},
    )
    try:
        assert post_raw(gateway, json.dumps(chat_body()).encode()).status_code == 200
        scraped = wait_until(
            lambda: (r := requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).ok and r, what="metrics listener")
        assert 'tenant="acme"' in scraped.text
        # The public listener still asks for a credential.
        assert requests.get(f"http://127.0.0.1:{gateway.port}/metrics", timeout=5).status_code == 401
    finally:
        gateway.stop()


# --- Finding 3: connection floods ---------------------------------------------------------------

# Runs in its own process (so the GIL does not slow the health checks being timed): opens COUNT
# connections from SOURCE to the gateway as fast as it can and holds them until told to stop.
FLOOD = r"""
import resource, socket, sys, time
source, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held, failed = [], 0
for _ in range(count):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        held.append(s)
    except OSError:
        failed += 1
        s.close()
print(f"opened {len(held)} failed {failed}", flush=True)
sys.stdin.readline()  # hold them until the test says so
"""


class Flood:
    def __init__(self, port, count, source="127.0.0.2"):
        import subprocess
        import sys

        self.process = subprocess.Popen(
            [sys.executable, "-c", FLOOD, source, str(port), str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )

    def opened(self, timeout=120):
        """Waits (bounded) until every attempt was made; returns the summary line."""
        import select

        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert ready, "the flood did not finish its connection attempts in time"
        return self.process.stdout.readline().strip()

    def release(self):
        from conftest import stop

        if self.process.poll() is None:
            self.process.stdin.write("\n")
            self.process.stdin.flush()
        stop(self.process, timeout=30)


def healthz_latency(port, source="127.0.0.1"):
    """One /healthz on a new connection from `source`; seconds taken, or None if it failed."""
    import time

    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(source, 0)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    except OSError:
        return None
    return time.monotonic() - started if answer.startswith(b"HTTP/1.1 200") else None


def scrape(gateway, name):
    text = requests.get(
        f"http://127.0.0.1:{gateway.port}/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10).text
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line.startswith(name)}


def test_a_flood_of_connections_from_one_address_leaves_everyone_else_served(tmp_path, upstream):
    import threading
    import time

    gateway = Gateway(
        tmp_path, body=attack_config(upstream.base_url), env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY},
        server_extra="  max_connections: 5000\n  max_connections_per_ip: 200\n",
    )
    # 20,000 attempts from one address, in two processes (each may hold at most ~20,000 descriptors here).
    floods = [Flood(gateway.port, 10_000), Flood(gateway.port, 10_000)]
    latencies, done = [], threading.Event()

    def probe():
        while not done.is_set() and len(latencies) < 2000:
            latencies.append(healthz_latency(gateway.port))
            time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        summary = [flood.opened() for flood in floods]
        done.set()
        prober.join(timeout=30)
        assert latencies, "no health check ran during the flood"
        assert None not in latencies, f"a health check failed during the flood ({summary})"
        # 100 ms for 99 % of checks. The flood and the checks share one accept queue: when the
        # flood outruns the acceptor on this 2-core box, a check's SYN can be dropped and is resent
        # after Linux's 1 s (seen in 2 of ~10 runs with a 4,096 backlog). One such retransmit is
        # allowed; two in a row (3 s), or an acceptor that stalls, fail.
        ordered = sorted(latencies)
        p99 = ordered[int(len(ordered) * 0.99) - 1]
        assert p99 < 0.1 and ordered[-1] < 2.0, f"/healthz p99 {p99:.3f}s, max {ordered[-1]:.3f}s over {len(ordered)} ({summary})"
        refused = scrape(gateway, "switchyard_ingress_connections_refused_total")
        assert refused['switchyard_ingress_connections_refused_total{cap="per_ip"}'] >= 19_000, refused
        assert scrape(gateway, "switchyard_ingress_connections ")["switchyard_ingress_connections"] <= 210
        # Normal requests are served through it all.
        assert post_raw(gateway, json.dumps(chat_body()).encode()).status_code == 200
    finally:
        done.set()
        for flood in floods:
            flood.release()
        gateway.stop()


def _descriptor_limit(limit):
    def apply():
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


def _cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_the_server_pauses_accepting_and_recovers(tmp_path, upstream):
    import time

    gateway = Gateway(
        tmp_path, body=attack_config(upstream.base_url), env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY},
        server_extra="  max_connections: 100000\n  max_connections_per_ip: 100000\n", preexec_fn=_descriptor_limit(256),
    )
    try:
        session = requests.Session()  # a client connected before the flood keeps its connection
        assert session.get(f"http://127.0.0.1:{gateway.port}/healthz", timeout=5).ok
        flood = Flood(gateway.port, 1000)
        try:
            flood.opened()
            before = _cpu_seconds(gateway.process.pid)
            time.sleep(2)  # the listening socket stays readable: a spinning accept loop would burn ~2 s of CPU here
            spent = _cpu_seconds(gateway.process.pid) - before
            assert spent < 0.5, f"the server used {spent:.2f}s of CPU in 2s while out of descriptors"
            assert gateway.process.poll() is None
            assert session.get(f"http://127.0.0.1:{gateway.port}/healthz", timeout=5).ok
        finally:
            flood.release()
        wait_until(lambda: healthz_latency(gateway.port) is not None, timeout=30, what="accepting again")
        assert scrape(gateway, "switchyard_ingress_accept_backoffs_total")["switchyard_ingress_accept_backoffs_total"] > 0
        assert "open-files limit" in gateway.log_path.read_text()
    finally:
        gateway.stop()


# --- Finding 6: HTTP framing and body validation ------------------------------------------------


def raw_exchange(gateway, wire: bytes, timeout=10.0) -> bytes:
    """Sends `wire` on a fresh connection and reads until the server closes it or `timeout` passes."""
    import time

    deadline = time.monotonic() + timeout
    answer = b""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=timeout) as sock:
        sock.sendall(wire)
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            answer += chunk
    return answer


def authorized_head(gateway, extra: str) -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gateway.keys['acme']}\r\n"
        f"Content-Type: application/json\r\n{extra}"
    ).encode()


@pytest.mark.parametrize("coding", ["", ",", " , "])
def test_a_transfer_encoding_naming_no_coding_is_refused(upstream, target, coding):
    upstream.control(reset=True)
    body = json.dumps(chat_body()).encode()
    answer = raw_exchange(target, authorized_head(target, f"Transfer-Encoding:{coding}\r\nContent-Length: {len(body)}\r\n\r\n") + body)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    # Refused by the HTTP server itself, in the error format the API's clients read.
    error = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "malformed_http_request", error
    assert upstream.received() == []


def test_bare_line_feeds_are_answered_at_once_not_at_the_idle_timeout(target):
    import time

    started = time.monotonic()
    answer = raw_exchange(target, b"GET /healthz HTTP/1.1\nHost: x\n\n", timeout=20)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert time.monotonic() - started < 5  # the idle timeout is 75 s


def test_an_announced_body_over_the_limit_is_refused_from_the_head(upstream, target):
    import time

    upstream.control(reset=True)
    started = time.monotonic()
    # The head alone: a server that waited for the body would hold this until its read timeout (60 s).
    answer = raw_exchange(target, authorized_head(target, "Content-Length: 104857600\r\n\r\n"), timeout=20)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 5
    assert upstream.received() == []


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(upstream, target):
    import time

    upstream.control(reset=True)
    started = time.monotonic()
    chunk = b"x" * 65536
    # 6 MiB of chunks (the limit is 4 MiB) and no last chunk: a server that waited for the end
    # would hold it 60 s; one that closed without draining could lose the answer to a reset.
    wire = authorized_head(target, "Transfer-Encoding: chunked\r\n\r\n") + (b"10000\r\n" + chunk + b"\r\n") * 96
    answer = raw_exchange(target, wire, timeout=20)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 10
    assert upstream.received() == []


@pytest.mark.parametrize(
    "body",
    [
        # Nesting past 64 levels in a member the gateway does not read.
        b'{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"Hi"}],"x":' + b"[" * 511 + b"]" * 511 + b"}",
        b'{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"Hi"}],"x":' + b"[" * 65 + b"]" * 65 + b"}",
        # Invalid UTF-8 and an out-of-range number in members the gateway does not read.
        b'{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"Hi"}],"user":"\xff\xfe"}',
        b'{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"Hi"}],"temperature":1e999999}',
        b'{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"Hi"}],"seed":' + b"9" * 400 + b"}",
    ],
)
def test_the_whole_body_is_validated_even_where_the_gateway_does_not_read(upstream, target, body):
    refused_without_reaching(upstream, target, body)


def test_sixty_four_levels_of_nesting_are_served(upstream, target):
    upstream.control(reset=True)
    nested = b"[" * 60 + b"]" * 60  # 60 inside the body's own object and the member: within 64
    body = b'{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"Hi"}],"x":' + nested + b"}"
    assert post_raw(target, body).status_code == 200
    assert len(upstream.received()) == 1


# --- Finding 7: guardrails that see through escapes and split parts ---------------------------


@pytest.mark.parametrize(
    "content",
    [
        "my card: \\u0034111 1111 1111 1111",
        [{"type": "text", "text": "my card: 4111 1111"}, {"type": "text", "text": "1111 1111"}],
        "key: sk-\\u0061bcdefghijklmnopqrstuvwxyz",
        [{"type": "text", "text": "key: sk-abcdefghij"}, {"type": "text", "text": "klmnopqrstuvwxyz0123"}],
        # Invisible characters inside the number, digits of another script, full-width digits.
        "card: 4111\u200b1111\u200b1111\u200b1111",
        "card: \u0664111 1111 1111 1111",
        "card: \uff14\uff11\uff11\uff11 1111 1111 1111",
        [{"type": "text", "text": "card: 4111\u200b1111\u200b1111\u200b1111"}],
    ],
)
def test_hidden_cards_and_keys_are_blocked_and_never_sent(upstream, target, content):
    if isinstance(content, str):  # written by hand, so the escape reaches the gateway as an escape
        body = ('{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"' + content + '"}]}').encode()
    else:
        body = json.dumps(chat_body(messages=[{"role": "user", "content": content}])).encode()
    response = refused_without_reaching(upstream, target, body, status=403)
    assert response.json()["error"]["code"] == "content_blocked"
