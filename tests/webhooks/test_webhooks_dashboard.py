"""Customer webhooks in the dashboard's Settings over HTTP, with a real receiver on loopback:
add one (errors keep what was typed), see its secret, send a test and read the answer, the
delivery log, change and delete it; owners only."""

from __future__ import annotations

import re

import httpx

from tests.dashboard.test_dashboard import add_user, csrf_of, sign_in
from tests.support.factories import make_project
from tests.webhooks.test_customer_webhooks import receiver, settings  # noqa: F401 (fixtures: loopback allowed)


async def test_a_webhook_is_added_tested_changed_and_deleted_from_settings(client: httpx.AsyncClient, db, receiver) -> None:  # noqa: ANN001, F811
    setup = await make_project(db, "acme")
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await add_user(db, setup.project_id, "manager@acme.test", "manager")
    await sign_in(client, "owner@acme.test", "password-owner")
    token = await csrf_of(client, "/settings/webhooks")

    bad = await client.post("/settings/webhooks", data={"csrf": token, "url": "ftp://nowhere", "description": "CRM",
                                                        "topic_contact.created": "on"})
    assert bad.status_code == 400 and "(WEBHOOK_URL_INVALID)" in bad.text
    assert 'value="ftp://nowhere"' in bad.text and 'value="CRM"' in bad.text
    assert 'name="topic_contact.created" checked' in bad.text and 'name="topic_contact.opted_out" checked' not in bad.text
    assert "webhooks-table" not in bad.text  # nothing saved

    made = await client.post("/settings/webhooks", data={"csrf": token, "url": receiver.url, "description": "CRM",
                                                         "secret": receiver.secret, "topic_contact.created": "on"})
    assert made.status_code == 303, made.text
    page_url = made.headers["location"]
    page = (await client.get(page_url)).text
    assert receiver.secret in page and "Delivery log" in page and "Nothing sent yet" in page

    tested = await client.post(f"{page_url}/test", data={"csrf": token})
    assert "Test delivered: your endpoint answered 200" in (await client.get(tested.headers["location"])).text
    assert receiver.accepted("webhook.test")
    receiver.always_fail = True
    tested = await client.post(f"{page_url}/test", data={"csrf": token})
    assert "Test not delivered: HTTP 503 (down for maintenance)." in (await client.get(tested.headers["location"])).text
    receiver.always_fail = False
    log = (await client.get(page_url)).text
    assert log.count("<code>webhook.test</code>") == 2 and "HTTP 503" in log
    assert (await client.get(page_url + "?status=delivered")).text.count("<code>webhook.test</code>") == 1

    saved = await client.post(page_url, data={"csrf": token, "url": receiver.url, "description": "CRM 2", "topic_contact.opted_out": "on"})
    assert saved.status_code == 303
    again = (await client.get(page_url)).text
    assert 'value="CRM 2"' in again and 'name="topic_contact.opted_out" checked' in again and 'id="webhook-state">disabled' in again
    listing = (await client.get("/settings/webhooks")).text
    assert receiver.url in listing and "disabled" in listing

    # Managers cannot see or change webhooks (secrets live here).
    await client.post("/logout", data={"csrf": token})
    await sign_in(client, "manager@acme.test", "password-manager")
    assert (await client.get("/settings/webhooks")).status_code == 403
    assert (await client.get(page_url)).status_code == 403
    await client.post("/logout", data={"csrf": await csrf_of(client, "/")})
    await sign_in(client, "owner@acme.test", "password-owner")
    token = await csrf_of(client, "/settings/webhooks")
    deleted = await client.post(f"{page_url}/delete", data={"csrf": token})
    assert deleted.status_code == 303 and "Webhook deleted" in (await client.get("/settings/webhooks")).text
    assert re.search(r"No webhooks yet", (await client.get("/settings/webhooks")).text)
