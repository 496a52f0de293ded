"""End-to-end fixtures: real processes only.

The official `openai` SDK talks to a real `switchyard serve`, which talks to a real llama.cpp
server running Gemma 3 270M. Every server binds 127.0.0.1 on a free port, is stopped by PID, and
every wait is bounded.
"""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("SWITCHYARD_BIN", ROOT / ".build" / "debug" / "switchyard"))
PRICES = {"input": "0.02", "output": "0.04", "cached_input": "0.01"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout=30.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stop(process: subprocess.Popen, sig=signal.SIGTERM, timeout=30.0):
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class ModelServer:
    """A llama.cpp server started with scripts/start-model-server.sh."""

    def __init__(self, workdir: Path, port: int | None = None, extra: tuple = ()):
        """`port`: the one to listen on (a restart behind the same URL); `extra`: more llama_cpp.server arguments."""
        self.port = port or free_port()
        self.pidfile = workdir / f"model-{self.port}.pid"
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "start-model-server.sh"), str(self.port), str(self.pidfile), *extra],
            capture_output=True, text=True, timeout=900,
        )
        assert result.returncode == 0, result.stderr
        self.base_url = result.stdout.strip().splitlines()[-1]
        self.pid = int(self.pidfile.read_text())

    def kill(self, sig=signal.SIGKILL):
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return
        wait_until(lambda: not _alive(self.pid), timeout=15, what="model server exit")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of the start script still "exists"; look at its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return state != "Z"
    except FileNotFoundError:
        return False


def local_model(model_url: str, deployment_extra: str = "") -> str:
    """YAML for the real local model: provider `local` and the priced deployment `gemma-local`, with
    `deployment_extra` (indented YAML lines) added to the deployment. Test bodies add routes, tenants, ..."""
    return f"""
providers:
  - name: local
    kind: openai
    base_url: "{model_url}"
    region: on-prem
deployments:
  - name: gemma-local
    provider: local
    model: gemma-3-270m
    context_window: 2048
    timeout_seconds: 120
    price: {{ input_per_mtok: "{PRICES['input']}", output_per_mtok: "{PRICES['output']}", cached_input_per_mtok: "{PRICES['cached_input']}", currency: USD }}
{deployment_extra}"""


def write_config(
    workdir: Path, port: int, model_url: str, storage_url: str | None = None, body: str | None = None, server_extra: str = "",
    storage_extra: str = "",
) -> Path:
    """Writes switchyard.yaml; `body` replaces everything after `admin:` (providers, routes, ...), `server_extra`
    and `storage_extra` add indented lines to the `server:` and `storage:` sections."""
    storage_url = storage_url or f"sqlite://{workdir / 'switchyard.db'}"
    config = workdir / "switchyard.yaml"
    header = f"""
server:
  listen: "127.0.0.1:{port}"
{server_extra}storage:
  url: "{storage_url}"
  journal: "{workdir / 'journal.ndjson'}"
{storage_extra}"""
    if body is None:
        body = "admin:\n  key_env: SWITCHYARD_ADMIN_KEY\n" + local_model(model_url) + """
routes:
  - name: chat
    strategy: fallback
    targets: [gemma-local]
tenants:
  - name: acme
  - name: globex
    allowed_routes: [chat]
"""
    if "observability:" not in body:
        # /metrics needs a credential; the tests read it with this token (Gateway.metrics).
        body += "\nobservability:\n  metrics_token_env: SWITCHYARD_METRICS_TOKEN\n"
    config.write_text(header + body)
    return config


METRICS_TOKEN = "switchyard-e2e-metrics-token"


def fault_config(upstream_url: str, extra: str = "") -> str:
    """YAML after `admin:`... for a gateway in front of the fault upstream: route `chat` to deployment
    `fault-model` (1.00 / 2.00 per million tokens), tenants acme and globex, then `extra`."""
    return f"""providers:
  - name: fault
    kind: openai
    base_url: "{upstream_url}"
deployments:
  - name: fault-model
    provider: fault
    model: fault-model
    price: {{ input_per_mtok: "1.00", output_per_mtok: "2.00" }}
routes:
  - name: chat
    strategy: fallback
    targets: [fault-model]
tenants:
  - name: acme
  - name: globex
{extra}"""


