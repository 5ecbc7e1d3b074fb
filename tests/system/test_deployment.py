"""The deployment guide, run: nginx (deploy/nginx/wacast.conf, TLS with a certificate made here)
in front of two `wacast serve` processes and one `wacast worker`, started from the systemd
units in deploy/systemd/ with the settings of deploy/wacast.env.example, on PostgreSQL (SQLite
when no PostgreSQL is configured). Meta is the fake Graph API of bench/sink.py.

Under campaign traffic through nginx, both servers and then the worker are restarted one at a
time with SIGTERM (a rolling restart). Every request gets a 200, every accepted message ends
`sent`, sent to Meta exactly once; the worker hands back its claims and leases on the way out.
The JSON logs carry request ids and submitted_message_ids and not one secret.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import PG_URL, _prepare_postgres, _truncate_postgres
from wacast.db.engine import Database
from wacast.models.messages import Message
from wacast.models.projects import SenderLease, Worker

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
WACAST_BIN = str(Path(sys.executable).parent / "wacast")
ACCESS_TOKEN = "EAAGtestAccessToken0123456789abcdefXYZ"
APP_SECRET = "deploy-test-app-secret-5f1e2d"
SECRET_KEY = "deploy-test-secret-key-0123456789abcdefghijkl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def deploy_db_url(sqlite_template: Path, tmp_path: Path) -> str:
    """The guide's database: PostgreSQL when the suite has one, else SQLite."""
    if PG_URL:
        _prepare_postgres()
        asyncio.run(_truncate_postgres(PG_URL))
        return PG_URL
    path = tmp_path / "wacast.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (cryptography, no openssl CLI)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def render_nginx(directory: Path, https_port: int, http_port: int, upstreams: list[int], cert: Path, key: Path) -> Path:
    """deploy/nginx/wacast.conf with only ports, paths and the name changed, inside a minimal
    unprivileged nginx.conf (what Debian's /etc/nginx/nginx.conf provides)."""
    site = (DEPLOY / "nginx" / "wacast.conf").read_text()
    replacements = [
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("server 127.0.0.1:8001 ", f"server 127.0.0.1:{upstreams[0]} "),
        ("server 127.0.0.1:8002 ", f"server 127.0.0.1:{upstreams[1]} "),
        ("/etc/letsencrypt/live/wa.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/wa.example.com/privkey.pem", str(key)),
        ("/var/log/nginx/wacast.access.log", str(directory / "access.log")),
    ]
    for old, new in replacements:
        assert old in site, f"deploy/nginx/wacast.conf no longer has {old!r}: update the guide and this test together"
        site = site.replace(old, new)
    (directory / "wacast.conf").write_text(site)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(exist_ok=True)
    main = directory / "nginx.conf"
    main.write_text(f"""
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/wacast.conf;
}}
""")
    return main


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def read_unit(name: str, instance: str) -> tuple[list[str], dict[str, str]]:
    """ExecStart (the binary mapped to this venv's) and Environment= of a systemd unit."""
    text = (DEPLOY / "systemd" / name).read_text()
    assert "KillSignal=SIGTERM" in text and "EnvironmentFile=/etc/wacast/wacast.env" in text
    env = {}
    for value in re.findall(r"^Environment=(.+)$", text, re.M):
        for pair in shlex.split(value):
            key, _, val = pair.partition("=")
            env[key] = val.replace("%i", instance)
    exec_start = re.search(r"^ExecStart=(.+)$", text, re.M).group(1).replace("%i", instance)
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/wacast/.venv/bin/wacast"
    return [WACAST_BIN, *argv[1:]], env


