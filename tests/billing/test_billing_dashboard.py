"""Billing in the dashboard: an owner imports a rate card file, edits it as a new version, sets
budgets, and a manager reads the ledger and exports it; bad input is shown and saves nothing."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.dashboard.test_dashboard import add_user, csrf_of, sign_in
from tests.support.factories import make_project

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rate-card.example.csv"


async def test_rate_card_budgets_and_ledger_pages(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup = await make_project(db, "acme")
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")
    page = await client.get("/settings/billing")
    assert page.status_code == 200 and "No rate card yet" in page.text
    token = await csrf_of(client, "/settings/billing")

    bad = await client.post("/settings/billing/import", data={"csrf": token, "currency": "INR", "effective_from": "", "note": ""},
                            files={"file": ("card.csv", b"category,country,price\nmarketing,IN,free\n", "text/csv")})
    assert bad.status_code in (303, 400)
    shown = bad.text if bad.status_code == 400 else (await client.get(bad.headers["location"])).text
    assert "CSV_ROW_INVALID" in shown or "bad row" in shown
    assert "No rate card yet" in (await client.get("/settings/billing")).text

    token = await csrf_of(client, "/settings/billing")
    made = await client.post("/settings/billing/import", data={"csrf": token, "currency": "INR", "effective_from": "", "note": "from Meta"},
                             files={"file": ("card.csv", EXAMPLE.read_bytes(), "text/csv")})
    assert made.status_code == 303, made.text
    page = (await client.get("/settings/billing")).text
    assert "version 1, INR" in page and "0.780000 INR" in page and "every other country" in page

    token = await csrf_of(client, "/settings/billing")
    edited = await client.post("/settings/billing/edit", data={"csrf": token, "currency": "INR", "effective_from": "",
                                                               "note": "edited in the dashboard",
                                                               "rates": "category,country,price\r\nmarketing,IN,0.90\r\n"})
    assert edited.status_code == 303, edited.text
    cards = (await client.get("/api/v1/rate-cards", headers={"Authorization": f"Bearer {setup.api_key}"})).json()["data"]
    assert [(c["version"], c["source"], c["rates"]) for c in cards][0] == (2, "dashboard", 1)

    token = await csrf_of(client, "/settings/billing")
    saved = await client.post("/settings/billing/budget", data={"csrf": token, "scope": "month", "broadcast": "", "amount": "750", "currency": "INR"})
    assert saved.status_code == 303, saved.text
    page = (await client.get("/settings/billing")).text
    assert "The project, this month" in page and "750.000000 INR" in page

    ledger = await client.get("/billing/ledger", params={"group_by": "day"})
    assert ledger.status_code == 200 and "Nothing priced yet" in ledger.text
    wrong = await client.get("/billing/ledger", params={"group_by": "week"})
    assert wrong.status_code == 400 and "INVALID_GROUP_BY" in wrong.text
    exported = await client.get("/billing/ledger.csv", params={"group_by": "campaign"})
    assert exported.status_code == 200 and exported.text.startswith("campaign,campaign_id,category")


async def test_the_ledger_is_in_the_menu_of_managers_and_owners_not_agents(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup = await make_project(db, "acme")
    link = '<a class="nav" href="/billing/ledger">Costs</a>'
    for email, role in (("manager@acme.test", "manager"), ("agent@acme.test", "agent")):
        await add_user(db, setup.project_id, email, role)
        await sign_in(client, email, f"password-{role}")
        overview = (await client.get("/")).text
        assert (link in overview) == (role == "manager"), role
        if role == "manager":
            ledger = (await client.get("/billing/ledger")).text
            assert '<a class="nav active" href="/billing/ledger">Costs</a>' in ledger
        await client.post("/logout", data={"csrf": await csrf_of(client, "/")})