class Gateway:
    """A `switchyard serve` process with its own store, and the CLI pointed at the same config."""

    def __init__(
        self, workdir: Path, model_url: str = "", storage_url: str | None = None, body: str | None = None,
        env: dict | None = None, server_extra: str = "", preexec_fn=None, output=None, port: int | None = None,
        storage_extra: str = "",
    ):
        """`output`: where the server's stdout and stderr go (a file object or descriptor); its log
        file by default. `port`: the one to listen on (a replica restarted behind a balancer)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = port or free_port()
        self.config = write_config(workdir, self.port, model_url, storage_url, body, server_extra, storage_extra)
        self.db_path = workdir / "switchyard.db"
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.keys = {tenant: self.cli("keys", "create", "--tenant", tenant).strip() for tenant in ("acme", "globex")}
        self.log_path = workdir / "serve.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [str(BINARY), "serve", "--config", str(self.config)], stdout=self.log if output is None else output,
            stderr=subprocess.STDOUT, cwd=workdir,
            env={**os.environ, "SWITCHYARD_METRICS_TOKEN": METRICS_TOKEN, **(env or {})}, preexec_fn=preexec_fn,
        )
        wait_until(self._ready, timeout=30, what="switchyard /readyz")

    def _ready(self):
        import requests

        if self.process.poll() is not None:
            raise AssertionError("switchyard exited:\n" + self.log_path.read_text())
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [str(BINARY), *args, "--config", str(self.config)], capture_output=True, text=True, timeout=60, cwd=self.workdir,
        )
        assert result.returncode == 0, f"switchyard {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    def metrics(self) -> str:
        """The Prometheus exposition, read with the metrics token."""
        import requests

        response = requests.get(
            f"http://127.0.0.1:{self.port}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
        response.raise_for_status()
        return response.text

    def report(self, by="tenant"):
        return json.loads(self.cli("report", "usage", "--by", by, "--format", "json"))

    def records(self):
        with sqlite3.connect(self.db_path) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute("SELECT * FROM usage_records ORDER BY started_at")]

    def record(self, request_id: str, timeout=10.0):
        def find():
            return next((r for r in self.records() if r["id"] == request_id), None)

        return wait_until(find, timeout=timeout, what=f"ledger record {request_id}")

    def stop(self, sig=signal.SIGTERM):
        stop(self.process, sig)
        self.log.close()


def psql(url: str, sql: str) -> str:
    """One statement through psql; its output, unaligned."""
    return subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def fresh_database(server_url: str, prefix: str) -> str:
    """A new database on the PostgreSQL at `server_url`, named `prefix` + random; its URL."""
    import secrets

    database = prefix + secrets.token_hex(4)
    psql(server_url, f"CREATE DATABASE {database}")
    return server_url.rsplit("/", 1)[0] + "/" + database


class ChatLoad:
    """Clients posting chat completions with `key`, each on its own session, until `keep_going()`
    is false. Answers are sorted as they come: `served` (200) and `refused` (403) hold request ids,
    `failed` anything else (other statuses, exceptions). `max_tokens(n)` sets the n-th request's."""

    def __init__(self, gateway, key, clients, keep_going, max_tokens=lambda sent: 8, pause=0.0):
        import threading

        self.served, self.refused, self.failed = [], [], []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._client, args=(gateway, key, keep_going, max_tokens, pause))
            for _ in range(clients)
        ]
        for thread in self.threads:
            thread.start()

    def _client(self, gateway, key, keep_going, max_tokens, pause):
        import time

        import requests

        session = requests.Session()
        headers = {"Authorization": f"Bearer {key}"}
        sent = 0
        while keep_going():
            sent += 1
            body = {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": max_tokens(sent)}
            try:
                response = session.post(f"{gateway.base_url}/chat/completions", json=body, headers=headers, timeout=30)
            except requests.RequestException as error:
                with self.lock:
                    self.failed.append(repr(error))
                continue
            with self.lock:
                if response.status_code == 200:
                    self.served.append(response.headers["x-request-id"])
                elif response.status_code == 403:
                    self.refused.append(response.headers.get("x-request-id"))
                else:
                    self.failed.append(f"{response.status_code} {response.text[:200]}")
            if pause:
                time.sleep(pause)

    def served_count(self):
        with self.lock:
            return len(self.served)

    def join(self, timeout):
        for thread in self.threads:
            thread.join(timeout=timeout)


class FaultUpstream:
    """tests/e2e/fault_upstream.py in its own process: an OpenAI-compatible server that fails on request."""

    def __init__(self, workdir: Path):
        import sys

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = open(workdir / f"fault-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "fault_upstream.py"), str(self.port)], stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_until(self._ready, timeout=15, what="fault upstream")

    def _ready(self):
        import requests

        try:
            return requests.get(f"http://127.0.0.1:{self.port}/stats", timeout=1).ok
        except requests.RequestException:
            return False

    def control(self, **state):
        import requests

        return requests.post(f"http://127.0.0.1:{self.port}/control", json=state, timeout=5).json()

    def stats(self):
        import requests

        return requests.get(f"http://127.0.0.1:{self.port}/stats", timeout=5).json()

    def received(self):
        """The raw bodies of the chat requests that reached this upstream, in order."""
        import requests

        return requests.get(f"http://127.0.0.1:{self.port}/received", timeout=5).json()

    def stop(self):
        stop(self.process, signal.SIGKILL)
        self.log.close()


class FixtureUpstream:
    """tests/e2e/fixture_upstream.py: a fake Anthropic and Gemini API replaying Tests/Fixtures/."""

    def __init__(self, workdir: Path):
        import sys

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / f"fixture-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "fixture_upstream.py"), str(self.port)], stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._ready, timeout=15, what="fixture upstream")

    def _ready(self):
        import requests

        try:
            return requests.get(f"{self.base_url}/state", timeout=1).ok
        except requests.RequestException:
            return False

    def mode(self, mode: str):
        import requests

        requests.post(f"{self.base_url}/control", json={"mode": mode}, timeout=5).raise_for_status()

    def requests(self):
        import requests

        return requests.get(f"{self.base_url}/requests", timeout=5).json()

    def stop(self):
        stop(self.process, signal.SIGKILL)
        self.log.close()


@pytest.fixture
def fault(tmp_path):
    upstream = FaultUpstream(tmp_path)
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def model_server(tmp_path_factory):
    server = ModelServer(tmp_path_factory.mktemp("model"))
    yield server
    server.kill(signal.SIGTERM)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory, model_server):
    gateway = Gateway(tmp_path_factory.mktemp("gateway"), model_server.base_url)
    yield gateway
    gateway.stop()


@pytest.fixture
def client(gateway):
    import openai

    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.keys["acme"], max_retries=0, timeout=120)


