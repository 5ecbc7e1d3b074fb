"""Media a contact sent, fetched from the fake Meta through wacast (whatsapp/media.py): Meta's
own image webhook example delivered signed and applied, then the dashboard's /media/<id> and
the REST twin serve the exact bytes with safe headers, from the cache the second time; another
project, an unknown id, a file over the limit, a wrong sha256, a download URL off Meta's hosts,
an expired id and a sandbox project are each refused with their code and nothing is cached.
Both backends, and once on a running server."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from tests.dashboard.test_dashboard import add_user, sign_in
from tests.support.cloud import make_cloud_project
from tests.support.live_server import LiveServer
from tests.support.meta_schema import webhook_examples
from tests.whatsapp.test_meta_webhooks import PHONE_ID, deliver
from wacast.kit.clock import utcnow
from wacast.models.media import InboundMedia
from wacast.models.messages import Reply
from wacast.models.projects import Project
from wacast.whatsapp import media as inbound_media

MAX_BYTES = 4096
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"  # 2,062 bytes
PDF = b"%PDF-1.4\n" + b"0123456789" * 100 + b"\n%%EOF\n"


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "media_max_bytes": MAX_BYTES})


@pytest.fixture
async def acme(db, settings, fake_meta):  # noqa: ANN001, ANN201
    setup = await make_cloud_project(db, settings, fake_meta, "acme", phone_number_id=PHONE_ID, campaigns_for=())
    await add_user(db, setup.project_id, "agent@acme.test", "agent")
    return setup


def media_message(fake_meta, media_id: str, *, kind: str = "image", sha256: str | None = None, **fields) -> dict:  # noqa: ANN001, ANN003
    """Meta's published image example, to our number, carrying the fake's media (as a
    document, video... by `kind`: the same object under another type)."""
    body = copy.deepcopy(webhook_examples()["Image Message"])
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_ID
    message = value["messages"][0]
    message["id"] = f"wamid.MEDIA{uuid.uuid4().hex}"
    image = message.pop("image")
    image.update(id=media_id, sha256=sha256 or fake_meta.media_sha256_b64(media_id),
                 mime_type=fake_meta.media[media_id]["mime_type"], **fields)
    message["type"] = kind
    message[kind] = image
    return body


async def received(fake_meta, client, settings, db, content: bytes = JPEG, mime_type: str = "image/jpeg", *,  # noqa: ANN001
                   kind: str = "image", webhook_sha256: str | None = None, message_fields: dict | None = None,
                   **media_options) -> str:  # noqa: ANN003
    """A media message from a contact, applied as Meta would send it; returns its media id."""
    media_id = fake_meta.add_media(content, mime_type, phone_number_id=PHONE_ID, **media_options)
    await deliver(fake_meta, client, settings, db, media_message(fake_meta, media_id, kind=kind, sha256=webhook_sha256,
                                                                  **(message_fields or {})))
    return media_id


async def cached_rows(db) -> list[InboundMedia]:  # noqa: ANN001
    async with db.read() as session:
        return list((await session.execute(select(InboundMedia))).scalars())


@asynccontextmanager
async def signed_in(app, email: str) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    """A browser of its own, signed in as `email` (an agent)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wacast.test") as browser:
        answer = await sign_in(browser, email, "password-agent")
        assert answer.status_code == 303, answer.text
        yield browser


async def test_an_image_is_fetched_through_wacast_once_then_served_from_the_cache(app, client, db, settings, fake_meta, acme):
    media_id = await received(fake_meta, client, settings, db)
    async with db.read() as session:
        reply = (await session.execute(select(Reply).where(Reply.media_id == media_id))).scalar_one()
    assert reply.type == "image" and reply.content["caption"] == "Taj Mahal"  # kept by the inbound path (H-A's part)
    assert await cached_rows(db) == []  # nothing fetched before someone looks
    async with signed_in(app, "agent@acme.test") as browser:
        first = await browser.get(f"/media/{media_id}")
        assert first.status_code == 200, first.text
        assert first.content == JPEG
        assert first.headers["content-type"] == "image/jpeg"
        assert first.headers["x-content-type-options"] == "nosniff"
        csp = first.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
        assert first.headers["cache-control"].startswith("private")
        assert first.headers["content-disposition"].startswith("inline;")
        assert fake_meta.media_info_requests == [media_id] and fake_meta.media_downloads == [media_id]
        assert fake_meta.media_download_attempts == [(media_id, True)]  # the project's token went with it
        again = await browser.get(f"/media/{media_id}")
        assert again.status_code == 200 and again.content == JPEG and again.headers["content-type"] == "image/jpeg"
    assert fake_meta.media_downloads == [media_id] and fake_meta.media_info_requests == [media_id]  # the cache answered
    [row] = await cached_rows(db)
    assert (row.project_id, row.media_id, row.mime_type, row.size) == (acme.project_id, media_id, "image/jpeg", len(JPEG))
    assert row.sha256 == hashlib.sha256(JPEG).hexdigest() and row.content == JPEG
    # The REST twin serves the same file to the project's API key, from the same cache.
    rest = await client.get(f"/api/v1/media/{media_id}", headers={"Authorization": f"Bearer {acme.api_key}"})
    assert rest.status_code == 200 and rest.content == JPEG and rest.headers["x-content-type-options"] == "nosniff"
    assert fake_meta.media_downloads == [media_id]
    assert (await client.get(f"/api/v1/media/{media_id}")).status_code == 401


