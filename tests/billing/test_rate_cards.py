"""Rate cards through REST on both backends: the shipped example imports, a bad file is refused
whole with every bad row named (nothing saved), JSON imports, versions listed and shown (also as
the import's CSV), and the refusals of each field."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from tests.support.factories import make_project
from wacast.api_keys import service as api_keys
from wacast.models.billing import Rate, RateCard

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rate-card.example.csv"


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def counts(db) -> tuple[int, int]:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return ((await session.execute(select(func.count()).select_from(RateCard))).scalar(),
                (await session.execute(select(func.count()).select_from(Rate))).scalar())


async def test_import_list_show_and_refusals(client, db):
    setup = await make_project(db)
    headers = auth(setup.api_key)
    csv_headers = {**headers, "Content-Type": "text/csv"}
    none = await client.get("/api/v1/rate-cards/current", headers=headers)
    assert none.status_code == 404 and none.json()["code"] == "RATE_CARD_NOT_FOUND"

    bad = await client.post("/api/v1/rate-cards", params={"currency": "INR"}, headers=csv_headers,
                            content=b"category,country,price\nmarketing,IN,0.8\nmarketing,ZZ,1\npromo,IN,1\nutility,IN,abc\n")
    assert bad.status_code == 400 and bad.json()["code"] == "CSV_ROW_INVALID"
    assert [(e["line"], e["field"]) for e in bad.json()["details"]["errors"]] == [(3, "country"), (4, "category"), (5, "price")]
    assert await counts(db) == (0, 0)  # all or nothing
    for params, content, code in (
        ({"currency": "rupees"}, EXAMPLE.read_bytes(), "INVALID_CURRENCY"),
        ({"currency": "INR", "effective_from": "next week"}, EXAMPLE.read_bytes(), "INVALID_DATE"),
        ({"currency": "INR"}, b"\xff\xfe", "CSV_NOT_UTF8"),
        ({"currency": "INR", "note": "a\x00b"}, EXAMPLE.read_bytes(), "FIELD_INVALID"),
    ):
        refused = await client.post("/api/v1/rate-cards", params=params, headers=csv_headers, content=content)
        assert (refused.status_code, refused.json()["code"]) == (400, code), refused.text
    assert await counts(db) == (0, 0)

    made = await client.post("/api/v1/rate-cards", params={"currency": "inr", "note": "example"}, headers=csv_headers, content=EXAMPLE.read_bytes())
    assert made.status_code == 201, made.text
    assert (made.json()["version"], made.json()["currency"], made.json()["source"]) == (1, "INR", "csv")
    rows = made.json()["rates"]
    shown = (await client.get("/api/v1/rate-cards/current", headers=headers)).json()
    assert shown["version"] == 1 and shown["in_force"] is True and len(shown["rate_list"]) == rows
    exported = await client.get("/api/v1/rate-cards/1", params={"format": "csv"}, headers=headers)
    assert exported.status_code == 200 and exported.text.startswith("category,country,price,region")

    # JSON: a list of rates, or the CSV's text; never both, never an unknown field.
    both = await client.post("/api/v1/rate-cards", json={"currency": "INR", "rates": [], "csv": "x"}, headers=headers)
    assert both.status_code == 400 and both.json()["code"] == "FIELD_REQUIRED"
    unknown = await client.post("/api/v1/rate-cards", json={"currency": "INR", "rates": [], "colour": "red"}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["code"] == "VALIDATION_ERROR"
    again = await client.post("/api/v1/rate-cards", json={"currency": "INR", "csv": exported.text}, headers=headers)
    assert again.status_code == 201 and again.json()["version"] == 2 and again.json()["rates"] == rows
    listed = (await client.get("/api/v1/rate-cards", headers=headers)).json()["data"]
    assert [(c["version"], c["in_force"]) for c in listed] == [(2, True), (1, False)]
    assert (await client.get("/api/v1/rate-cards/7", headers=headers)).json()["code"] == "RATE_CARD_NOT_FOUND"

    async with db.transaction() as session:
        _, send_key = await api_keys.create_key(session, setup.project_id, "send", "sender")
    forbidden = await client.get("/api/v1/rate-cards", headers=auth(send_key))
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "KEY_SCOPE"