class HAProxy:
    """HAProxy in front of `ports`: round robin, /readyz checked every 100 ms (down at the first
    failure, up after two passes), and no retries: a request sent to a replica that refuses it
    fails, so only the drain keeps requests away from a replica on its way out. Its stats as CSV
    on a second port."""

    def __init__(self, workdir, ports):
        self.port, self.stats_port = free_port(), free_port()
        servers = "\n".join(f"  server r{index} 127.0.0.1:{port} check" for index, port in enumerate(ports))
        config = workdir / "haproxy.cfg"
        config.write_text(f"""global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 0
frontend gateway
  bind 127.0.0.1:{self.port}
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 100ms fall 1 rise 2
{servers}
listen stats
  bind 127.0.0.1:{self.stats_port}
  stats enable
  stats uri /stats
""")
        self.process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=open(workdir / "haproxy.log", "w"))
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        wait_until(lambda: self.states() == ["UP"] * len(ports), timeout=30, what="every replica up in HAProxy")

    def states(self):
        import requests

        try:
            csv = requests.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2).text
        except requests.RequestException:
            return []
        rows = [line.split(",") for line in csv.splitlines() if line.startswith("replicas,r")]
        return [row[17].split(" ")[0] for row in rows]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


class RedisServer:
    """A throwaway redis-server on 127.0.0.1 without persistence: `stop()` loses everything, as a
    crash of an unpersisted Redis does, and `start()` brings it back empty on the same port."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=open(self.workdir / f"redis-{self.port}.log", "a"), stderr=subprocess.STDOUT)
        wait_until(self.answers, timeout=15, what="redis-server answering")

    def answers(self):
        try:
            return self.cli("PING") == "PONG"
        except subprocess.SubprocessError:
            return False

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def pytest_terminal_summary(terminalreporter):
    """Where the console's browser test left its screenshots (CI keeps that folder as artifacts)."""
    folder = Path(os.environ.get("SWITCHYARD_CONSOLE_SCREENSHOTS", "/tmp/switchyard-console-screenshots"))
    if folder.is_dir() and any(folder.glob("*.png")):
        terminalreporter.write_line(f"console screenshots: {folder} ({len(list(folder.glob('*.png')))} pages)")