async def test_a_document_is_a_download_with_a_safe_file_name(app, client, db, settings, fake_meta, acme):
    media_id = await received(fake_meta, client, settings, db, PDF, "application/pdf", kind="document",
                              message_fields={"filename": '../../etc/Quarterly "report" ü.pdf'})
    svg = await received(fake_meta, client, settings, db, b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
                         "image/svg+xml")
    async with signed_in(app, "agent@acme.test") as browser:
        answer = await browser.get(f"/media/{media_id}")
        drawing = await browser.get(f"/media/{svg}")
    assert answer.status_code == 200 and answer.content == PDF and answer.headers["content-type"] == "application/pdf"
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Quarterly _report_ u.pdf";'), disposition
    # An SVG image can carry script: never shown inline, and its CSP sandboxes it anyway.
    assert drawing.status_code == 200 and drawing.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in drawing.headers["content-security-policy"]


async def test_media_of_another_project_or_of_no_reply_is_not_found_and_meta_is_not_asked(app, client, db, settings, fake_meta, acme):
    media_id = await received(fake_meta, client, settings, db)
    other = await make_cloud_project(db, settings, fake_meta, "beta", phone_number_id="2098765", campaigns_for=())
    await add_user(db, other.project_id, "agent@beta.test", "agent")
    stranger = fake_meta.add_media(b"not in any reply", "image/jpeg", phone_number_id=PHONE_ID)
    async with signed_in(app, "agent@beta.test") as outsider:
        theirs = await outsider.get(f"/media/{media_id}")
        rest = await client.get(f"/api/v1/media/{media_id}", headers={"Authorization": f"Bearer {other.api_key}"})
    assert theirs.status_code == 404 and "MEDIA_NOT_FOUND" in theirs.text
    assert rest.status_code == 404 and rest.json()["code"] == "MEDIA_NOT_FOUND"
    async with signed_in(app, "agent@acme.test") as insider:
        unknown = await insider.get(f"/media/{stranger}")
        odd = [await insider.get(f"/media/{path}") for path in ("..%2F..%2Fetc", "12.34", "x" * 201)]
    assert unknown.status_code == 404 and "MEDIA_NOT_FOUND" in unknown.text
    assert [a.status_code for a in odd] == [404, 404, 404]
    assert fake_meta.media_info_requests == [] and fake_meta.media_download_attempts == []  # wacast never asked Meta
    assert await cached_rows(db) == []
    anonymous = await client.get(f"/media/{media_id}")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


async def test_a_file_over_the_limit_is_refused_and_not_cached(app, client, db, settings, fake_meta, acme):
    big = bytes(MAX_BYTES + 1)
    declared = await received(fake_meta, client, settings, db, big)  # Meta's file_size says so: no download at all
    lying_size = await received(fake_meta, client, settings, db, big, file_size=100)  # Content-Length says so
    streamed = await received(fake_meta, client, settings, db, bytes(MAX_BYTES * 3), file_size=100, chunked=True)
    fits = await received(fake_meta, client, settings, db, bytes(MAX_BYTES))
    async with signed_in(app, "agent@acme.test") as browser:
        refused = [await browser.get(f"/media/{m}") for m in (declared, lying_size, streamed)]
        ok = await browser.get(f"/media/{fits}")
    assert [a.status_code for a in refused] == [413, 413, 413]
    assert all("MEDIA_TOO_LARGE" in a.text for a in refused)
    assert declared not in fake_meta.media_downloads
    assert ok.status_code == 200 and len(ok.content) == MAX_BYTES
    assert [r.media_id for r in await cached_rows(db)] == [fits]


async def test_bytes_that_do_not_match_metas_sha256_are_refused_and_not_cached(app, client, db, settings, fake_meta, acme):
    info_lies = await received(fake_meta, client, settings, db, sha256=hashlib.sha256(b"something else").hexdigest())
    webhook_lies = await received(fake_meta, client, settings, db, JPEG + b"!",
                                  webhook_sha256="SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=")
    async with signed_in(app, "agent@acme.test") as browser:
        answers = [await browser.get(f"/media/{m}") for m in (info_lies, webhook_lies)]
    assert [a.status_code for a in answers] == [502, 502]
    assert all("MEDIA_CHECKSUM_MISMATCH" in a.text for a in answers)
    assert await cached_rows(db) == []


