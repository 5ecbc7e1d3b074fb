"""Two real `wacast worker` processes against one database (PostgreSQL in CI) and the fake
Meta: each number is served by one worker at a time, a second worker gets its fair share, a
worker killed with SIGKILL mid-send leaves its claimed messages to come back after the lease,
every message is sent exactly once except inside the documented crash window (docs/delivery.md),
and the fake Meta's log shows no one-second window above a number's cap."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from wacast.models.messages import Message
from wacast.models.projects import SenderLease
from tests.conftest import PG_URL
from tests.support.cloud import make_cloud_project
from tests.support.factories import body
from tests.support.fake_meta import FakeMeta, max_in_window

ROOT = Path(__file__).resolve().parents[2]
CAP = 25
PER_NUMBER = 150


@pytest.fixture(params=["postgresql" if PG_URL else "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """PostgreSQL whenever it is configured (CI); SQLite only where there is none."""
    return request.param


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url})


def worker(env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "wacast.cli", "worker"], env=env, cwd=ROOT, stdout=out, stderr=out)


async def wait_for(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)  # gently: the fake Meta shares this process and stamps arrivals


async def test_two_workers_each_message_once_and_the_cap_held(client, db, settings, db_url, tmp_path):
    # The fake Meta runs in its own process here, so its arrival times (Meta's count) do not
    # wait for this process's GIL. Its sends take 200 ms: the kill lands mid-send.
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        fake_port = sock.getsockname()[1]
    fake_url = f"http://127.0.0.1:{fake_port}"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    with (tmp_path / "fake_meta.log").open("ab") as out:
        fake = subprocess.Popen([sys.executable, "-m", "tests.support.fake_meta", "--port", str(fake_port), "--latency", "0.2"],
                                env={**base_env, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}, cwd=ROOT, stdout=out, stderr=out)
    procs = [fake]
    http = httpx.AsyncClient(timeout=10)

    async def log() -> list[dict]:
        return (await http.get(fake_url + "/_control/sends")).json()

    async def accepted_count() -> int:
        return sum(1 for s in await log() if s["wamid"])

    try:
        async def fake_up() -> bool:
            try:
                return (await http.get(fake_url + "/_control/sends")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(fake_up, 30, "the fake Meta")
        settings = settings.model_copy(update={"graph_api_url": fake_url})
        numbers = ("111", "222")
        setups = [await make_cloud_project(db, settings, FakeMeta(), f"p{n}", phone_number_id=n, messages_per_second=CAP,
                                           campaigns_for=("order_update",)) for n in numbers]
        ids: list[str] = []
        for k, setup in enumerate(setups):
            for i in range(PER_NUMBER):
                response = await client.post("/campaign/t1/api/v2", json=body(setup, destination=f"+9198{k}{i:07d}"))
                assert response.status_code == 200, response.text
                ids.append(response.json()["submitted_message_id"])

        env = {**base_env, "WACAST_DATABASE_URL": db_url, "WACAST_GRAPH_API_URL": fake_url, "WACAST_SENDER_LEASE_SECONDS": "2",
               "WACAST_MESSAGE_LEASE_SECONDS": "4", "WACAST_DISPATCHER_POLL_SECONDS": "0.05", "WACAST_TEMPLATE_SYNC_MINUTES": "0",
               "WACAST_LOG_LEVEL": "warning", "WACAST_SECRET_KEY": settings.secret_key, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
        first = worker(env, tmp_path / "first.log")
        procs.append(first)

        async def sent_at_least(n: int):  # noqa: ANN202
            return await accepted_count() >= n

        await wait_for(lambda: sent_at_least(40), 60, "the first worker to send")
        second = worker(env, tmp_path / "second.log")
        procs.append(second)

        async def both_hold() -> bool:
            async with db.sessionmaker() as session:
                rows = (await session.execute(select(SenderLease.holder))).scalars().all()
            return len({h for h in rows if h}) == 2

        await wait_for(both_hold, 30, "the second worker to get its fair share")
        # One number each, now: neither is ever served by both.
        await wait_for(lambda: sent_at_least(150), 60, "more sends")
        assert first.poll() is None
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()

        async def all_sent() -> bool:
            async with db.sessionmaker() as session:
                rows = (await session.execute(select(Message.status))).scalars().all()
            return len(rows) == len(ids) and set(rows) == {"sent"}

        await wait_for(all_sent, 90, "the surviving worker to send everything (the killed one's leases run out)")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
        sends = await log()
    finally:
        await http.aclose()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    by_message: dict[str, list[dict]] = {}
    for send in sends:
        if send["wamid"]:
            by_message.setdefault(send["message_id"], []).append(send)
    assert set(by_message) == set(ids)
    twice = 0
    for message_id in ids:
        accepted = by_message[message_id]
        if len(accepted) > 1:
            # The documented window: Meta accepted it just before the kill, the outcome was never recorded.
            # (Meta's answer time, 0.2 s, plus a dispatcher round or two; 2 s is generous.)
            first_send = accepted[0]["arrived"]
            assert len(accepted) == 2 and killed_at - 2.0 <= first_send <= killed_at, (
                f"{message_id} sent twice outside the crash window ({first_send - killed_at:.2f} s from the kill)")
            twice += 1
    async with db.sessionmaker() as session:
        wamids = {str(r.id): r.wamid for r in (await session.execute(select(Message.id, Message.wamid))).all()}
    assert all(wamids[m] in {s["wamid"] for s in by_message[m]} for m in ids)
    windows = {n: max_in_window([s["arrived"] for s in sends if s["phone_number_id"] == n]) for n in numbers}
    if os.environ.get("WACAST_DIAG"):
        import bisect
        for n in numbers:
            times = sorted(s["arrived"] for s in sends if s["phone_number_id"] == n)
            i = max(range(len(times)), key=lambda i: bisect.bisect_right(times, times[i] + 1.0) - i)
            print("DIAG", n, "window at", round(times[i] - killed_at, 3), "from the kill:", [round(t - times[i], 3) for t in times[max(0, i - 3): i + 30]])
    for number in numbers:
        assert windows[number] <= CAP, (number, windows)
        assert len({s["message_id"] for s in sends if s["phone_number_id"] == number and s["wamid"]}) == PER_NUMBER
    if os.environ.get("WACAST_DIAG"):
        firsts = sorted(round(by_message[m][0]["arrived"] - killed_at, 3) for m in ids if len(by_message[m]) > 1)
        print("DIAG first sends of duplicates, relative to the kill:", firsts)
    print(f"\n[two workers] {len(ids)} messages; {twice} sent twice inside the crash window; "
          f"max per 1 s window: {windows} (cap {CAP})")


async def _true(value: bool) -> bool:
    return value


async def test_a_real_server_follows_metas_signed_webhooks_to_delivered(db, settings, fake_meta, db_url, tmp_path):
    """`wacast serve` (dispatcher inside) sends to the fake Meta, which posts signed `sent` and
    `delivered` webhooks back over HTTP to /webhooks/whatsapp: the message follows them."""
    import socket

    import httpx

    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    fake_meta.webhook_url = base + "/webhooks/whatsapp"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url, WACAST_GRAPH_API_URL=fake_meta.base_url, WACAST_PORT=str(port),
               WACAST_META_APP_SECRET=fake_meta.app_secret, WACAST_META_VERIFY_TOKEN="verify-me", WACAST_SECRET_KEY=settings.secret_key,
               WACAST_DISPATCHER_POLL_SECONDS="0.05", WACAST_TEMPLATE_SYNC_MINUTES="0", WACAST_LOG_LEVEL="warning", PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}")
    with (tmp_path / "serve.log").open("ab") as out:
        server = subprocess.Popen([sys.executable, "-m", "wacast.cli", "serve"], env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            async def up() -> bool:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
                try:
                    return (await http.get(base + "/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_for(up, 30, "wacast serve")
            challenge = await http.get(base + "/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "42"})
            assert challenge.text == "42"
            response = await http.post(base + "/campaign/t1/api/v2", json=body(setup, destination="+917428520001"))
            assert response.status_code == 200, response.text
            message_id = response.json()["submitted_message_id"]
            auth = {"Authorization": f"Bearer {setup.api_key}"}

            async def delivered() -> bool:
                return (await http.get(f"{base}/api/v1/messages/{message_id}", headers=auth)).json()["status"] == "delivered"

            await wait_for(delivered, 30, "the delivered webhook to be applied")
            data = (await http.get(f"{base}/api/v1/messages/{message_id}", headers=auth)).json()
        [send] = fake_meta.accepted()
        assert data["wamid"] == send.wamid and data["pricing_category"] == "utility"
        assert [e["status"] for e in data["events"]] == ["queued", "sent", "delivered"]
        assert [code for code, _ in fake_meta.webhooks_posted] == [200, 200]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
