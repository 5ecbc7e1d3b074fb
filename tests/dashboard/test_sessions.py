"""Dashboard sessions live on the server: a kept cookie opens nothing once its session ended
(sign-out, a password change, a removal, `wacast users ...`, idle or absolute end); and the
sign-in throttle counts per (email, address), so a stranger cannot lock the owner out. Both
backends; time moves by ageing the session rows (the clock itself is never patched)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from tests.dashboard.test_dashboard import CSRF_RE, add_user, csrf_of, sign_in
from tests.support.cli import run_json
from tests.support.factories import make_project
from wacast.kit.clock import utcnow
from wacast.models.users import User
from wacast.users import service as users

BASE = "http://wacast.test"
# The session table and its policy are imported where used: the tests of sign-out, password
# change, removal and throttling then fail on code without them by what they assert.


@pytest.fixture
async def project(db):  # noqa: ANN001, ANN201
    setup = await make_project(db, "acme")
    for role in ("owner", "manager"):
        await add_user(db, setup.project_id, f"{role}@acme.test", role)
    return setup


@pytest.fixture
async def browsers(app) -> AsyncIterator:  # noqa: ANN001
    """browsers(address): a new browser (its own cookies) at that client address."""
    made: list[httpx.AsyncClient] = []

    def browser(address: str = "198.51.100.1", cookies: dict | None = None) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url=BASE, cookies=cookies)
        made.append(client)
        return client

    yield browser
    for client in made:
        await client.aclose()


async def signed_in(browser: httpx.AsyncClient, email: str, password: str) -> dict:
    answer = await sign_in(browser, email, password)
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    assert (await browser.get("/")).status_code == 200
    return dict(browser.cookies)


def is_sent_to_sign_in(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


async def user_id(db, email: str):  # noqa: ANN001, ANN201
    async with db.read() as session:
        return (await session.execute(select(User.id).where(User.email == email))).scalar_one()


async def age_sessions(db, email: str, **columns) -> None:  # noqa: ANN001, ANN003
    from wacast.models.users import DashboardSession

    uid = await user_id(db, email)
    async with db.transaction() as session:
        await session.execute(update(DashboardSession).where(DashboardSession.user_id == uid).values(**columns))


async def test_signing_out_ends_the_session_even_for_a_kept_cookie(project, browsers) -> None:  # noqa: ANN001
    browser = browsers()
    kept = await signed_in(browser, "owner@acme.test", "password-owner")
    out = await browser.post("/logout", data={"csrf": await csrf_of(browser, "/")})
    assert is_sent_to_sign_in(out)
    replay = browsers(cookies=kept)  # the cookie as it was before sign-out, e.g. copied off the machine
    assert is_sent_to_sign_in(await replay.get("/"))
    assert is_sent_to_sign_in(await replay.get("/settings"))


async def test_changing_ones_password_ends_the_other_sessions(project, browsers, db) -> None:  # noqa: ANN001
    here, elsewhere = browsers(), browsers("203.0.113.9")
    before = await signed_in(here, "manager@acme.test", "password-manager")
    await signed_in(elsewhere, "manager@acme.test", "password-manager")
    page = await here.get("/account")  # every role reaches its own account page
    assert page.status_code == 200 and 'id="password-form"' in page.text and page.text.count("<tr><td") == 2
    token = CSRF_RE.search(page.text).group(1)

    async def change(current: str, new: str, repeat: str) -> str:
        answer = await here.post("/account/password", data={"csrf": token, "current_password": current,
                                                             "new_password": new, "repeat_password": repeat},
                                 headers={"referer": f"{BASE}/account"})
        assert answer.status_code == 303
        return (await here.get(answer.headers["location"])).text

    assert "WRONG_PASSWORD" in await change("not-my-password", "a-new-password", "a-new-password")
    assert "PASSWORDS_DIFFER" in await change("password-manager", "a-new-password", "a-new-passw0rd")
    assert "PASSWORD_TOO_SHORT" in await change("password-manager", "short", "short")
    assert (await elsewhere.get("/")).status_code == 200  # nothing changed yet
    done = await change("password-manager", "a-new-password", "a-new-password")
    assert "Password changed" in done
    assert (await here.get("/")).status_code == 200  # this browser goes on, under a new session
    assert is_sent_to_sign_in(await elsewhere.get("/"))
    assert is_sent_to_sign_in(await browsers(cookies=before).get("/"))  # nor does this browser's old cookie
    assert (await sign_in(browsers("192.0.2.7"), "manager@acme.test", "password-manager")).status_code == 401
    await signed_in(browsers("192.0.2.7"), "manager@acme.test", "a-new-password")


async def test_sign_out_the_other_sessions(project, browsers) -> None:  # noqa: ANN001
    here, elsewhere = browsers(), browsers("203.0.113.9")
    here.headers["user-agent"] = "Firefox/140"
    elsewhere.headers["user-agent"] = "Odd\x01Agent"  # a header outside the text rule: not kept, still signed in
    await signed_in(here, "owner@acme.test", "password-owner")
    await signed_in(elsewhere, "owner@acme.test", "password-owner")
    listed = (await here.get("/account")).text
    assert "Firefox/140" in listed and "203.0.113.9" in listed and "this browser" in listed and "Odd" not in listed
    ended = await here.post("/account/sessions/end-others", data={"csrf": await csrf_of(here, "/account")})
    assert ended.status_code == 303
    assert "1 other session signed out." in (await here.get("/account")).text
    assert (await here.get("/")).status_code == 200 and is_sent_to_sign_in(await elsewhere.get("/"))


async def test_removing_a_member_ends_their_sessions_even_when_added_again(project, browsers, db) -> None:  # noqa: ANN001
    other = await make_project(db, "globex")
    async with db.transaction() as session:  # the manager also belongs to another project
        await users.create_or_update(session, other.project_id, "manager@acme.test", None, "agent")
    owner, manager = browsers(), browsers("203.0.113.9")
    await signed_in(owner, "owner@acme.test", "password-owner")
    kept = await signed_in(manager, "manager@acme.test", "password-manager")
    manager_id = await user_id(db, "manager@acme.test")
    removed = await owner.post(f"/users/{manager_id}/remove", data={"csrf": await csrf_of(owner, "/users")})
    assert removed.status_code == 303
    assert is_sent_to_sign_in(await manager.get("/"))  # not even into the project they still have
    await add_user(db, project.project_id, "manager@acme.test", "manager")  # added back: the old cookie stays dead
    assert is_sent_to_sign_in(await browsers(cookies=kept).get("/"))


async def test_the_users_commands_end_sessions(project, browsers, db, db_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")} | {"WACAST_DATABASE_URL": db_url}
    manager, owner = browsers(), browsers("203.0.113.9")
    await signed_in(manager, "manager@acme.test", "password-manager")
    await signed_in(owner, "owner@acme.test", "password-owner")
    assert run_json(env, "users", "signout", "--email", "Owner@acme.test")["sessions_ended"] == 1
    assert is_sent_to_sign_in(await owner.get("/")) and (await manager.get("/")).status_code == 200
    await signed_in(owner, "owner@acme.test", "password-owner")
    assert run_json(env, "users", "password", "--email", "owner@acme.test", "--password", "reset-by-operator")["email"] == "owner@acme.test"
    assert is_sent_to_sign_in(await owner.get("/"))
    await signed_in(owner, "owner@acme.test", "reset-by-operator")
    assert run_json(env, "users", "remove", "--project", "acme", "--email", "manager@acme.test")["removed"] is True
    assert is_sent_to_sign_in(await manager.get("/")) and (await owner.get("/")).status_code == 200


async def test_a_session_ends_when_idle_and_at_its_absolute_end(project, browsers, db) -> None:  # noqa: ANN001
    from wacast.models.users import DashboardSession
    from wacast.users.session_policy import ABSOLUTE, IDLE

    idle, busy, fresh = browsers(), browsers("203.0.113.9"), browsers("192.0.2.7")
    await signed_in(idle, "owner@acme.test", "password-owner")
    await age_sessions(db, "owner@acme.test", last_seen_at=utcnow() - IDLE - timedelta(minutes=2))
    assert is_sent_to_sign_in(await idle.get("/"))
    assert "Your session has ended" in (await idle.get("/login")).text

    await signed_in(busy, "manager@acme.test", "password-manager")
    # Used a minute ago, every day since it began: still ends after ABSOLUTE.
    await age_sessions(db, "manager@acme.test", created_at=utcnow() - ABSOLUTE - timedelta(hours=1),
                       expires_at=utcnow() - timedelta(hours=1), last_seen_at=utcnow() - timedelta(minutes=1))
    assert is_sent_to_sign_in(await busy.get("/"))

    # The purge forgets the ended rows and keeps the live one.
    await signed_in(fresh, "owner@acme.test", "password-owner")
    async with db.transaction() as session:
        assert await users.purge_ended_sessions(session) == 2
    async with db.read() as session:
        assert len((await session.execute(select(DashboardSession))).all()) == 1
    assert (await fresh.get("/")).status_code == 200


async def test_last_seen_is_written_at_most_once_a_minute(project, browsers, db) -> None:  # noqa: ANN001
    from wacast.models.users import DashboardSession
    from wacast.users.session_policy import TOUCH_EVERY

    browser = browsers()
    await signed_in(browser, "owner@acme.test", "password-owner")

    async def last_seen():  # noqa: ANN202
        async with db.read() as session:
            return (await session.execute(select(DashboardSession.last_seen_at))).scalar_one()

    long_ago = utcnow() - TOUCH_EVERY - timedelta(minutes=5)
    await age_sessions(db, "owner@acme.test", last_seen_at=long_ago)
    assert (await browser.get("/")).status_code == 200
    touched = await last_seen()
    assert touched > long_ago + timedelta(minutes=5)  # a page view after a quiet spell notes it
    for _ in range(3):
        assert (await browser.get("/contacts")).status_code == 200
    assert await last_seen() == touched  # views within the minute write nothing


async def test_failures_elsewhere_do_not_throttle_the_owner_who_still_sees_their_own(project, browsers) -> None:  # noqa: ANN001
    attacker, owner = browsers("203.0.113.66"), browsers("198.51.100.1")
    for _ in range(5):
        await sign_in(attacker, "owner@acme.test", "guess-guess")
    refused = await sign_in(attacker, "owner@acme.test", "password-owner")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert (await sign_in(owner, "owner@acme.test", "password-owner")).status_code == 303  # the owner, from their place
    await owner.post("/logout", data={"csrf": await csrf_of(owner, "/")})
    # Their own five failures do slow them, with a message saying when to try again.
    for _ in range(5):
        assert (await sign_in(owner, "owner@acme.test", "typo-typo")).status_code == 401
    slowed = await sign_in(owner, "owner@acme.test", "password-owner")
    assert slowed.status_code == 429
    wait = int(slowed.headers["retry-after"])
    assert 0 < wait <= 30 and f"Too many failed sign-ins. Try again in {wait} seconds." in slowed.text


async def test_a_botnet_reaches_the_ceiling_but_not_the_owner_where_they_signed_in_before(project, browsers, app) -> None:  # noqa: ANN001
    from wacast.dashboard.throttle import SignInThrottle

    app.state.dashboard_throttle = SignInThrottle(free_per_email=4)  # the ceiling of 50, made small to reach quickly
    await signed_in(browsers("198.51.100.1"), "owner@acme.test", "password-owner")  # the owner's usual place
    for n in range(4):  # one guess from each of many machines
        assert (await sign_in(browsers(f"10.0.0.{n + 1}"), "owner@acme.test", "guess-guess")).status_code == 401
    new_place = await sign_in(browsers("192.0.2.50"), "owner@acme.test", "password-owner")
    assert new_place.status_code == 429
    assert f"Too many failed sign-ins. Try again in {new_place.headers['retry-after']} seconds." in new_place.text
    assert (await sign_in(browsers("198.51.100.1"), "owner@acme.test", "password-owner")).status_code == 303


async def test_the_same_password_again_keeps_the_sessions_and_a_new_one_ends_them(project, browsers, db) -> None:  # noqa: ANN001
    """The demo seed sets the owner's saved password on every `make run` (and provisioning
    scripts repeat theirs): that must not sign the owner out; a different password must."""
    owner = browsers()
    await signed_in(owner, "owner@acme.test", "password-owner")
    async with db.transaction() as session:
        hashed = (await users.by_email(session, "owner@acme.test")).password_hash
        await users.create_or_update(session, project.project_id, "owner@acme.test", "password-owner", "owner")
    assert (await owner.get("/")).status_code == 200
    async with db.read() as session:
        assert (await users.by_email(session, "owner@acme.test")).password_hash == hashed  # not even re-hashed
    async with db.transaction() as session:
        await users.create_or_update(session, project.project_id, "owner@acme.test", "a-new-password-1", "owner")
    assert is_sent_to_sign_in(await owner.get("/"))
    await signed_in(owner, "owner@acme.test", "a-new-password-1")