async def test_a_download_url_off_metas_hosts_is_refused_without_sending_the_token(app, client, db, settings, fake_meta,
                                                                                   acme, media_server):
    before = len(media_server.requests)
    elsewhere = await received(fake_meta, client, settings, db, url=media_server.url("/photo.jpg"))
    redirected = await received(fake_meta, client, settings, db, redirect_to=media_server.url("/photo.png"))
    async with signed_in(app, "agent@acme.test") as browser:
        answers = [await browser.get(f"/media/{m}") for m in (elsewhere, redirected)]
    assert [a.status_code for a in answers] == [502, 502]
    assert all("MEDIA_HOST_REFUSED" in a.text for a in answers)
    assert len(media_server.requests) == before  # the other server never heard from wacast
    assert fake_meta.media_download_attempts == [(redirected, True)]  # only Meta's own host got the token
    assert await cached_rows(db) == []


async def test_expired_media_and_projects_without_meta(app, client, db, settings, fake_meta, acme):
    seen = await received(fake_meta, client, settings, db)
    expired = await received(fake_meta, client, settings, db)
    unseen = await received(fake_meta, client, settings, db)
    fake_meta.expire_media(expired)
    async with signed_in(app, "agent@acme.test") as browser:
        assert (await browser.get(f"/media/{seen}")).status_code == 200
        gone = await browser.get(f"/media/{expired}")
        assert gone.status_code == 410 and "MEDIA_EXPIRED" in gone.text
        async with db.transaction() as session:  # the project loses its Meta credentials (a sandbox project now)
            await session.execute(update(Project).where(Project.id == acme.project_id).values(access_token=None, phone_number_id=None))
        still = await browser.get(f"/media/{seen}")  # what was fetched is still there
        unavailable = await browser.get(f"/media/{unseen}")
    assert still.status_code == 200 and still.content == JPEG
    assert unavailable.status_code == 409 and "MEDIA_UNAVAILABLE" in unavailable.text
    assert [r.media_id for r in await cached_rows(db)] == [seen]


async def test_the_purge_forgets_files_fetched_longer_ago_than_the_retention(app, client, db, settings, fake_meta, acme):
    old = await received(fake_meta, client, settings, db)
    fresh = await received(fake_meta, client, settings, db)
    async with signed_in(app, "agent@acme.test") as browser:
        for media_id in (old, fresh):
            assert (await browser.get(f"/media/{media_id}")).status_code == 200
        async with db.transaction() as session:
            await session.execute(update(InboundMedia).where(InboundMedia.media_id == old)
                                  .values(fetched_at=utcnow() - timedelta(days=settings.media_cache_days, minutes=1)))
        async with db.transaction() as session:
            assert await inbound_media.purge_cached_media(session, settings.media_cache_days) == 1
        assert [r.media_id for r in await cached_rows(db)] == [fresh]
        again = await browser.get(f"/media/{old}")  # fetched from Meta again
    assert again.status_code == 200 and again.content == JPEG
    assert fake_meta.media_downloads.count(old) == 2 and fake_meta.media_downloads.count(fresh) == 1
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(InboundMedia))).scalar_one() == 2


async def test_on_a_running_server_metas_webhook_then_the_file_over_real_http(db, settings, fake_meta, acme):
    """`wacast serve`'s app on a real port with its loops: the fake Meta posts the signed image
    webhook over HTTP, the inbound loop applies it, a browser signs in and gets the file."""
    media_id = fake_meta.add_media(JPEG, "image/jpeg", phone_number_id=PHONE_ID)
    server = LiveServer(settings).start()
    try:
        posted = await fake_meta.post_webhook(media_message(fake_meta, media_id), url=server.url + "/webhooks/whatsapp")
        assert posted.status_code == 200, posted.text
        deadline = time.monotonic() + 20
        while True:
            async with db.read() as session:
                if (await session.execute(select(Reply.id).where(Reply.media_id == media_id))).first():
                    break
            assert time.monotonic() < deadline, "the inbound loop did not apply the webhook"
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as browser:
            assert (await sign_in(browser, "agent@acme.test", "password-agent")).status_code == 303
            first = await browser.get(f"/media/{media_id}")
            second = await browser.get(f"/media/{media_id}")
    finally:
        server.stop()
    assert first.status_code == 200 and first.content == JPEG and first.headers["content-type"] == "image/jpeg"
    assert second.status_code == 200 and second.content == JPEG
    assert fake_meta.media_downloads == [media_id]
