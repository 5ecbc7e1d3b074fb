"""The send policy in the dashboard's Settings: saved through the broadcasts service (what
`GET /api/v1/send-policy` then shows), errors shown with what was typed, nothing half saved."""

from __future__ import annotations

import httpx

from tests.dashboard.test_dashboard import add_user, csrf_of, sign_in
from tests.support.factories import make_project


async def owner_client(client: httpx.AsyncClient, db) -> tuple[object, str]:  # noqa: ANN001
    setup = await make_project(db, "acme")
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")
    return setup, await csrf_of(client, "/settings")


async def api_policy(client: httpx.AsyncClient, setup) -> dict:  # noqa: ANN001
    answer = await client.get("/api/v1/send-policy", headers={"Authorization": f"Bearer {setup.api_key}"})
    assert answer.status_code == 200
    return answer.json()


async def test_the_send_policy_is_saved_from_settings_and_shown_again(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup, token = await owner_client(client, db)
    saved = await client.post("/settings/send-policy", data={
        "csrf": token, "quiet_start": "21:00", "quiet_end": "09:00", "cap_messages": "2", "cap_days": "7", "messaging_tier": "2000"})
    assert saved.status_code == 303 and saved.headers["location"] == "/settings#send-policy"
    policy = await api_policy(client, setup)
    assert policy["quiet_hours"] == {"start": "21:00", "end": "09:00"}
    assert policy["frequency_cap"] == {"messages": 2, "days": 7} and policy["messaging_tier"] == 2000
    page = (await client.get("/settings")).text
    assert 'name="quiet_start" value="21:00"' in page and 'name="cap_days" value="7"' in page
    assert '<option value="2000" selected>' in page

    # Emptied fields turn each part off.
    token = await csrf_of(client, "/settings")
    await client.post("/settings/send-policy", data={"csrf": token, "quiet_start": "", "quiet_end": "", "cap_messages": "",
                                                    "cap_days": "", "messaging_tier": "unlimited"})
    policy = await api_policy(client, setup)
    assert policy["quiet_hours"] is None and policy["frequency_cap"] is None and policy["messaging_tier"] == "unlimited"


async def test_a_bad_send_policy_keeps_what_was_typed_and_changes_nothing(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup, token = await owner_client(client, db)
    cases = [
        ({"quiet_start": "21:00", "quiet_end": "", "cap_messages": "3", "cap_days": "30"}, "Quiet hours need both"),
        ({"quiet_start": "25:00", "quiet_end": "09:00", "cap_messages": "", "cap_days": ""}, "quiet_hours.start must be a time"),
        ({"quiet_start": "", "quiet_end": "", "cap_messages": "3", "cap_days": "9999"}, "frequency_cap must be"),
        ({"quiet_start": "", "quiet_end": "", "cap_messages": "x", "cap_days": "2"}, "whole numbers"),
        ({"quiet_start": "", "quiet_end": "", "cap_messages": "", "cap_days": "", "messaging_tier": "7"}, "messaging_tier must be"),
    ]
    for typed, message in cases:
        answer = await client.post("/settings/send-policy", data={"csrf": token, "messaging_tier": "unlimited", **typed})
        assert answer.status_code == 400, typed
        assert message in answer.text and "FIELD_INVALID" in answer.text, typed
        for name, value in typed.items():
            if value and name != "messaging_tier":
                assert f'name="{name}" value="{value}"' in answer.text, (name, typed)
    policy = await api_policy(client, setup)
    assert policy["quiet_hours"] is None and policy["frequency_cap"] is None and policy["messaging_tier"] == "unlimited"