class Deployment:
    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.db_url = db_url
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        self.sink_port, self.https_port, self.http_port = _free_port(), _free_port(), _free_port()
        self.serve_ports = [_free_port(), _free_port()]
        self.worker_metrics_port = _free_port()
        self.sink_url = f"http://127.0.0.1:{self.sink_port}"
        self.base = f"https://127.0.0.1:{self.https_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
        env.update(read_env_file(DEPLOY / "wacast.env.example"))
        assert env["WACAST_ENVIRONMENT"] == "production" and env["WACAST_LOG_FORMAT"] == "json"
        env.update(
            WACAST_DATABASE_URL=db_url, WACAST_SECRET_KEY=SECRET_KEY, WACAST_META_APP_SECRET=APP_SECRET,
            WACAST_META_VERIFY_TOKEN="deploy-verify-token", WACAST_PUBLIC_URL=self.base,
            WACAST_GRAPH_API_URL=self.sink_url, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        )
        self.env = env
        self.sink = self.spawn([sys.executable, "-m", "bench.sink", "--port", str(self.sink_port), "--latency-ms", "30"], "sink")
        self.wait_http(self.sink_url + "/_stats", self.sink)

    def spawn(self, argv: list[str], label: str, **extra: str) -> subprocess.Popen:
        log = self.tmp / f"{label}.{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, env={**self.env, **extra}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        proc.log_path = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def project_with_live_campaign(self, name: str, phone_number_id: str, messages_per_second: int | None = None) -> str:
        """A Cloud API project with the order_update template and a live `orders` campaign; its API key."""
        rate = ["--messages-per-second", str(messages_per_second)] if messages_per_second else []
        self.cli("projects", "create", name, "--phone-number-id", phone_number_id, "--access-token", ACCESS_TOKEN, *rate)
        template = self.tmp / "template.json"
        template.write_text(json.dumps({"name": "order_update", "language": "en", "category": "UTILITY", "status": "APPROVED",
                                        "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."}]}))
        self.cli("templates", "add", "--project", name, "--file", str(template))
        self.cli("campaigns", "create", "--project", name, "--name", "orders", "--template", "order_update", "--live")
        return self.cli("apikeys", "create", "--project", name)["api_key"]

    def cli(self, *args: str) -> dict:
        result = subprocess.run([WACAST_BIN, *args, "--json"], env=self.env, capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert result.returncode == 0, result.stderr + result.stdout
        return json.loads(result.stdout)

    def wait_http(self, url: str, proc: subprocess.Popen, timeout: float = 30, **kwargs) -> None:  # noqa: ANN003
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"process exited with {proc.returncode}: {Path(proc.log_path).read_text()[-3000:]}"
            try:
                if httpx.get(url, timeout=2, **kwargs).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(url)

    def serve(self, index: int) -> subprocess.Popen:
        port = self.serve_ports[index]
        argv, unit_env = read_unit("wacast-serve@.service", str(port))
        proc = self.spawn(argv, f"serve{index}", **unit_env)
        self.wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        return proc

    def worker(self) -> subprocess.Popen:
        argv, unit_env = read_unit("wacast-worker@.service", str(self.worker_metrics_port))
        proc = self.spawn(argv, "worker", **unit_env)
        self.wait_http(f"http://127.0.0.1:{self.worker_metrics_port}/healthz", proc)
        return proc

    def nginx(self) -> subprocess.Popen:
        cert, key = make_certificate(self.tmp)
        self.cert = cert
        conf = render_nginx(self.tmp, self.https_port, self.http_port, self.serve_ports, cert, key)
        check = subprocess.run(["nginx", "-t", "-p", str(self.tmp), "-e", str(self.tmp / "error.log"), "-c", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        proc = self.spawn(["nginx", "-p", str(self.tmp), "-e", str(self.tmp / "error.log"), "-c", str(conf)], "nginx")
        self.wait_http(self.base + "/healthz", proc, verify=str(cert))
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def stop_gracefully(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    # uvicorn re-raises the SIGTERM it handled once shut down (systemd counts that as clean).
    assert code in (0, -signal.SIGTERM), f"exit {code}: {Path(proc.log_path).read_text()[-3000:]}"


async def _db_state(db_url: str) -> dict[str, int]:
    db = Database(db_url)
    try:
        async with db.sessionmaker() as session:
            locked = (await session.execute(select(func.count()).select_from(Message).where(Message.status == "queued", Message.locked_by.is_not(None)))).scalar_one()
            # A handed-back lease keeps its row with no holder until the number's rate window passes.
            leases = (await session.execute(select(func.count()).select_from(SenderLease).where(SenderLease.holder != ""))).scalar_one()
            workers = (await session.execute(select(func.count()).select_from(Worker))).scalar_one()
            statuses = dict((await session.execute(select(Message.status, func.count()).group_by(Message.status))).all())
        return {"locked": locked, "leases": leases, "workers": workers, **statuses}
    finally:
        await db.dispose()


async def _statuses(db_url: str) -> dict[str, str]:
    db = Database(db_url)
    try:
        async with db.sessionmaker() as session:
            return {str(i): s for i, s in (await session.execute(select(Message.id, Message.status))).all()}
    finally:
        await db.dispose()


async def test_rolling_restart_behind_nginx(deploy_db_url: str, tmp_path: Path) -> None:
    d = Deployment(deploy_db_url, tmp_path)
    try:
        d.cli("migrate")
        api_key = d.project_with_live_campaign("shop", "1098765", 150)
        servers = [d.serve(0), d.serve(1)]
        worker = d.worker()
        d.nginx()

        async with httpx.AsyncClient(verify=str(d.cert), timeout=30) as http:
            # The proxy: TLS, http -> https, the request id passed through, the size limit, /metrics hidden.
            redirect = await http.get(f"http://127.0.0.1:{d.http_port}/healthz")
            assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")
            echoed = await http.get(d.base + "/healthz", headers={"X-Request-Id": "rid-from-client-1"})
            assert echoed.headers["x-request-id"] == "rid-from-client-1"
            made_up = await http.get(d.base + "/healthz")
            assert re.fullmatch(r"[0-9a-f]{32}", made_up.headers["x-request-id"])
            huge = await http.post(d.base + "/webhooks/whatsapp", content=b"x" * (5 * 1024 * 1024))
            assert huge.status_code == 413
            assert (await http.get(d.base + "/metrics")).status_code == 404
            ready = await http.get(d.base + "/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "ok" and ready.json()["checks"]["dispatcher"]["live_workers"] == 1
            assert ACCESS_TOKEN not in ready.text and SECRET_KEY not in ready.text

            accepted: dict[str, str] = {}  # submitted_message_id -> the request id it was sent with
            answers: list[int] = []
            failures: list[str] = []
            retried: list[str] = []
            stop = asyncio.Event()
            counter = iter(range(1_000_000))

            async def client(c: int) -> None:
                async with httpx.AsyncClient(verify=str(d.cert), timeout=30) as own:
                    while not stop.is_set():
                        n = next(counter)
                        rid = f"load-{c}-{n}"
                        body = {"apiKey": api_key, "campaignName": "orders", "destination": f"+91{9000000000 + n}",
                                "userName": f"Customer {n}", "templateParams": [f"Customer {n}", f"ORD-{n}"]}
                        # Like a careful CRM: an Idempotency-Key on every send, and a retry with the
                        # same key when the proxy answers 502/503 (an upstream closing its kept-alive
                        # connection at shutdown as nginx reused it) or the first try is in flight.
                        # The key makes the retry safe: the test still requires each message once.
                        headers = {"X-Request-Id": rid, "Idempotency-Key": rid}
                        response = None
                        for _attempt in range(5):
                            try:
                                response = await own.post(d.base + "/campaign/t1/api/v2", json=body, headers=headers)
                            except httpx.HTTPError as error:
                                retried.append(f"{type(error).__name__}: {error}")
                                await asyncio.sleep(0.2)
                                continue
                            if response.status_code in (409, 502, 503):
                                retried.append(f"{response.status_code}")
                                await asyncio.sleep(0.2)
                                continue
                            break
                        if response is None:
                            failures.append("no answer after 5 tries")
                            continue
                        answers.append(response.status_code)
                        if response.status_code == 200:
                            accepted[response.json()["submitted_message_id"]] = rid
                        else:
                            failures.append(f"{response.status_code}: {response.text[:200]}")

            async def until(count: int) -> None:
                deadline = time.monotonic() + 60
                while len(accepted) < count:
                    assert time.monotonic() < deadline, f"only {len(accepted)} accepted; failures {failures[:3]}"
                    await asyncio.sleep(0.02)

            clients = [asyncio.create_task(client(c)) for c in range(6)]
            await until(60)
            # Rolling restart of the servers, one at a time, under load.
            for index in (0, 1):
                await asyncio.to_thread(stop_gracefully, servers[index])
                servers[index] = await asyncio.to_thread(d.serve, index)
                await until(len(accepted) + 40)
            # The worker: SIGTERM mid-delivery hands back its claims and leases at once.
            assert httpx.get(d.sink_url + "/_stats").json()["accepted"] > 0
            await asyncio.to_thread(stop_gracefully, worker)
            state = await _db_state(deploy_db_url)
            assert state["locked"] == 0 and state["leases"] == 0 and state["workers"] == 0, state
            worker = await asyncio.to_thread(d.worker)
            await until(len(accepted) + 40)
            stop.set()
            await asyncio.gather(*clients)

        assert not failures, f"{len(failures)} requests failed through nginx: {failures[:5]}"
        assert answers and all(code == 200 for code in answers)

        deadline = time.monotonic() + 90
        while True:
            statuses = await _statuses(deploy_db_url)
            if all(statuses.get(i) == "sent" for i in accepted):
                break
            assert time.monotonic() < deadline, f"not all sent: {sum(1 for i in accepted if statuses.get(i) != 'sent')} of {len(accepted)}"
            await asyncio.sleep(0.2)
        sends = httpx.get(d.sink_url + "/_accepted").json()
        duplicates = {i: len(s) for i, s in sends.items() if len(s) > 1}
        assert not duplicates, f"sent more than once: {list(duplicates.items())[:5]}"
        assert set(accepted) <= set(sends) and len(sends) == len(accepted)
        print(f"\n[deployment] {len(accepted)} messages through nginx across 2 server and 1 worker restarts: all sent once ({len(retried)} retries with the same Idempotency-Key)")

        # Metrics: the servers count what they accepted, the worker what it sent.
        worker_metrics = httpx.get(f"http://127.0.0.1:{d.worker_metrics_port}/metrics").text
        sent_line = re.search(r'^wacast_message_status_total\{project="shop",status="sent"\} (\S+)$', worker_metrics, re.M)
        assert sent_line and float(sent_line.group(1)) > 0
        assert re.search(r'^wacast_queue_depth\{project="shop",sender="1098765"\} 0\.0$', worker_metrics, re.M)
        server_metrics = httpx.get(f"http://127.0.0.1:{d.serve_ports[0]}/metrics").text
        assert re.search(r'^wacast_messages_accepted_total\{project="shop"\} \d', server_metrics, re.M)
        assert 'route="/campaign/{slug}/api/v2",status="200"' in server_metrics
    finally:
        d.close()

    # The logs: JSON lines, request ids and message ids on the request lines, no secret anywhere.
    wacast_logs = [p for p in d.logs if p.name.startswith(("serve", "worker"))]
    text = "\n".join(p.read_text() for p in wacast_logs)
    for secret in (api_key, ACCESS_TOKEN, APP_SECRET, SECRET_KEY):
        assert secret not in text, "a secret reached the logs"
    request_lines = 0
    for path in wacast_logs:
        for line in path.read_text().splitlines():
            if not line.startswith("{"):
                continue  # uvicorn's own startup banner on stdout is not ours
            record = json.loads(line)
            if record.get("logger") == "wacast.access" and record.get("path") == "/campaign/t1/api/v2":
                request_lines += 1
                assert record["request_id"].startswith("load-")
                if record["status"] == 200:
                    assert accepted.get(record["submitted_message_id"]) == record["request_id"]
    assert request_lines >= len(accepted)


async def test_sigterm_of_the_embedded_server_under_load_loses_and_duplicates_nothing(db_url: str, tmp_path: Path) -> None:
    """`make run`'s shape, one `wacast serve` with its dispatcher inside, on both backends:
    SIGTERM while requests flow and sends are in flight, then a restart."""
    d = Deployment(db_url, tmp_path)
    d.env.update(WACAST_ENVIRONMENT="development", WACAST_LOG_FORMAT="json")
    port = d.serve_ports[0]
    base = f"http://127.0.0.1:{port}"
    try:
        d.cli("migrate")
        api_key = d.project_with_live_campaign("solo", "2098765", 100)

        def start() -> subprocess.Popen:
            proc = d.spawn([WACAST_BIN, "serve", "--port", str(port)], "embedded")
            d.wait_http(base + "/healthz", proc)
            return proc

        server = start()
        accepted: list[str] = []
        unexpected: list[str] = []
        closed: list[int] = []
        stop = asyncio.Event()
        counter = iter(range(1_000_000))

        async def client() -> None:
            async with httpx.AsyncClient(timeout=30) as http:
                while not stop.is_set():
                    n = next(counter)
                    body = {"apiKey": api_key, "campaignName": "orders", "destination": f"+91{8000000000 + n}",
                            "userName": f"C {n}", "templateParams": [f"C {n}", f"ORD-{n}"]}
                    try:
                        response = await http.post(base + "/campaign/t1/api/v2", json=body)
                    except httpx.ConnectError:
                        await asyncio.sleep(0.05)  # the server is stopping or gone: not accepted, no promise
                        continue
                    except (httpx.RemoteProtocolError, httpx.ReadError):
                        # A kept-alive connection closed by the stopping server as the request left
                        # (HTTP/1.1's keep-alive race; nginx in front absorbs it): no answer, no promise.
                        closed.append(n)
                        await asyncio.sleep(0.05)
                        continue
                    if response.status_code == 200:
                        accepted.append(response.json()["submitted_message_id"])
                    else:
                        unexpected.append(f"{response.status_code}: {response.text[:200]}")

        clients = [asyncio.create_task(client()) for _ in range(6)]
        deadline = time.monotonic() + 60
        while len(accepted) < 150 or httpx.get(d.sink_url + "/_stats").json()["accepted"] < 50:
            assert time.monotonic() < deadline and not unexpected, unexpected[:3]
            await asyncio.sleep(0.02)
        await asyncio.to_thread(stop_gracefully, server)
        state = await _db_state(db_url)
        assert state["locked"] == 0 and state["leases"] == 0 and state["workers"] == 0, state
        stop.set()
        await asyncio.gather(*clients)
        assert not unexpected, unexpected[:3]

        start()
        deadline = time.monotonic() + 90
        while True:
            statuses = await _statuses(db_url)
            if all(statuses.get(i) == "sent" for i in accepted):
                break
            assert time.monotonic() < deadline, f"not all sent: {sum(1 for i in accepted if statuses.get(i) != 'sent')} of {len(accepted)}"
            await asyncio.sleep(0.2)
        sends = httpx.get(d.sink_url + "/_accepted").json()
        assert not {i: s for i, s in sends.items() if len(s) > 1}, "a message was sent twice"
        assert set(accepted) <= set(sends)
        print(f"\n[sigterm] {len(accepted)} accepted around a SIGTERM of the embedded server: all sent once "
              f"({len(closed)} requests met a closing keep-alive connection)")
    finally:
        d.close()


def _children(pid: int) -> list[int]:
    """Live child processes of `pid`, whichever of its threads started them."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return sorted(p for p in found if _alive(p))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def _until_stored_as_sent(db_url: str, message_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (await _statuses(db_url)).get(message_id) != "sent":
        assert time.monotonic() < deadline, f"message {message_id} was never stored as sent"
        await asyncio.sleep(0.1)


async def test_serve_runs_its_loops_in_a_worker_process_it_restarts_and_takes_down_with_it(db_url: str, tmp_path: Path) -> None:
    """WACAST_DISPATCHER_PROCESS (the default): `wacast serve` starts one `wacast worker`
    beside itself, which sends; a worker that dies is started again; a server killed with
    SIGKILL takes its worker with it (the kernel's parent-death signal), and SIGTERM stops both."""
    d = Deployment(db_url, tmp_path)
    d.env.update(WACAST_ENVIRONMENT="development")
    port = d.serve_ports[0]
    base = f"http://127.0.0.1:{port}"
    try:
        d.cli("migrate")
        api_key = d.project_with_live_campaign("solo", "2098766")

        def wait_for(condition, what: str, timeout: float = 30) -> None:  # noqa: ANN001
            deadline = time.monotonic() + timeout
            while not condition():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.1)

        def send(n: int) -> str:
            response = httpx.post(base + "/campaign/t1/api/v2", json={
                "apiKey": api_key, "campaignName": "orders", "destination": f"+91{8100000000 + n}",
                "userName": f"C {n}", "templateParams": [f"C {n}", f"ORD-{n}"]}, timeout=10)
            assert response.status_code == 200, response.text
            return response.json()["submitted_message_id"]

        def sent(message_id: str) -> bool:
            return message_id in httpx.get(d.sink_url + "/_accepted").json()

        server = d.spawn([WACAST_BIN, "serve", "--port", str(port)], "serve")
        d.wait_http(base + "/healthz", server)
        wait_for(lambda: len(_children(server.pid)) == 1, "the worker process")
        [first_worker] = _children(server.pid)
        first = send(1)
        wait_for(lambda: sent(first), "the worker process to send")
        # The sink sees a send before the worker commits its outcome: kill it only once "sent" is stored,
        # or its claim is rightly left for the lease to expire and the state check below sees it.
        await _until_stored_as_sent(db_url, first)

        os.kill(first_worker, signal.SIGKILL)
        wait_for(lambda: _children(server.pid) and _children(server.pid) != [first_worker], "a new worker process")
        second = send(2)
        wait_for(lambda: sent(second), "the new worker process to send")
        await _until_stored_as_sent(db_url, second)

        [worker] = _children(server.pid)
        server.kill()
        server.wait()
        wait_for(lambda: not _alive(worker), "the worker to go with its server")

        server = d.spawn([WACAST_BIN, "serve", "--port", str(port)], "serve-again")
        d.wait_http(base + "/healthz", server)
        wait_for(lambda: len(_children(server.pid)) == 1, "the worker process")
        [worker] = _children(server.pid)
        stop_gracefully(server)
        assert not _alive(worker), "SIGTERM stops the worker before the server exits"
        state = await _db_state(db_url)
        # Its claims and leases handed back (the SIGKILLed worker's heartbeat row stays until it expires).
        assert state["locked"] == 0 and state["leases"] == 0 and state["workers"] <= 1, state
    finally:
        d.close()
