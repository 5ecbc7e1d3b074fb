"""Operations, in process on SQLite and PostgreSQL: /readyz says whether messages flow and why
not, /metrics counts the flow (fake Meta on loopback), request ids and JSON logs without
secrets, secrets encrypted at rest and rotated, configuration errors, and `wacast doctor`."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from prometheus_client import REGISTRY
from sqlalchemy import text, update
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.cloud import make_cloud_project
from tests.support.factories import body, make_project
from wacast.app import create_app
from wacast.db.migrate import head_revision, upgrade
from wacast.kit import crypto, logs
from wacast.kit.crypto import SecretBox, SecretKeyError
from wacast.ops import config_check, doctor
from wacast.ops.secrets import rotate
from wacast.models.projects import Project

URL = "/campaign/t1/api/v2"
META_TOKEN_LIKE = "EAAGm0PX4ZCpsBAKZAZBsecretsecretsecret1234"
METRICS_TOKEN = "ops-metrics-token-0123456789"
WITH_TOKEN = {"Authorization": f"Bearer {METRICS_TOKEN}"}  # /metrics, and /readyz with names


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    # Fresh figures on every call (the scrape-time cache is for production), Meta is the fake.
    return settings.model_copy(update={"metrics_cache_seconds": 0, "graph_api_url": fake_meta.base_url, "metrics_token": METRICS_TOKEN})


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_readyz_says_whether_messages_flow_and_why_not(client, db, dispatcher, settings):
    setup = await make_project(db, "acme")
    async with db.transaction() as session:
        await session.execute(update(Project).where(Project.id == setup.project_id).values(access_token=META_TOKEN_LIKE))

    response = await client.get("/readyz", headers=WITH_TOKEN)
    assert response.status_code == 503
    data = response.json()
    assert data["status"] == "unavailable"
    assert data["checks"]["database"]["ok"] and data["checks"]["migrations"]["ok"]
    assert not data["checks"]["dispatcher"]["ok"] and any("no live dispatcher" in p for p in data["problems"])

    sent = await client.post(URL, json=body(setup))
    assert sent.status_code == 200
    data = (await client.get("/readyz", headers=WITH_TOKEN)).json()
    acme = next(s for s in data["senders"] if s["project"] == "acme")
    assert acme["queued"] == 1 and acme["due"] == 1 and acme["dispatcher"] is None
    assert any("acme: 1 message(s) queued but no live dispatcher" in p for p in data["problems"])

    await dispatcher.refresh_leases()
    response = await client.get("/readyz", headers=WITH_TOKEN)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["status"] == "ok" and data["problems"] == []
    acme = next(s for s in data["senders"] if s["project"] == "acme")
    assert acme["dispatcher"] == dispatcher.worker_id and acme["ok"]
    assert data["checks"]["dispatcher"]["live_workers"] == 1
    assert data["checks"]["outbound_webhooks"]["pending"] == 0

    # A message due for ten minutes and not sent: the queue is stuck for this number.
    from datetime import timedelta

    from wacast.kit.clock import utcnow
    from wacast.models.messages import Message

    async with db.transaction() as session:
        await session.execute(update(Message).where(Message.project_id == setup.project_id).values(next_attempt_at=utcnow() - timedelta(minutes=10)))
    data = (await client.get("/readyz", headers=WITH_TOKEN)).json()
    assert data["status"] == "degraded"
    assert any("acme: 1 message(s) due and not sent; the oldest has been due for 6" in p for p in data["problems"]), data["problems"]
    metrics_text = (await client.get("/metrics", headers=WITH_TOKEN)).text
    assert re.search(r'^wacast_queue_oldest_due_age_seconds\{project="acme",sender="[^"]+"\} 6\d\d\.', metrics_text, re.M)
    async with db.transaction() as session:
        await session.execute(update(Message).where(Message.project_id == setup.project_id).values(next_attempt_at=utcnow()))

    # Meta refused the sender: still ready (the API accepts), but degraded, saying why and what to do.
    async with db.transaction() as session:
        await session.execute(update(Project).where(Project.id == setup.project_id)
                              .values(halted_reason="Meta refused the sender (190): Access token has expired"))
    response = await client.get("/readyz", headers=WITH_TOKEN)
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "degraded"
    assert any("acme: sending halted: Meta refused the sender (190)" in p and "--clear-halt" in p for p in data["problems"])
    assert META_TOKEN_LIKE not in response.text and settings.secret_key not in response.text

    # A database behind the code: not ready until `wacast migrate`.
    async with db.transaction() as session:
        await session.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    try:
        response = await client.get("/readyz", headers=WITH_TOKEN)
        assert response.status_code == 503
        assert any("run `wacast migrate`" in p for p in response.json()["problems"])
    finally:
        async with db.transaction() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()})


async def test_metrics_count_the_flow_per_project_and_error_code(client, db, dispatcher, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, "metrics-shop", phone_number_id="5550001")
    before = {
        "accepted": sample("wacast_messages_accepted_total", project="metrics-shop"),
        "sent": sample("wacast_message_status_total", project="metrics-shop", status="sent"),
        "delivered": sample("wacast_message_status_total", project="metrics-shop", status="delivered"),
        "failed": sample("wacast_messages_failed_total", project="metrics-shop", error_code="131026"),
        "throughput": sample("wacast_meta_throughput_reached_total", project="metrics-shop"),
        "latency": sample("wacast_provider_request_seconds_count", provider="cloud", outcome="ok"),
        "lag": sample("wacast_webhook_intake_lag_seconds_count", source="meta"),
    }
    fake_meta.inject(131026, times=1, to="+917400000002")  # undeliverable: permanent
    fake_meta.inject(130429, times=1, to="+917400000003")  # throughput reached: retried later
    ids = []
    for n in (1, 2, 3):
        response = await client.post(URL, json=body(setup, destination=f"+91740000000{n}"))
        assert response.status_code == 200
        ids.append(response.json()["submitted_message_id"])
    stream = io.StringIO()
    handler = logs.configure_logging("info", "json", stream)
    try:
        await dispatcher.run_until_idle()
    finally:
        logging.getLogger().removeHandler(handler)
    # The dispatcher's lines about a send carry that message's submitted_message_id.
    refusals = {r["submitted_message_id"]: r for r in map(json.loads, stream.getvalue().splitlines()) if r["logger"] == "wacast.send"}
    assert refusals[ids[1]]["error_code"] == 131026 and refusals[ids[1]]["level"] == "warning"
    assert refusals[ids[2]]["error_code"] == 130429 and refusals[ids[2]]["level"] == "info"
    assert ids[0] not in refusals and fake_meta.token not in stream.getvalue()

    # Meta reports the first one delivered (a signed webhook), processed by the dispatcher.
    first = next(s for s in fake_meta.accepted() if s.message_id == ids[0])
    raw, headers = fake_meta.signed(fake_meta.status_body(first, "delivered"))
    assert (await client.post("/webhooks/whatsapp", content=raw, headers=headers)).status_code == 200
    await dispatcher.run_until_idle()

    assert sample("wacast_messages_accepted_total", project="metrics-shop") - before["accepted"] == 3
    assert sample("wacast_message_status_total", project="metrics-shop", status="sent") - before["sent"] == 1
    assert sample("wacast_message_status_total", project="metrics-shop", status="delivered") - before["delivered"] == 1
    assert sample("wacast_messages_failed_total", project="metrics-shop", error_code="131026") - before["failed"] == 1
    assert sample("wacast_meta_throughput_reached_total", project="metrics-shop") - before["throughput"] == 1
    assert sample("wacast_provider_request_seconds_count", provider="cloud", outcome="ok") - before["latency"] == 1
    assert sample("wacast_webhook_intake_lag_seconds_count", source="meta") - before["lag"] >= 1

    response = await client.get("/metrics", headers=WITH_TOKEN)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    exposition = response.text
    # The 130429 message waits for its retry: the queue shows it, with its age.
    assert re.search(r'^wacast_queue_depth\{project="metrics-shop",sender="5550001"\} 1\.0$', exposition, re.M)
    assert re.search(r'^wacast_queue_oldest_age_seconds\{project="metrics-shop",sender="5550001"\} [0-9.e+-]+$', exposition, re.M)
    assert re.search(r'^wacast_sender_served\{project="metrics-shop",sender="5550001"\} 1\.0$', exposition, re.M)
    assert 'wacast_http_request_duration_seconds_count{method="POST",route="/campaign/{slug}/api/v2",status="200"}' in exposition
    assert re.search(r"^wacast_outbound_webhook_backlog \d+\.0$", exposition, re.M)
    assert fake_meta.token not in exposition


async def test_metrics_bearer_token(settings, tmp_path):
    guarded = create_app(settings.model_copy(update={"metrics_token": "scrape-token-0123456789"}), run_dispatcher=False)
    import httpx

    async with guarded.router.lifespan_context(guarded):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url="http://wacast.test") as c:
            refused = await c.get("/metrics")
            assert refused.status_code == 401 and refused.json()["code"] == "UNAUTHORIZED"
            assert (await c.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
            assert (await c.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})).status_code == 200
            assert (await c.get("/readyz")).status_code in (200, 503)  # never behind the token


async def test_request_ids_and_json_logs_without_secrets(client, db):
    setup = await make_project(db, "logs-shop")
    stream = io.StringIO()
    handler = logs.configure_logging("info", "json", stream)
    try:
        response = await client.post(URL, json=body(setup), headers={"X-Request-Id": "crm-req-42"})
        assert response.status_code == 200 and response.headers["x-request-id"] == "crm-req-42"
        message_id = response.json()["submitted_message_id"]
        generated = await client.post(URL, json=body(setup), headers={"X-Request-Id": "bad id with spaces"})
        assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
        refused = await client.post(URL, json={**body(setup), "campaignName": "nope"}, headers={"X-Request-Id": "crm-req-43"})
        assert refused.status_code == 400
        logging.getLogger("wacast.test").info("token in a careless line: access_token=%s and Bearer %s", META_TOKEN_LIKE, setup.api_key)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ours = [r for r in lines if r.get("request_id") == "crm-req-42"]
    assert ours and all(r["submitted_message_id"] == message_id for r in ours if r["logger"] == "wacast.access")
    access = next(r for r in ours if r["logger"] == "wacast.access")
    assert access["route"] == "/campaign/{slug}/api/v2" and access["status"] == 200 and access["path"] == URL
    assert any(r.get("request_id") == "crm-req-43" and r.get("status") == 400 for r in lines)
    raw = stream.getvalue()
    assert setup.api_key not in raw and META_TOKEN_LIKE not in raw
    assert "access_token=[REDACTED]" in raw


def test_redaction_patterns():
    logs.register_secret("my-exact-app-secret-value")
    assert logs.redact("app secret my-exact-app-secret-value here") == "app secret [REDACTED] here"
    assert "wac_" not in logs.redact("key wac_AbCdEfGhIjKlMnOpQrStUvWxYz012345")
    assert "EAAG" not in logs.redact("token EAAGm0PX4ZCpsBAKZAZB1234567890abcdef")
    assert logs.redact('{"apiKey": "k-123456789"}') == '{"apiKey": "[REDACTED]"}'
    assert logs.redact("postgresql://wacast:hunter22@db/wacast") == "postgresql://wacast:[REDACTED]@db/wacast"
    assert logs.redact("Authorization: Bearer abc.def.ghi-123") == "Authorization: Bearer [REDACTED]"


async def test_access_tokens_encrypted_at_rest_and_rotated(db, settings):
    from wacast.projects import service as projects

    async with db.transaction() as session:
        project_id = (await projects.create(session, "vault", phone_number_id="7001", access_token=META_TOKEN_LIKE)).id
    old_key, new_key = settings.secret_keys[0], crypto.generate_key()

    async def raw_token() -> str:
        async with db.sessionmaker() as session:
            return (await session.execute(text("SELECT access_token FROM projects WHERE name = 'vault'"))).scalar_one()

    async def token() -> str:
        async with db.sessionmaker() as session:
            return (await session.get(Project, project_id)).access_token

    stored = await raw_token()
    assert stored.startswith("gAAAAA") and META_TOKEN_LIKE not in stored
    assert await token() == META_TOKEN_LIKE
    try:
        crypto.configure([new_key, old_key])  # the new key first, the old one still decrypts
        assert await token() == META_TOKEN_LIKE
        assert (await rotate(db))["projects.access_token"] == 1
        rotated = await raw_token()
        assert rotated != stored and SecretBox([new_key]).decrypt(rotated) == META_TOKEN_LIKE
        crypto.configure([new_key])  # the old key dropped
        assert await token() == META_TOKEN_LIKE
        crypto.configure([old_key])  # the wrong key: a clear error, never garbage
        with pytest.raises(SecretKeyError, match="WACAST_SECRET_KEY"):
            await token()
        # A token stored before encryption existed still reads, and rotate encrypts it.
        crypto.configure([new_key])
        async with db.transaction() as session:
            await session.execute(text("UPDATE projects SET access_token = :t WHERE name = 'vault'"), {"t": "EAAplainlegacytoken"})
        assert await token() == "EAAplainlegacytoken"
        await rotate(db)
        assert (await raw_token()).startswith("gAAAAA") and await token() == "EAAplainlegacytoken"
    finally:
        crypto.configure(settings.secret_keys)


def test_migration_encrypts_tokens_stored_in_plaintext(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0005")
    import sqlite3

    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute(
            "INSERT INTO projects (id, name, default_country, messages_per_second, timezone, opt_out_keywords, opt_out_payloads, created_at, access_token, phone_number_id) "
            "VALUES ('0123456789abcdef0123456789abcdef', 'legacy', 'IN', 80, 'Asia/Kolkata', '[]', '[]', '2026-01-01 00:00:00', 'EAAlegacyplaintext123', '99')"
        )
    key = crypto.generate_key()
    monkeypatch.setenv("WACAST_SECRET_KEY", key)
    upgrade(url)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        stored = conn.execute("SELECT access_token FROM projects WHERE name = 'legacy'").fetchone()[0]
    assert stored.startswith("gAAAAA") and SecretBox([key]).decrypt(stored) == "EAAlegacyplaintext123"


def test_configuration_errors_one_per_problem(monkeypatch):
    for name in [n for n in os.environ if n.startswith("WACAST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WACAST_ENVIRONMENT", "production")
    monkeypatch.setenv("WACAST_DATABSE_URL", "postgresql://x@db/wacast")
    monkeypatch.setenv("WACAST_GRAPH_API_URL", "ftp://graph")
    monkeypatch.setenv("WACAST_DATABASE_URL", "mysql://db/wacast")
    with pytest.raises(config_check.ConfigError) as error:
        config_check.load()
    problems = error.value.problems
    assert len(problems) == 4, problems
    assert any(p.startswith("WACAST_DATABSE_URL: unknown setting (did you mean WACAST_DATABASE_URL?)") and "WACAST_LOG_FORMAT" in p for p in problems)
    assert any(p.startswith("WACAST_GRAPH_API_URL:") for p in problems)
    assert any(p.startswith("WACAST_DATABASE_URL: backend 'mysql'") for p in problems)
    assert any(p.startswith("WACAST_SECRET_KEY: not set") for p in problems)

    monkeypatch.setenv("WACAST_PORT", "eighty")
    with pytest.raises(config_check.ConfigError) as error:
        config_check.load()
    assert any(p.startswith("WACAST_PORT:") and "eighty" in p for p in error.value.problems)


def test_serve_refuses_to_start_with_bad_configuration(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_ENVIRONMENT="production", WACAST_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", WACAST_LOG_LEVL="debug")
    result = subprocess.run([sys.executable, "-m", "wacast.cli", "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("config error: ")]
    assert len(errors) == 2, result.stderr
    assert any("WACAST_LOG_LEVL: unknown setting (did you mean WACAST_LOG_LEVEL?)" in e for e in errors)
    assert any("WACAST_SECRET_KEY: not set" in e for e in errors)


class _LiveApp:
    """A wacast app served by uvicorn on loopback (the URL Meta would call)."""

    def __init__(self, app) -> None:  # noqa: ANN001
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=lambda: self.server.run(sockets=[sock]), daemon=True)

    def __enter__(self) -> _LiveApp:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


async def test_doctor_checks_meta_and_says_what_to_fix(db, settings, fake_meta, tmp_path):
    phone = {"id": "1098765", "display_phone_number": "+1 555-078-3881", "verified_name": "Acme", "status": "CONNECTED",
             "quality_rating": "GREEN", "platform_type": "CLOUD_API", "throughput": {"level": "STANDARD"}, "messaging_limit_tier": "TIER_2K"}

    async def node(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {fake_meta.token}":
            return JSONResponse({"error": {"message": "Error validating access token: Session has expired", "code": 190, "type": "OAuthException"}}, 401)
        if request.path_params["node"] == phone["id"]:
            return JSONResponse(phone)
        return JSONResponse({"error": {"message": "Unsupported get request", "code": 100}}, 400)

    async def subscribed(request: Request) -> JSONResponse:
        return JSONResponse({"data": [{"whatsapp_business_api_data": {"id": "1", "name": "Acme wacast"}}]})

    fake_meta.app.router.routes[:0] = [Route("/{version}/{node}/subscribed_apps", subscribed), Route("/{version}/{node}", node)]
    await make_cloud_project(db, settings, fake_meta, "acme", phone_number_id="1098765", messages_per_second=200)
    with _LiveApp(create_app(settings, run_dispatcher=False)) as live:
        checked = settings.model_copy(update={"public_url": live.url})
        results = {c.name: c for c in await doctor.run(checked, "acme")}
    assert results["database"].status == "ok"
    assert results["project"].status == "ok"
    assert results["access token"].status == "ok"
    assert results["registration"].status == "ok" and "CONNECTED" in results["registration"].detail
    assert results["throughput"].status == "warn" and "--messages-per-second 80" in results["throughput"].fix
    assert results["webhook subscription"].status == "ok"
    assert results["templates"].status == "ok"
    assert results["webhook URL"].status == "warn" and "answers the handshake but over http" in results["webhook URL"].detail
    assert results["dispatcher"].status == "fail" and "wacast worker" in results["dispatcher"].fix

    # The CLI, on an expired token: exit 1, and the fix names the command to run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=settings.database_url, WACAST_GRAPH_API_URL=fake_meta.base_url, WACAST_SECRET_KEY=settings.secret_key,
               WACAST_META_APP_SECRET="x" * 12, WACAST_META_VERIFY_TOKEN="y" * 12)
    fake_meta.token = "rotated-by-meta"
    result = subprocess.run([sys.executable, "-m", "wacast.cli", "doctor", "--project", "acme", "--json"], env=env,
                            capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 1, result.stderr
    report = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert report["access token"]["status"] == "fail" and "(190)" in report["access token"]["detail"]
    assert "wacast projects update acme --access-token" in report["access token"]["fix"]
    assert report["webhook URL"]["status"] == "warn" and "WACAST_PUBLIC_URL" in report["webhook URL"]["detail"]
