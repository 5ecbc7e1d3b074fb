"""The segments and broadcasts pages of the dashboard over HTTP, on both backends: save a
segment, create a broadcast to it, watch the progress bar, pause, resume, finish; roles."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select, update

from tests.campaigns.test_broadcasts import PROMO, add_contacts, engine_for
from tests.support.broadcasts import run_until_fanned_out
from tests.support.factories import make_project
from wacast.dashboard.broadcasts import action_words
from wacast.models.contacts import Contact
from wacast.models.messages import Message
from wacast.models.projects import Project
from wacast.templates import service as templates
from wacast.users import service as users

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
# promo's two parameters as the New broadcast form maps them: $first (fallback "there"), "30%".
PROMO_PARAMS = {"param_0_from": "attribute", "param_0_attr": "first", "param_0_fallback": "there",
                "param_1_from": "text", "param_1_text": "30%"}


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = await client.get("/login")
    token = CSRF_RE.search(page.text).group(1)
    response = await client.post("/login", data={"email": email, "password": password, "csrf": token})
    assert response.status_code == 303, response.text


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, (path, page.status_code, page.text[:500])
    return CSRF_RE.search(page.text).group(1)


async def test_segment_and_broadcast_pages(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        await templates.add_from_definition(session, project, PROMO)
        await users.create_or_update(session, setup.project_id, "manager@acme.test", "password-manager", "manager")
        await users.create_or_update(session, setup.project_id, "agent@acme.test", "password-agent", "agent")
    await add_contacts(db, setup.project_id, 12)
    await sign_in(client, "manager@acme.test", "password-manager")

    token = await csrf(client, "/segments/new")
    # A half-filled condition: shown on the builder with what was typed, nothing saved.
    bad = await client.post("/segments", data={"csrf": token, "name": "FB leads", "c0_field": "source", "c0_op": "equals", "c0_value": ""})
    assert bad.status_code == 400 and "condition 1: value must be a non-empty string" in bad.text
    assert 'value="FB leads"' in bad.text and '<option value="source" selected>' in bad.text
    assert "FB leads" not in (await client.get("/segments")).text
    saved = await client.post("/segments", data={"csrf": token, "name": "FB leads", "c0_field": "source", "c0_op": "equals",
                                                 "c0_value": "Facebook forms"})
    assert saved.status_code == 303
    page = (await client.get("/segments")).text
    assert "FB leads" in page and "12 contacts can be messaged" in page
    assert "source is Facebook forms" in page
    segment_id = re.search(r'/segments/([0-9a-f-]{36})/export\.csv', page).group(1)
    export = await client.get(f"/segments/{segment_id}/export.csv")
    assert export.status_code == 200 and len(export.text.strip().splitlines()) == 13

    new = await client.get("/broadcasts/new")
    assert "promo (en, marketing)" in new.text and "FB leads" in new.text
    created = await client.post("/broadcasts", data={
        "csrf": CSRF_RE.search(new.text).group(1), "name": "Weekend", "template": "promo|en", "segment": segment_id,
        **PROMO_PARAMS, "when": "now",
    })
    assert created.status_code == 303, created.text
    detail_url = created.headers["location"]
    page = (await client.get(detail_url)).text
    assert 'id="broadcast-status">running' in page and 'aria-valuenow="0.0"' in page

    token = await csrf(client, detail_url)
    assert (await client.post(f"{detail_url}/pause", data={"csrf": token})).status_code == 303
    assert 'id="broadcast-status">paused' in (await client.get(detail_url)).text
    assert (await client.post(f"{detail_url}/resume", data={"csrf": token})).status_code == 303
    await run_until_fanned_out(engine_for(app, settings))
    await dispatcher.run_until_idle()
    await engine_for(app, settings).tick()
    page = (await client.get(detail_url)).text
    assert 'id="broadcast-status">completed' in page and 'aria-valuenow="100.0"' in page and "read 12" in page
    listing = (await client.get("/broadcasts")).text
    assert "Weekend" in listing and "100.0%" in listing

    # An agent sees the pages but cannot act.
    await client.post("/logout", data={"csrf": token})
    await sign_in(client, "agent@acme.test", "password-agent")
    assert (await client.get(detail_url)).status_code == 200
    agent_token = await csrf(client, detail_url)
    refused = await client.post(f"{detail_url}/cancel", data={"csrf": agent_token})
    assert refused.status_code == 403
    assert (await client.get("/broadcasts/new")).status_code == 403


async def test_a_broadcast_has_its_results_and_retargets_an_outcome(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        await templates.add_from_definition(session, project, PROMO)
        await users.create_or_update(session, setup.project_id, "manager@acme.test", "password-manager", "manager")
    await add_contacts(db, setup.project_id, 5)
    await sign_in(client, "manager@acme.test", "password-manager")
    token = await csrf(client, "/segments/new")
    await client.post("/segments", data={"csrf": token, "name": "all", "match": "all"})
    segment_id = re.search(r'/segments/([0-9a-f-]{36})/edit', (await client.get("/segments")).text).group(1)
    created = await client.post("/broadcasts", data={"csrf": token, "name": "Sale", "template": "promo|en", "segment": segment_id,
                                                     **PROMO_PARAMS, "when": "now"})
    detail_url = created.headers["location"]
    await run_until_fanned_out(engine_for(app, settings))
    await dispatcher.run_until_idle()
    await engine_for(app, settings).tick()

    page = (await client.get(detail_url)).text
    # The campaign page's results, on the broadcast's own page.
    assert 'id="count-read">5<' in page and "Failures by Meta error code" in page and "Audience by outcome" in page
    assert 'id="action-retry-failed"' not in page  # nothing failed: nothing to retry
    read_list = (await client.get(detail_url + "?outcome=READ")).text
    assert read_list.count("/contacts/") >= 5 and "audience.csv?outcome=READ" in read_list
    listing = (await client.get("/broadcasts")).text
    assert re.search(r'data-testid="cmp-read">100(\.0)?%<', listing) and re.search(r'data-testid="cmp-failed">0(\.0)?%<', listing)

    # Retarget: a segment of those who read and did not reply, then on to a broadcast to it.
    retarget = await client.post(f"/campaigns/{detail_url.rsplit('/', 1)[1]}/retarget", data={"csrf": token, "audience": "read_no_reply"})
    assert retarget.status_code == 303 and retarget.headers["location"].startswith("/broadcasts/new?segment=")
    new_page = (await client.get(retarget.headers["location"])).text
    assert "5 contacts can be messaged" in new_page and "Sale: read, no reply" in new_page
    chosen = retarget.headers["location"].split("=", 1)[1]
    assert f'<option value="{chosen}" selected>' in new_page
    api = await client.get(f"/api/v1/segments/{chosen}", headers={"Authorization": f"Bearer {setup.api_key}"})
    condition = api.json()["filter"]["conditions"][0]
    assert condition["op"] == "received" and condition["status"] == ["read"] and api.json()["count"]["sendable"] == 5
    not_read = await client.post(f"/campaigns/{chosen}/retarget", data={"csrf": token, "audience": "not_read"})
    assert not_read.status_code == 303 and "Campaign not found" in (await client.get(not_read.headers["location"])).text
    bad = await client.post(f"/campaigns/{detail_url.rsplit('/', 1)[1]}/retarget", data={"csrf": token, "audience": "everyone"})
    assert bad.status_code == 303 and "Choose who to retarget" in (await client.get(bad.headers["location"])).text


def test_the_flash_says_what_a_broadcast_action_did():
    assert action_words("pause", 12) == "Paused. 12 queued message(s) wait until you resume."
    assert action_words("pause", 0) == "Paused. Nothing more will be queued until you resume."
    assert action_words("retry-failed", {"requeued": 0, "not_retryable": 0}) == "No failed messages to retry."
    assert action_words("retry-failed", {"requeued": 3, "not_retryable": 1}) == "3 failed message(s) queued again; 1 not retried (permanent errors or opted out)."
    assert "{" not in action_words("retry-failed", {"requeued": 0, "not_retryable": 2})


async def test_a_test_send_goes_to_one_number_and_refuses_what_it_must(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        await templates.add_from_definition(session, project, PROMO)
        await users.create_or_update(session, setup.project_id, "manager@acme.test", "password-manager", "manager")
    await add_contacts(db, setup.project_id, 2)
    await sign_in(client, "manager@acme.test", "password-manager")
    token = await csrf(client, "/segments/new")
    await client.post("/segments", data={"csrf": token, "name": "all", "match": "all"})
    segment_id = re.search(r'/segments/([0-9a-f-]{36})/edit', (await client.get("/segments")).text).group(1)
    form = {"csrf": token, "name": "Sale", "template": "promo|en", "segment": segment_id, **PROMO_PARAMS}

    preview = (await client.post("/broadcasts/preview", data=form)).json()
    assert preview["ready"] and preview["estimate"]["will_send"] == 2 and "30%" in preview["bubble"]
    half = (await client.post("/broadcasts/preview", data={**form, "param_1_text": ""})).json()
    assert not half["ready"] and half["estimate"]["will_send"] == 2
    # Said as the form names it, with what to do, not as the API's field path and code.
    assert half["problem"] == "Parameter {{2}} has no value yet: pick a contact attribute or type a fixed text."
    assert half["problem_code"] == "PARAM_EMPTY"

    for phone, code in (("", "FIELD_REQUIRED"), ("12", "INVALID_NUMBER")):
        refused = await client.post("/broadcasts/test-send", data={**form, "test_phone": phone})
        assert refused.status_code == 400 and refused.json()["code"] == code, (phone, refused.text)
        assert code not in refused.json()["message"]
    sent = await client.post("/broadcasts/test-send", data={**form, "test_phone": "+919811100099"})
    assert sent.status_code == 200 and sent.json()["sent"], sent.text
    await dispatcher.run_until_idle()
    headers = {"Authorization": f"Bearer {setup.api_key}"}
    message = (await client.get(f"/api/v1/messages/{sent.json()['submitted_message_id']}", headers=headers)).json()
    assert message["status"] == "read" and message["destination"] == "+919811100099"
    assert (await client.get("/broadcasts")).text.count("Sale") == 0  # no broadcast was made
    async with db.transaction() as session:
        await session.execute(update(Contact).where(Contact.phone == "+919811100099").values(opted_in=False))
    opted_out = await client.post("/broadcasts/test-send", data={**form, "test_phone": "+919811100099"})
    assert opted_out.status_code == 400 and opted_out.json()["code"] == "CONTACT_OPTED_OUT"


async def test_new_broadcast_to_an_uploaded_csv(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        await templates.add_from_definition(session, project, PROMO)
        await users.create_or_update(session, setup.project_id, "manager@acme.test", "password-manager", "manager")
    ids = await add_contacts(db, setup.project_id, 1)
    async with db.transaction() as session:
        await session.execute(update(Contact).where(Contact.id == ids[0]).values(opted_in=False))
        opted_out_phone = (await session.get(Contact, ids[0])).phone
    await sign_in(client, "manager@acme.test", "password-manager")
    token = await csrf(client, "/broadcasts/new")
    data = f"phone,name,first\n+919811100001,Asha K,Asha\n+919811100002,Ravi,\nnot-a-number,X,\n{opted_out_phone},Out,\n".encode()
    form = {"csrf": token, "name": "From file", "template": "promo|en", "audience": "csv", **PROMO_PARAMS}
    files = {"audience_csv": ("leads.csv", data, "text/csv")}

    preview = (await client.post("/broadcasts/preview", data=form, files=files)).json()
    assert preview["ready"], preview
    assert preview["estimate"]["will_send"] == 2 and preview["estimate"]["skips"] == {"invalid row": 1, "opted out": 1}
    assert preview["sample"] == "Asha K" and "Asha" in preview["bubble"]  # {{1}} from the file's own column
    no_file = (await client.post("/broadcasts/preview", data=form)).json()
    assert not no_file["ready"] and "Choose a segment or upload a CSV" in no_file["problem"]
    refused = await client.post("/broadcasts", data=form)
    assert refused.status_code == 400 and "Choose the CSV file of the audience" in refused.text and 'value="From file"' in refused.text

    created = await client.post("/broadcasts", data=form, files=files)
    assert created.status_code == 303, created.text
    await run_until_fanned_out(engine_for(app, settings))
    await dispatcher.run_until_idle()
    page = (await client.get(created.headers["location"])).text
    assert "rows of the file are its audience" in page and "1 were left out" in page
    async with db.sessionmaker() as session:
        sent_to = set((await session.execute(select(Message.destination).where(Message.broadcast_id.is_not(None)))).scalars())
    assert sent_to == {"+919811100001", "+919811100002"}
