"""The contacts page over HTTP: its total, adding one contact (an error keeps what was typed),
and tagging, untagging or deleting several at once; agents cannot."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select

from tests.dashboard.test_dashboard import add_user, csrf_of, sign_in
from tests.support.factories import make_project
from wacast.contacts import labels
from wacast.models.contacts import Contact


async def test_total_add_and_bulk_actions(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup = await make_project(db, "acme")
    await add_user(db, setup.project_id, "manager@acme.test", "manager")
    await add_user(db, setup.project_id, "agent@acme.test", "agent")
    async with db.transaction() as session:
        await labels.create_tags(session, setup.project_id, ["vip"])
    await sign_in(client, "manager@acme.test", "password-manager")
    token = await csrf_of(client, "/contacts")
    assert re.search(r'id="contacts-total">0<', (await client.get("/contacts")).text)

    bad = await client.post("/contacts/new", data={"csrf": token, "phone": "12", "name": "Ravi K", "source": "walk-in", "tag": "vip"})
    assert bad.status_code == 400 and "(INVALID_PHONE)" in bad.text
    assert 'value="Ravi K"' in bad.text and 'value="walk-in"' in bad.text and "<option selected>vip</option>" in bad.text
    for i in range(3):
        made = await client.post("/contacts/new", data={"csrf": token, "phone": f"+9198111000{i:02d}", "name": f"Ravi {i}", "source": "walk-in"})
        assert made.status_code == 303 and "/contacts/" in made.headers["location"], made.text
    again = await client.post("/contacts/new", data={"csrf": token, "phone": "+919811100000", "name": "twice"})
    assert again.status_code == 400 and "CONTACT_EXISTS" in again.text
    page = (await client.get("/contacts")).text
    assert re.search(r'id="contacts-total">3<', page)
    ids = re.findall(r'name="ids" value="([0-9a-f-]{36})"', page)
    assert len(ids) == 3

    tagged = await client.post("/contacts/bulk", data={"csrf": token, "action": "tag", "tag": "vip", "ids": ids[:2]})
    assert tagged.status_code == 303 and "Tagged vip: 2 contact(s)." in (await client.get("/contacts")).text
    assert re.search(r'id="contacts-total">2<', (await client.get("/contacts?tag=vip")).text)
    await client.post("/contacts/bulk", data={"csrf": token, "action": "untag", "tag": "vip", "ids": ids[:1]})
    assert re.search(r'id="contacts-total">1<', (await client.get("/contacts?tag=vip")).text)
    refused = await client.post("/contacts/bulk", data={"csrf": token, "action": "explode", "ids": ids})
    assert refused.status_code == 303 and "action must be tag, untag or delete" in (await client.get("/contacts")).text
    deleted = await client.post("/contacts/bulk", data={"csrf": token, "action": "delete", "ids": ids[1:]})
    assert deleted.status_code == 303
    async with db.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(Contact).where(Contact.project_id == setup.project_id))).scalar_one() == 1

    await client.post("/logout", data={"csrf": token})
    await sign_in(client, "agent@acme.test", "password-agent")
    agent_token = await csrf_of(client, "/contacts")
    assert 'name="ids"' not in (await client.get("/contacts")).text
    assert (await client.post("/contacts/bulk", data={"csrf": agent_token, "action": "delete", "ids": ids[:1]})).status_code == 403
