"""Failures in the sandbox, on both backends: a project's failure rule (set through the use case
the inbox page and `wacast sandbox fail` share) and the WACAST_SANDBOX_FAIL_* default make
sends fail with Meta's codes, refused at the send (the dispatcher's retry policy applies) or
reported by a failed status webhook (the inbound status path); the campaign's failure views
then show them. Also: the CLI (run as a process), the inbox page's rule form and its search
and pages, fast with thousands of messages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import insert, select, update

from tests.support.delivery import DeliveryDriver
from tests.support.factories import body, make_project
from wacast.app import build_providers
from wacast.campaigns import analytics
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.messages.dispatcher import Dispatcher
from wacast.models.contacts import Contact
from wacast.models.messages import Message, MessageEvent, Reply
from wacast.models.projects import Project
from wacast.projects import service as projects
from wacast.users import service as users
from wacast.whatsapp import sandbox
from wacast.whatsapp import sandbox_failures as failures
from wacast.whatsapp.inbound import InboundEvents
from wacast.whatsapp.sandbox import SandboxProvider

URL = "/campaign/t1/api/v2"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
_numbers = iter(range(10**6))


def number() -> str:
    return f"+9174286{next(_numbers):05d}"


async def send(client: httpx.AsyncClient, setup, destination: str | None = None, **fields) -> str:
    response = await client.post(URL, json=body(setup, destination=destination or number(), **fields))
    assert response.status_code == 200, response.text
    return response.json()["submitted_message_id"]


async def set_rule(db, setup, given) -> dict:
    async with db.transaction() as session:
        project = await projects.get(session, setup.project_id)
        return await sandbox.set_failure_rule(session, project, given, failures.OFF)


async def message_of(db, message_id: str) -> Message:
    async with db.sessionmaker() as session:
        return await session.get(Message, uuid.UUID(message_id))


async def kinds_of(db, message_id: str) -> list[str]:
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(MessageEvent.kind).where(MessageEvent.message_id == uuid.UUID(message_id))
                                      .order_by(MessageEvent.occurred_at, MessageEvent.id))).scalars().all()
    return list(rows)


async def test_numbers_fail_at_the_send_with_their_codes_and_the_others_go_through(client, db, dispatcher) -> None:
    setup = await make_project(db)
    undeliverable, opted_out, fine = number(), number(), number()
    view = await set_rule(db, setup, {"numbers": f"{undeliverable}, {opted_out}=131050", "mode": "sync"})
    assert view["source"] == "project" and view["active"]
    ids = [await send(client, setup, undeliverable), await send(client, setup, opted_out), await send(client, setup, fine)]
    await dispatcher.run_until_idle()
    first, second, third = [await message_of(db, i) for i in ids]
    assert (first.status, first.error_code, first.attempts, first.wamid) == ("failed", 131026, 1, None)
    assert "Message undeliverable" in first.error_title
    assert (second.status, second.error_code) == ("failed", 131050)
    assert third.status == "read" and third.error_code is None
    async with db.sessionmaker() as session:
        contact = await session.get(Contact, second.contact_id)
    assert contact.opted_in is False  # 131050 at the send opts the contact out, as the retry policy says
    # The campaign's failure views: failures by Meta code, and the Failed audience.
    async with db.sessionmaker() as session:
        by_code = {g.code: g.count for g in await analytics.failures(session, setup.project_id, first.campaign_id)}
        audience = await analytics.audience(session, setup.project_id, first.campaign_id, "FAILED", limit=50)
    assert by_code == {131026: 1, 131050: 1}
    assert sorted(m.phone for m in audience.items) == sorted([undeliverable, opted_out])


async def test_a_retryable_code_is_retried_then_fails(client, db, dispatcher, settings) -> None:
    setup = await make_project(db)
    dispatcher.settings = settings.model_copy(update={"max_send_attempts": 3, "retry_base_seconds": 0, "retry_max_seconds": 0})
    target = number()
    await set_rule(db, setup, {"numbers": f"{target}=131000"})
    message_id = await send(client, setup, target)
    await dispatcher.run_until_idle()
    message = await message_of(db, message_id)
    assert (message.status, message.error_code, message.attempts) == ("failed", 131000, 3)
    assert "gave up after 3 attempts" in message.error_title
    assert sorted(await kinds_of(db, message_id)) == ["failed", "queued", "retry", "retry"]


async def test_webhook_mode_accepts_then_a_failed_status_webhook_fails_the_message(client, db, dispatcher) -> None:
    setup = await make_project(db)
    target = number()
    await set_rule(db, setup, {"numbers": f"{target}=131049", "mode": "webhook"})
    message_id = await send(client, setup, target)
    await dispatcher.run_until_idle()
    message = await message_of(db, message_id)
    assert message.wamid and message.wamid.startswith("wamid.SANDBOX")
    assert (message.status, message.error_code, message.attempts) == ("failed", 131049, 1)
    assert message.error_title.startswith("This message was not delivered")
    assert message.delivered_at is None and message.read_at is None
    # (the webhook's time is in whole seconds, as Meta's: the timeline orders within a second)
    assert sorted(await kinds_of(db, message_id)) == ["failed", "queued", "sent"]
    response = await client.get(f"/api/v1/messages/{message_id}", headers={"Authorization": f"Bearer {setup.api_key}"})
    assert response.json()["error"]["code"] == 131049


async def test_a_share_fails_exactly_the_messages_their_ids_choose(client, db, dispatcher) -> None:
    setup = await make_project(db)
    await set_rule(db, setup, {"rate": 40, "code": 130472, "mode": "webhook"})
    ids = [await send(client, setup) for _ in range(30)]
    await dispatcher.run_until_idle()
    expected_failed = {i for i in ids if failures.share_of(i) < 40}
    assert 0 < len(expected_failed) < len(ids)  # both sides are exercised
    statuses = {i: (await message_of(db, i)) for i in ids}
    assert {i for i, m in statuses.items() if m.status == "failed"} == expected_failed
    assert {m.error_code for i, m in statuses.items() if i in expected_failed} == {130472}
    assert {m.status for i, m in statuses.items() if i not in expected_failed} == {"read"}


async def test_a_changed_rule_applies_at_the_next_lease_refresh_and_off_beats_the_default(client, db, app, settings) -> None:
    """The default from WACAST_SANDBOX_FAIL_* (the provider the runtime builds from the settings)."""
    setup = await make_project(db)
    with_default = settings.model_copy(update={"sandbox_fail_rate": 100, "sandbox_fail_code": 131047})
    providers = build_providers(with_default)
    inbound = InboundEvents(db, with_default)
    driver = DeliveryDriver(Dispatcher(db, with_default, providers, notify_inbound=inbound.wake.set), inbound)
    first = await send(client, setup)
    await driver.run_until_idle()
    assert (await message_of(db, first)).error_code == 131047  # the default: every send fails
    async with db.read() as session:
        project = await projects.get(session, setup.project_id)
        shown = await sandbox.failure_rule(session, project, failures.from_settings(with_default))
    assert shown["source"] == "settings" and shown["rate"] == 100
    await set_rule(db, setup, {"rate": 0})  # the project's own rule: off, whatever the default
    driver.last_lease_refresh = 0.0  # the dispatcher re-reads its projects (every sender_lease_seconds / 3)
    second = await send(client, setup)
    await driver.run_until_idle()
    assert (await message_of(db, second)).status == "read"
    await set_rule(db, setup, None)  # back to the default
    driver.last_lease_refresh = 0.0
    third = await send(client, setup)
    await driver.run_until_idle()
    assert (await message_of(db, third)).error_code == 131047


async def test_the_provider_follows_the_stored_rule_without_reparsing_it_each_send(db) -> None:
    setup = await make_project(db)
    await set_rule(db, setup, {"numbers": "+919812345678"})
    async with db.sessionmaker() as session:
        project = await session.get(Project, setup.project_id)
    provider = SandboxProvider(0, 0, failures.parse_rule({"rate": 100, "code": 131047}))
    rule = provider.rule_for(project)
    assert rule.numbers == (("+919812345678", 131026),) and provider.rule_for(project) is rule
    project.sandbox_failures = None
    assert provider.rule_for(project).code == 131047  # no rule of its own: the default


async def test_bad_input_changes_nothing_and_cloud_projects_have_no_rule(db) -> None:
    setup = await make_project(db)
    await set_rule(db, setup, {"rate": 10, "code": 131026})
    for bad in ({"rate": 200}, {"code": 1}, {"numbers": "12"}, {"mode": "never"}):
        with pytest.raises(WacastError) as caught:
            await set_rule(db, setup, bad)
        assert caught.value.code == "SANDBOX_RULE_INVALID"
    async with db.sessionmaker() as session:
        stored = (await session.execute(select(Project.sandbox_failures).where(Project.id == setup.project_id))).scalar_one()
    assert stored == {"rate": 10.0, "code": 131026, "numbers": [], "mode": "sync"}
    async with db.transaction() as session:
        cloud = await projects.create(session, "cloudy", phone_number_id="123", access_token="token", waba_id="1")
    with pytest.raises(WacastError) as caught:
        async with db.transaction() as session:
            await sandbox.set_failure_rule(session, await projects.get(session, cloud.id), {"rate": 10}, failures.OFF)
    assert caught.value.code == "NOT_SANDBOX" and caught.value.status_code == 409


# --- the CLI, run as a process ------------------------------------------------------------------

CLI = [sys.executable, "-c", "from wacast.cli.sandbox import sandbox_app; sandbox_app(prog_name='wacast sandbox')"]


def cli(settings, *args: str, ok: bool = True, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "WACAST_DATABASE_URL": settings.database_url, "WACAST_ENVIRONMENT": "test", **env}
    result = subprocess.run([*CLI, *args], env=environ, capture_output=True, text=True, timeout=60, check=False)
    if ok:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


async def test_cli_sets_shows_and_clears_the_rule(db, settings) -> None:
    setup = await make_project(db, "demo")
    view = json.loads(cli(settings, "fail", "--project", "demo", "--rate", "20", "--code", "131047", "--mode", "webhook",
                          "--number", "9812345678=131049", "--json").stdout)
    assert (view["source"], view["rate"], view["code"], view["mode"]) == ("project", 20.0, 131047, "webhook")
    assert view["numbers"] == [["+919812345678", 131049]] and view["active"] is True
    shown = json.loads(cli(settings, "show", "--project", "demo", "--json").stdout)
    assert shown["numbers"] == view["numbers"] and shown["description"] == view["description"]
    text = cli(settings, "show", "--project", "demo").stdout
    assert "its own rule" in text and "+919812345678 (131049)" in text
    off = json.loads(cli(settings, "fail", "--project", "demo", "--off", "--json").stdout)
    assert off["source"] == "project" and off["active"] is False
    # --default: the settings' default applies again, read from the WACAST_SANDBOX_FAIL_* environment.
    default = json.loads(cli(settings, "fail", "--project", "demo", "--default", "--json",
                             WACAST_SANDBOX_FAIL_RATE="5", WACAST_SANDBOX_FAIL_CODE="130472").stdout)
    assert (default["source"], default["rate"], default["code"], default["active"]) == ("settings", 5.0, 130472, True)
    async with db.sessionmaker() as session:
        assert (await session.get(Project, setup.project_id)).sandbox_failures is None
    codes = json.loads(cli(settings, "codes", "--json").stdout)["codes"]
    assert [c["code"] for c in codes][:3] == [131026, 131047, 131049]


async def test_cli_refuses_bad_input_and_changes_nothing(db, settings) -> None:
    setup = await make_project(db, "demo")
    cli(settings, "fail", "--project", "demo", "--rate", "10", "--json")
    for args, words in ((("--rate", "150"), "0 to 100"), (("--code", "99", "--rate", "1"), "not one of the Meta error codes"),
                        (("--number", "12"), "not a phone number"), (("--rate", "5", "--mode", "later"), "mode must be"),
                        ((), "give --rate"), (("--off", "--default"), "exclude each other")):
        result = cli(settings, "fail", "--project", "demo", *args, ok=False)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert words in " ".join(result.stderr.split()), (args, result.stderr)
    assert "does not exist" in cli(settings, "show", "--project", "nope", ok=False).stderr
    async with db.sessionmaker() as session:
        assert (await session.get(Project, setup.project_id)).sandbox_failures["rate"] == 10.0


# --- the inbox page: the rule form, search and pages -------------------------------------------


async def signed_in(client: httpx.AsyncClient, db, setup, role: str = "manager") -> str:
    async with db.transaction() as session:
        await users.create_or_update(session, setup.project_id, f"{role}@acme.test", "password-" + role, role)
    token = CSRF_RE.search((await client.get("/login")).text).group(1)
    await client.post("/login", data={"email": f"{role}@acme.test", "password": "password-" + role, "csrf": token})
    return CSRF_RE.search((await client.get("/sandbox")).text).group(1)


async def test_the_inbox_form_sets_the_rule_and_shows_a_bad_value_with_what_was_typed(client, db) -> None:
    setup = await make_project(db)
    token = await signed_in(client, db, setup)
    saved = await client.post("/sandbox/failures", data={"rate": "25", "code": "131047", "numbers": "9812345678=131050",
                                                        "mode": "webhook", "action": "save", "csrf": token})
    assert saved.status_code == 303
    page = (await client.get("/sandbox")).text
    assert "Failure rule saved: 25 % of sends fail with 131047" in page
    assert 'value="+919812345678=131050"' in page and 'option value="131047" selected' in page
    bad = await client.post("/sandbox/failures", data={"rate": "25", "code": "131047", "numbers": "+91981, oops",
                                                      "mode": "sync", "action": "save", "csrf": token})
    assert bad.status_code == 400
    assert "is not a phone number (SANDBOX_RULE_INVALID)" in bad.text and 'value="+91981, oops"' in bad.text
    async with db.sessionmaker() as session:
        stored = (await session.get(Project, setup.project_id)).sandbox_failures
    assert stored["mode"] == "webhook" and stored["numbers"] == [["+919812345678", 131050]]  # unchanged
    unknown = await client.post("/sandbox/failures", data={"rate": "1", "colour": "red", "csrf": token},
                                headers={"Referer": "http://wacast.test/sandbox"})
    assert unknown.status_code == 303
    assert "Unknown field(s): colour (VALIDATION_ERROR)" in (await client.get(unknown.headers["location"])).text
    async with db.sessionmaker() as session:
        assert (await session.get(Project, setup.project_id)).sandbox_failures["rate"] == 25  # unchanged
    off = await client.post("/sandbox/failures", data={"rate": "25", "action": "off", "csrf": token})
    assert off.status_code == 303
    async with db.sessionmaker() as session:
        assert (await session.get(Project, setup.project_id)).sandbox_failures["rate"] == 0
    back = await client.post("/sandbox/failures", data={"action": "default", "csrf": token})
    assert back.status_code == 303
    async with db.sessionmaker() as session:
        assert (await session.get(Project, setup.project_id)).sandbox_failures is None


async def test_agents_cannot_set_the_rule(client, db) -> None:
    setup = await make_project(db)
    token = await signed_in(client, db, setup, "agent")
    refused = await client.post("/sandbox/failures", data={"rate": "50", "action": "save", "csrf": token})
    assert refused.status_code == 403
    async with db.sessionmaker() as session:
        assert (await session.get(Project, setup.project_id)).sandbox_failures is None
    assert 'id="failure-rule-form"' not in (await client.get("/sandbox")).text


async def _many_messages(db, setup, count: int) -> None:
    """`count` sandbox messages written straight to the outbox (as many sends would leave them)."""
    now = utcnow()
    async with db.transaction() as session:
        campaign_id = (await session.execute(select(Message.campaign_id).where(Message.project_id == setup.project_id).limit(1))).scalar()
        contacts = [{"id": uuid.uuid4(), "project_id": setup.project_id, "phone": f"+9198700{i:05d}", "name": f"Bulk {i}"} for i in range(100)]
        await session.execute(insert(Contact), contacts)
        rows = [{"id": uuid.uuid4(), "project_id": setup.project_id, "contact_id": contacts[i % 100]["id"], "campaign_id": campaign_id,
                 "destination": contacts[i % 100]["phone"], "status": "read", "created_at": now - timedelta(hours=1, seconds=count - i),  # older than the test's own sends
                 "payload": {"template": "order_update", "language": "en", "components": [
                     {"type": "body", "parameters": [{"type": "text", "text": f"Bulk {i}"}, {"type": "text", "text": f"BULK-{i}"}]}]}}
                for i in range(count)]
        await session.execute(insert(Message), rows)


async def test_inbox_search_by_number_and_text_and_pages(client, db, dispatcher) -> None:
    setup = await make_project(db)
    token = await signed_in(client, db, setup)
    findable = number()
    first = await send(client, setup, findable, templateParams=["आशा", "ORD-77"])
    await set_rule(db, setup, {"numbers": "+917428699999=131026"})
    failed = await send(client, setup, "+917428699999", templateParams=["Ravi", "ORD-78"])
    await dispatcher.run_until_idle()
    reply = await client.post(f"/sandbox/{first}/simulate", data={"kind": "text", "text": "Where is my parcel?", "csrf": token})
    assert reply.status_code == 303
    await dispatcher.run_until_idle()
    await _many_messages(db, setup, 60)

    def shown(html: str) -> set[str]:
        return set(re.findall(r'data-message-id="([0-9a-f-]+)"', html))

    page1 = (await client.get("/sandbox")).text
    assert len(shown(page1)) == 25 and "1–25 of 62 messages" in page1 and "Page 1 of 3" in page1
    assert {first, failed} <= shown(page1) and "Older" in page1 and "Newer" not in page1  # newest first
    page2 = (await client.get("/sandbox?page=2")).text
    page3 = (await client.get("/sandbox?page=3")).text
    assert len(shown(page3)) == 12 and "51–62 of 62" in page3 and "Newer" in page3 and "Older" not in page3
    assert len(shown(page1) | shown(page2) | shown(page3)) == 62  # every message once
    assert shown((await client.get("/sandbox?page=99")).text) == shown(page3)  # past the end: the last page
    for q in (findable, findable[3:], findable[:3] + " " + findable[3:8] + "-" + findable[8:], "आशा", "ORD-77", "parcel"):
        found = (await client.get("/sandbox", params={"q": q})).text
        assert shown(found) == {first}, q
        assert "1–1 of 1 message matching" in found
    assert shown((await client.get("/sandbox", params={"status": "failed"})).text) == {failed}
    assert shown((await client.get("/sandbox", params={"status": "replied"})).text) == {first}
    # Wildcards are taken literally; no match says so.
    nothing = (await client.get("/sandbox", params={"q": "%_"})).text
    assert shown(nothing) == set() and "No message matches" in nothing
    bulk = (await client.get("/sandbox", params={"q": "BULK-1"})).text  # BULK-1, BULK-10 ... BULK-19
    assert "1–11 of 11 messages matching" in bulk
    paged = (await client.get("/sandbox", params={"q": "Bulk", "page": "2"})).text
    assert "26–50 of 60 messages matching" in paged and 'href="?q=Bulk&amp;page=3"' in paged
    # A query value that breaks the text rule is refused, like any other.
    assert (await client.get("/sandbox", params={"q": "a\x00b"})).status_code == 400
    # The failed message shows its Meta code and meaning.
    failed_page = (await client.get("/sandbox", params={"q": "Ravi"})).text
    assert "131026" in failed_page and "could not be delivered" in failed_page


async def test_inbox_stays_fast_with_thousands_of_messages(client, db) -> None:
    setup = await make_project(db)
    await signed_in(client, db, setup, "agent")
    await _many_messages(db, setup, 5000)
    async with db.transaction() as session:
        await session.execute(update(Message).where(Message.destination == "+919870000007").values(status="failed", error_code=131026))
        await session.execute(insert(Reply), [{"id": uuid.uuid4(), "project_id": setup.project_id, "contact_id": (await session.execute(
            select(Contact.id).where(Contact.phone == "+919870000042"))).scalar_one(), "wamid": "wamid.IN1", "type": "text", "text": "needle"}])
    for params, expect in (({}, "of 5,000 messages"), ({"page": "150"}, "3,726–3,750 of 5,000"), ({"q": "BULK-4999"}, "of 1 message"),
                           ({"q": "+91 98700 00007"}, "of 50 messages"), ({"status": "failed"}, "of 50 messages"),
                           ({"q": "no such text"}, "No message matches")):
        started = time.perf_counter()
        response = await client.get("/sandbox", params=params)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200 and expect in response.text, (params, expect)
        assert elapsed < 1.5, (params, elapsed)
