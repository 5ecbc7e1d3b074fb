"""The dashboard's server-side rules over HTTP (no browser): sessions, CSRF, the sign-in
slow-down, roles on every action, the project switcher, CSV import/export and the sandbox
simulate path into the events processor. Both backends."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import select

from tests.support.factories import body, make_project
from wacast.models.contacts import Contact
from wacast.models.messages import Message, Reply
from wacast.users import service as users

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


async def add_user(db, project_id, email: str, role: str) -> None:  # noqa: ANN001
    async with db.transaction() as session:
        await users.create_or_update(session, project_id, email, "password-" + role, role)


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return CSRF_RE.search(page.text).group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    token = await csrf_of(client, "/login")
    return await client.post("/login", data={"email": email, "password": password, "csrf": token})


@pytest.fixture
async def project(db):  # noqa: ANN001, ANN201
    setup = await make_project(db, "acme")
    for role in ("owner", "manager", "agent"):
        await add_user(db, setup.project_id, f"{role}@acme.test", role)
    return setup


async def test_pages_need_a_session_and_sign_in_sets_a_safe_cookie(client: httpx.AsyncClient, project) -> None:  # noqa: ANN001
    answer = await client.get("/contacts?tag=vip")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/contacts%3Ftag%3Dvip"
    wrong = await sign_in(client, "owner@acme.test", "nope-nope")
    assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    unknown = await sign_in(client, "nobody@acme.test", "password-owner")
    assert unknown.status_code == 401 and "Wrong email or password." in unknown.text  # no hint which was wrong
    ok = await sign_in(client, "owner@acme.test", "password-owner")
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # test env: plain http
    assert (await client.get("/")).status_code == 200
    # Never redirect off-site after sign-in.
    await client.post("/logout", data={"csrf": await csrf_of(client, "/")})
    token = await csrf_of(client, "/login")
    off = await client.post("/login", data={"email": "owner@acme.test", "password": "password-owner", "csrf": token, "next": "//evil.example/x"})
    assert off.headers["location"] == "/"


async def test_cookie_is_secure_in_production(settings, db) -> None:  # noqa: ANN001
    from wacast.app import create_app

    setup = await make_project(db, "acme")
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    production = settings.model_copy(update={"environment": "production", "secret_key": "a-long-production-secret-key-0123456789"})
    app = create_app(production, run_dispatcher=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://wacast.test") as client:
            answer = await sign_in(client, "owner@acme.test", "password-owner")
    assert answer.status_code == 303 and "secure" in answer.headers["set-cookie"].lower()


async def test_repeated_failed_sign_ins_slow_down_even_the_right_password(client: httpx.AsyncClient, project) -> None:  # noqa: ANN001
    for _ in range(5):
        assert (await sign_in(client, "agent@acme.test", "wrong-password")).status_code == 401
    refused = await sign_in(client, "agent@acme.test", "password-agent")
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    # Another account is not locked by this one's failures.
    assert (await sign_in(client, "manager@acme.test", "password-manager")).status_code == 303


async def test_every_post_needs_the_csrf_token(client: httpx.AsyncClient, project, db) -> None:  # noqa: ANN001
    await sign_in(client, "owner@acme.test", "password-owner")
    before = await client.get("/tags")
    missing = await client.post("/tags", data={"kind": "tag", "name": "sneaky"})
    forged = await client.post("/tags", data={"kind": "tag", "name": "sneaky", "csrf": "forged"})
    assert missing.status_code == 403 and forged.status_code == 403 and "This form has expired" in forged.text
    login = await client.post("/login", data={"email": "owner@acme.test", "password": "password-owner"})
    assert login.status_code == 403
    after = await client.get("/tags")
    assert "sneaky" not in after.text and before.status_code == 200
    made = await client.post("/tags", data={"kind": "tag", "name": "real", "csrf": CSRF_RE.search(after.text).group(1)})
    assert made.status_code == 303


MANAGER_POSTS = [
    ("/campaigns", {"name": "x", "template_id": "00000000-0000-0000-0000-000000000000"}),
    ("/templates", {"name": "x", "body": "hi"}),
    ("/templates/sync", {}),
    ("/tags", {"kind": "tag", "name": "x"}),
    ("/tags", {"kind": "attribute", "name": "x"}),
    ("/contacts/import", {}),
    ("/segments", {"name": "everyone", "match": "all"}),
]
OWNER_POSTS = [("/keys", {"name": "x"}), ("/users", {"email": "new@acme.test", "role": "owner"}), ("/settings", {"messages_per_second": "5"}),
               ("/settings/send-policy", {"quiet_start": "21:00", "quiet_end": "09:00"})]
OWNER_PAGES = ["/keys", "/users", "/settings"]
MANAGER_PAGES = ["/campaigns/new", "/templates/new", "/contacts/import", "/segments/new"]
READ_PAGES = ["/", "/campaigns", "/templates", "/contacts", "/tags", "/sandbox", "/contacts/export.csv", "/segments"]


async def test_roles_are_enforced_on_the_server_for_pages_and_actions(client: httpx.AsyncClient, project, db) -> None:  # noqa: ANN001
    async with db.sessionmaker() as session:
        campaign_id = (await session.execute(select(Message.id).limit(1))).first()
        from wacast.models.campaigns import Campaign

        order_update = (await session.execute(select(Campaign.id).where(Campaign.name == "order_update"))).scalar_one()
        tag_id = (await session.execute(select(__import__("wacast.models.contacts", fromlist=["Tag"]).Tag.id).limit(1))).scalar_one()
    assert campaign_id is None
    expectations = {"agent": ("agent",), "manager": ("agent", "manager"), "owner": ("agent", "manager", "owner")}
    for role, allowed in expectations.items():
        client.cookies.clear()
        await sign_in(client, f"{role}@acme.test", "password-" + role)
        token = await csrf_of(client, "/")
        for path in READ_PAGES:
            assert (await client.get(path)).status_code == 200, (role, path)
        for path in MANAGER_PAGES:
            assert (await client.get(path)).status_code == (200 if "manager" in allowed else 403), (role, path)
        for path in OWNER_PAGES:
            assert (await client.get(path)).status_code == (200 if "owner" in allowed else 403), (role, path)
        if "manager" not in allowed:
            for path, form in [*MANAGER_POSTS, (f"/campaigns/{order_update}/status", {"status": "paused"}),
                               (f"/tags/tag/{tag_id}/delete", {}), (f"/tags/tag/{tag_id}/rename", {"name": "renamed"})]:
                answer = await client.post(path, data={**form, "csrf": token})
                assert answer.status_code == 403 and "You need the manager role" in answer.text, (role, path)
        if "owner" not in allowed:
            for path, form in OWNER_POSTS:
                answer = await client.post(path, data={**form, "csrf": token})
                assert answer.status_code == 403 and "You need the owner role" in answer.text, (role, path)
    # Nothing the refused requests asked for happened.
    async with db.sessionmaker() as session:
        from wacast.models.campaigns import Campaign
        from wacast.models.contacts import Tag

        assert (await session.get(Campaign, order_update)).status == "live"
        assert (await session.get(Tag, tag_id)) is not None
        from wacast.models.users import User

        assert (await session.execute(select(User).where(User.email == "new@acme.test"))).first() is None


async def test_project_switcher_and_no_access_to_other_projects(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    acme = await make_project(db, "acme")
    other = await make_project(db, "globex")
    stranger = await make_project(db, "initech")
    await add_user(db, acme.project_id, "sam@multi.test", "agent")
    async with db.transaction() as session:
        await users.create_or_update(session, other.project_id, "sam@multi.test", None, "owner")
    await sign_in(client, "sam@multi.test", "password-agent")
    home = await client.get("/")
    assert 'id="project-select"' in home.text and "acme (agent)" in home.text and "globex (owner)" in home.text
    assert (await client.get("/keys")).status_code == 403  # agent in acme (first by name)
    token = CSRF_RE.search(home.text).group(1)
    switched = await client.post("/switch-project", data={"project_id": str(other.project_id), "csrf": token})
    assert switched.status_code == 303
    assert (await client.get("/keys")).status_code == 200  # owner in globex
    refused = await client.post("/switch-project", data={"project_id": str(stranger.project_id), "csrf": token})
    assert refused.status_code == 403
    assert "globex" in (await client.get("/")).text


async def test_removing_a_member_or_changing_the_password_ends_their_access(client: httpx.AsyncClient, project, db) -> None:  # noqa: ANN001
    owner = httpx.AsyncClient(transport=client._transport, base_url="http://wacast.test")
    await sign_in(owner, "owner@acme.test", "password-owner")
    await sign_in(client, "manager@acme.test", "password-manager")
    assert (await client.get("/campaigns/new")).status_code == 200
    users_page = await owner.get("/users")
    token = CSRF_RE.search(users_page.text).group(1)
    manager_id = re.search(r'action="/users/([0-9a-f-]+)/role"[^>]*>.{0,400}manager@acme.test', users_page.text, re.S)
    async with db.sessionmaker() as session:
        from wacast.models.users import User

        manager = (await session.execute(select(User).where(User.email == "manager@acme.test"))).scalar_one()
        owner_user = (await session.execute(select(User).where(User.email == "owner@acme.test"))).scalar_one()
    del manager_id
    demoted = await owner.post(f"/users/{manager.id}/role", data={"role": "agent", "csrf": token})
    assert demoted.status_code == 303
    assert (await client.get("/campaigns/new")).status_code == 403  # at once, same session
    last_owner = await owner.post(f"/users/{owner_user.id}/role", data={"role": "agent", "csrf": token})
    assert last_owner.status_code == 303
    assert "LAST_OWNER" in (await owner.get("/users")).text
    assert (await owner.post(f"/users/{manager.id}/remove", data={"csrf": token})).status_code == 303
    gone = await client.get("/")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    await owner.aclose()


async def test_csv_import_reports_bad_rows_and_export_round_trips(client: httpx.AsyncClient, project, db, app) -> None:  # noqa: ANN001
    await sign_in(client, "manager@acme.test", "password-manager")
    token = await csrf_of(client, "/contacts/import")
    no_phone = await client.post("/contacts/import", data={"csrf": token}, files={"file": ("x.csv", b"name,city\nAsha,Pune\n", "text/csv")},
                                 headers={"accept": "application/json"})
    assert no_phone.status_code == 303  # back to the form with the error shown
    assert "no phone column" in (await client.get("/contacts/import")).text
    data = (
        "Phone;Name;Tags;city;opted_in\n"
        "+91 98111 00001;Asha Verma;customer|newsletter;Pune;yes\n"
        "12;Too Short;;;\n"
        "9811100003;Ravi;;Delhi;no\n"
        "9811100004;Bad Flag;;;maybe\n"
        "+919811100001;Asha V.;;Mumbai;\n"
    ).encode()
    started = await client.post("/contacts/import", data={"csrf": token}, files={"file": ("people.csv", data, "text/csv")},
                                headers={"accept": "application/json"})
    assert started.status_code == 201, started.text
    status_url = started.json()["url"] + ".json"
    for _ in range(200):
        status = (await client.get(status_url)).json()
        if status["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert status["status"] == "done" and status["total_rows"] == 5 and status["processed_rows"] == 5
    # The same number again on row 6 is reported, not written over row 2.
    assert (status["created"], status["updated"], status["errors"]) == (2, 0, 3)
    assert [(e["row"], e["phone"]) for e in status["first_errors"]] == [(3, "12"), (5, "9811100004"), (6, "+919811100001")]
    assert "newsletter" in status["created_tags"]
    report = await client.get(started.json()["url"] + "/errors.csv")
    assert report.text.splitlines()[0] == "row,phone,error" and "opted_in must be yes or no" in report.text
    async with db.sessionmaker() as session:
        rows = {c.phone: c for c in (await session.execute(select(Contact))).scalars()}
    assert rows["+919811100001"].name == "Asha Verma" and rows["+919811100001"].attributes == {"city": "Pune"}
    assert rows["+919811100003"].opted_in is False
    exported = (await client.get("/contacts/export.csv")).text.splitlines()
    assert exported[0].startswith("phone,name,source,opted_in,blocked,tags,created_at")
    assert any(line.startswith("+919811100001,Asha Verma,,yes,no,customer;newsletter,") for line in exported)
    only_out = (await client.get("/contacts/export.csv?status=opted_out")).text.splitlines()
    assert len(only_out) == 2 and only_out[1].startswith("+919811100003")


async def test_sandbox_simulated_reply_and_stop_go_through_the_events_processor(client: httpx.AsyncClient, project, db, dispatcher) -> None:  # noqa: ANN001
    sent = await client.post("/campaign/t1/api/v2", json=body(project))
    message_id = sent.json()["submitted_message_id"]
    await sign_in(client, "manager@acme.test", "password-manager")
    token = await csrf_of(client, "/sandbox")
    early = await client.post(f"/sandbox/{message_id}/simulate", data={"kind": "text", "text": "hi", "csrf": token})
    assert early.status_code == 303 and "MESSAGE_NOT_SENT" in (await client.get("/sandbox")).text
    await dispatcher.run_until_idle()
    for kind, text in (("text", "Where is my parcel?"), ("button", "Thanks!"), ("stop", "")):
        answer = await client.post(f"/sandbox/{message_id}/simulate", data={"kind": kind, "text": text, "csrf": token})
        assert answer.status_code == 303
    await dispatcher.run_until_idle()
    async with db.sessionmaker() as session:
        replies = (await session.execute(select(Reply).order_by(Reply.received_at, Reply.type))).scalars().all()
        message = await session.get(Message, __import__("uuid").UUID(message_id))
        contact = await session.get(Contact, message.contact_id)
    assert sorted((r.type, r.text) for r in replies) == [("button", "Thanks!"), ("text", "STOP"), ("text", "Where is my parcel?")]
    assert all(r.message_id == message.id for r in replies)
    assert message.replied_at is not None and contact.opted_in is False
    inbox = (await client.get("/sandbox")).text
    assert "Where is my parcel?" in inbox and "tapped" in inbox
    # An opted-out contact is refused by the campaign API.
    again = await client.post("/campaign/t1/api/v2", json=body(project))
    assert again.json()["code"] == "CONTACT_OPTED_OUT"


async def test_failures_show_meta_code_meaning_and_what_to_do(client: httpx.AsyncClient, project, db, dispatcher) -> None:  # noqa: ANN001
    from wacast.models.campaigns import Campaign

    sent = await client.post("/campaign/t1/api/v2", json=body(project))
    message_id = __import__("uuid").UUID(sent.json()["submitted_message_id"])
    async with db.transaction() as session:
        message = await session.get(Message, message_id)
        from wacast.models.projects import Project
        from wacast.whatsapp.statuses import StatusReport, apply_statuses

        # Meta's failed report, as the inbound loop applies it.
        await apply_statuses(session, [StatusReport(await session.get(Project, message.project_id), {
            "id": "wamid.failed-in-test", "biz_opaque_callback_data": str(message_id), "status": "failed",
            "timestamp": "1700000000", "errors": [{"code": 131026, "title": "Message undeliverable"}]})])
        campaign_id = (await session.execute(select(Campaign.id).where(Campaign.name == "order_update"))).scalar_one()
    await sign_in(client, "agent@acme.test", "password-agent")
    page = (await client.get(f"/campaigns/{campaign_id}")).text
    assert "131026" in page and "The message could not be delivered" in page and "Check the number" in page
    overview = (await client.get("/")).text
    assert "131026" in overview and "What to do:" in overview
    audience = (await client.get(f"/campaigns/{campaign_id}/audience.csv?outcome=FAILED")).text
    assert "131026" in audience and str(message_id) in audience
    bad = await client.get(f"/campaigns/{campaign_id}/audience.csv?outcome=LOST")
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_OUTCOME"
    missing = await client.get("/campaigns/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and "Campaign not found" in missing.text


async def test_a_large_import_runs_in_chunks_and_reports_progress(client: httpx.AsyncClient, project, db) -> None:  # noqa: ANN001
    from wacast.contacts import csv_import

    await sign_in(client, "manager@acme.test", "password-manager")
    token = await csv_of_token(client)
    lines = ["phone,name,plan"] + [f"+9198200{i:05d},Person {i},{'gold' if i % 2 else 'silver'}" for i in range(700)]
    lines[401] = "+91,Broken,gold"  # file line 402
    lines.append("+919820000007,Person seven again,platinum")  # a repeat in a later chunk is reported, not written
    started = await client.post("/contacts/import", data={"csrf": token}, headers={"accept": "application/json"},
                                files={"file": ("big.csv", ("\n".join(lines) + "\n").encode(), "text/csv")})
    url = started.json()["url"] + ".json"
    seen = set()
    for _ in range(400):
        status = (await client.get(url)).json()
        seen.add(status["processed_rows"])
        if status["status"] == "done":
            break
        await asyncio.sleep(0.02)
    assert status["status"] == "done" and status["processed_rows"] == status["total_rows"] == 701
    assert (status["created"], status["updated"], status["errors"]) == (699, 0, 2)
    assert [e["row"] for e in status["first_errors"]] == [402, 702]
    assert "already on row 9 of this file" in status["first_errors"][1]["error"]
    assert all(n % csv_import.CHUNK == 0 or n == 701 for n in seen)  # progress moves a chunk at a time
    async with db.sessionmaker() as session:
        seven = (await session.execute(select(Contact).where(Contact.phone == "+919820000007"))).scalar_one()
        count = len((await session.execute(select(Contact.id))).all())
    assert seven.name == "Person 7" and seven.attributes == {"plan": "gold"} and count == 699


async def csv_of_token(client: httpx.AsyncClient) -> str:
    return await csrf_of(client, "/contacts/import")
