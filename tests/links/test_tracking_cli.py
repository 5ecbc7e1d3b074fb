"""A campaign's `tracking` from the terminal, as real subprocesses on both backends:
`wacast broadcasts create --tracking/--tracking-file` and the flags over it, and `wacast
campaigns tracking` to show or set it; read back through REST; bad values refused with REST's
message (exit 2, stderr) and nothing written, body-URL tracking without WACAST_PUBLIC_URL."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.cli import run, run_json
from tests.support.factories import make_project
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact

PUBLIC = "https://wa.example.test"
DEFAULTS = {"utm": {}, "goals": [], "attribution_window_days": 7, "track_body_urls": False}


@pytest.fixture
def cli_env(db_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url, WACAST_PUBLIC_URL=PUBLIC)
    return env


@pytest.fixture
def leads(tmp_path: Path) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text("phone,name\n" + "".join(f"+9172000{i:05d},Lead {i}\n" for i in range(3)))
    return path


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def counts(db) -> tuple[int, int]:  # noqa: ANN001
    async with db.read() as session:
        return ((await session.execute(select(func.count()).select_from(Campaign))).scalar_one(),
                (await session.execute(select(func.count()).select_from(Contact))).scalar_one())


def create(env: dict, name: str, project: str, leads: Path, *tracking: str, ok: bool = True, as_json: bool = True):  # noqa: ANN201
    args = ("broadcasts", "create", name, "--project", project, "--template", "no_params", "--csv", str(leads), *tracking)
    return run_json(env, *args) if as_json else run(env, *args, ok=ok)


async def test_a_broadcast_created_with_tracking_as_json_or_flags_stores_it(client, db, cli_env, leads, tmp_path: Path):
    setup = await make_project(db, "shop")
    given = {"utm": {"utm_medium": "broadcast"}, "goals": ["purchase"], "attribution_window_days": 3}
    created = create(cli_env, "Promo JSON", "shop", leads, "--tracking", json.dumps(given))
    assert created["tracking"] == {**DEFAULTS, **given}
    stored = await client.get("/api/v1/campaigns/Promo JSON/tracking", headers=auth(setup.api_key))
    assert stored.status_code == 200 and stored.json()["tracking"] == {**DEFAULTS, **given}, stored.text

    # A file, and the flags over it: a UTM flag replaces that parameter only, --goal the goals.
    base = tmp_path / "tracking.json"
    base.write_text(json.dumps({"utm": {"utm_source": "wa", "utm_medium": "broadcast"}, "goals": ["signup"], "attribution_window_days": 3}))
    shown = create(cli_env, "Promo flags", "shop", leads, "--tracking-file", str(base), "--utm-medium", "sms", "--utm-content", "",
                   "--goal", "cart", "--goal", "Purchase", "--attribution-window-days", "14", "--track-body-urls", as_json=False)
    assert "broadcast Promo flags created" in shown.stdout
    assert "UTM overrides utm_source=wa, utm_medium=sms, utm_content left out; goals cart, purchase; attribution window 14 days; " \
           "body URLs tracked" in shown.stdout, shown.stdout
    merged = {"utm": {"utm_source": "wa", "utm_medium": "sms", "utm_content": ""}, "goals": ["cart", "purchase"],
              "attribution_window_days": 14, "track_body_urls": True}
    stored = await client.get("/api/v1/campaigns/Promo flags/tracking", headers=auth(setup.api_key))
    assert stored.json()["tracking"] == merged, stored.text

    # Flags alone; and no tracking at all is the defaults.
    alone = create(cli_env, "Promo goal", "shop", leads, "--goal", "purchase", "--no-track-body-urls")
    assert alone["tracking"] == {**DEFAULTS, "goals": ["purchase"]}
    plain = create(cli_env, "Promo plain", "shop", leads)
    assert plain["tracking"] == DEFAULTS
    async with db.read() as session:
        assert (await session.execute(select(Campaign.tracking).where(Campaign.name == "Promo plain"))).scalar_one() is None

    # The dry run checks it as a create does, and creates nothing.
    before = await counts(db)
    dry = create(cli_env, "Promo dry", "shop", leads, "--goal", "purchase", "--dry-run")
    assert dry["dry_run"] is True and dry["will_send"] == 3
    refused = create(cli_env, "Promo dry", "shop", leads, "--goal", "Big Sale", "--dry-run", ok=False, as_json=False)
    assert refused.returncode == 2 and "tracking.goals[0] must be a name" in refused.stderr
    assert await counts(db) == before


BAD = [
    (["--tracking", '{"goals": ["Big Sale"]}'], {"goals": ["Big Sale"]}),
    (["--goal", "Big Sale"], {"goals": ["Big Sale"]}),
    (["--goal", "a", "--goal", "b", "--goal", "c", "--goal", "d", "--goal", "e", "--goal", "f"], {"goals": list("abcdef")}),
    (["--tracking", '{"window": 7}'], {"window": 7}),
    (["--tracking", '{"utm": {"ref": "x"}}'], {"utm": {"ref": "x"}}),
    (["--utm-medium", "x" * 201], {"utm": {"utm_medium": "x" * 201}}),
    (["--tracking", '{"attribution_window_days": "7"}'], {"attribution_window_days": "7"}),
    (["--attribution-window-days", "0"], {"attribution_window_days": 0}),
    (["--attribution-window-days", "seven"], {"attribution_window_days": "seven"}),
    (["--tracking", '{"track_body_urls": "yes"}'], {"track_body_urls": "yes"}),
    (["--tracking", "[1]", "--goal", "purchase"], [1]),
]


async def test_bad_tracking_is_refused_as_rest_refuses_it_and_nothing_is_written(client, db, cli_env, leads):
    setup = await make_project(db, "shop")
    before = await counts(db)
    for args, body in BAD:
        rest = await client.post("/api/v1/campaigns", headers=auth(setup.api_key), json={
            "type": "broadcast", "name": "Bad", "template": "no_params", "segment": "nobody", "tracking": body})
        assert rest.status_code in (400, 422), rest.text
        refused = create(cli_env, "Bad", "shop", leads, *args, ok=False, as_json=False)
        assert refused.returncode == 2, (args, refused.stdout)
        assert refused.stderr.startswith("error: ") and rest.json()["message"] in refused.stderr, (args, refused.stderr, rest.text)
        assert refused.stdout == ""
    # What is refused before the parser: not JSON, or text the base rule refuses.
    not_json = create(cli_env, "Bad", "shop", leads, "--tracking", "{goals: purchase}", ok=False, as_json=False)
    assert not_json.returncode == 2 and "--tracking is not JSON" in not_json.stderr
    nul = create(cli_env, "Bad", "shop", leads, "--tracking", '{"utm": {"utm_medium": "a\\u0000b"}}', ok=False, as_json=False)
    assert nul.returncode == 2 and "tracking.utm.utm_medium" in nul.stderr, nul.stderr
    assert await counts(db) == before  # no campaign, and not the CSV's contacts either
    missing = run(cli_env, "campaigns", "show", "Bad", "--project", "shop", ok=False)
    assert missing.returncode == 2


async def test_without_a_public_url_body_url_tracking_is_refused(client, db, cli_env, leads):
    setup = await make_project(db, "shop")  # the app's settings have no public URL either
    env = {k: v for k, v in cli_env.items() if k != "WACAST_PUBLIC_URL"}
    rest = await client.put("/api/v1/campaigns/order_update/tracking", headers=auth(setup.api_key), json={"track_body_urls": True})
    assert rest.status_code == 400 and rest.json()["code"] == "PUBLIC_URL_NOT_SET"
    before = await counts(db)
    for args in (["--track-body-urls"], ["--tracking", '{"track_body_urls": true}'], ["--track-body-urls", "--dry-run"]):
        refused = create(env, "Body links", "shop", leads, *args, ok=False, as_json=False)
        assert refused.returncode == 2 and rest.json()["message"] in refused.stderr, (args, refused.stderr)
    set_refused = run(env, "campaigns", "tracking", "order_update", "--project", "shop", "--track-body-urls", ok=False)
    assert set_refused.returncode == 2 and rest.json()["message"] in set_refused.stderr
    assert await counts(db) == before
    async with db.read() as session:
        assert (await session.execute(select(Campaign.tracking).where(Campaign.name == "order_update"))).scalar_one() is None
    # Tracking that needs no public address is fine without one.
    assert create(env, "Goals only", "shop", leads, "--goal", "purchase")["tracking"]["goals"] == ["purchase"]


async def test_campaigns_tracking_shows_and_sets_an_existing_campaigns_settings(client, db, cli_env, tmp_path: Path):
    setup = await make_project(db, "shop")
    shown = run_json(cli_env, "campaigns", "tracking", "order_update", "--project", "shop")
    assert shown["campaign"] == "order_update" and shown["tracking"] == DEFAULTS
    assert "order_update tracking: UTM overrides none (wacast's defaults); goals none; attribution window 7 days; body URLs not tracked" \
        in run(cli_env, "campaigns", "tracking", "order_update", "--project", "shop").stdout

    # --set replaces, as PUT does; the flags over it.
    given = {"utm": {"utm_medium": "api"}, "goals": ["purchase"], "track_body_urls": True}
    set_ = run_json(cli_env, "campaigns", "tracking", "order_update", "--project", "shop", "--set", json.dumps(given), "--goal", "cart")
    assert set_["tracking"] == {**DEFAULTS, **given, "goals": ["cart"]}
    # A flag alone changes its field; what is stored stays.
    window = run_json(cli_env, "campaigns", "tracking", "order_update", "--project", "shop", "--attribution-window-days", "30",
                      "--utm-content", "shop_now")
    expected = {"utm": {"utm_medium": "api", "utm_content": "shop_now"}, "goals": ["cart"], "attribution_window_days": 30, "track_body_urls": True}
    assert window["tracking"] == expected
    stored = await client.get("/api/v1/campaigns/order_update/tracking", headers=auth(setup.api_key))
    assert stored.json()["tracking"] == expected, stored.text

    # Refused: the same message as PUT, nothing changed.
    rest = await client.put("/api/v1/campaigns/order_update/tracking", headers=auth(setup.api_key), json={"goals": ["Big Sale"]})
    refused = run(cli_env, "campaigns", "tracking", "order_update", "--project", "shop", "--goal", "Big Sale", ok=False)
    assert refused.returncode == 2 and rest.json()["message"] in refused.stderr
    unknown = run(cli_env, "campaigns", "tracking", "order_update", "--project", "shop", "--set", '{"window": 3}', ok=False)
    assert unknown.returncode == 2 and "Unknown field(s): tracking.window" in unknown.stderr
    ghost = run(cli_env, "campaigns", "tracking", "ghost", "--project", "shop", "--goal", "purchase", ok=False)
    assert ghost.returncode == 2 and "Campaign not found" in ghost.stderr
    assert (await client.get("/api/v1/campaigns/order_update/tracking", headers=auth(setup.api_key))).json()["tracking"] == expected

    # A file replaces all (a field left out is its default); `{}` resets.
    path = tmp_path / "t.json"
    path.write_text('{"goals": ["signup"]}')
    assert run_json(cli_env, "campaigns", "tracking", "order_update", "--project", "shop", "--set-file", str(path))["tracking"] == \
        {**DEFAULTS, "goals": ["signup"]}
    assert run_json(cli_env, "campaigns", "tracking", "order_update", "--project", "shop", "--set", "{}")["tracking"] == DEFAULTS


async def test_an_api_campaign_created_with_tracking_shows_it_everywhere_and_a_bad_value_creates_nothing(client, db, cli_env):
    """`wacast campaigns create` takes the same tracking as REST's creation (campaigns.service.create);
    `campaigns show` prints it, and GET /api/v1/campaigns/{id} carries it as `tracking`."""
    setup = await make_project(db, "shop")
    made = run_json(cli_env, "campaigns", "create", "--project", "shop", "--name", "orders", "--template", "no_params", "--live",
                    "--tracking", '{"utm": {"utm_medium": "api"}}', "--goal", "purchase", "--attribution-window-days", "10")
    expected = {**DEFAULTS, "utm": {"utm_medium": "api"}, "goals": ["purchase"], "attribution_window_days": 10}
    assert made["name"] == "orders" and made["status"] == "live" and made["tracking"] == expected
    shown = await client.get(f"/api/v1/campaigns/{made['id']}", headers=auth(setup.api_key))
    assert shown.status_code == 200 and shown.json()["tracking"] == expected, shown.text
    listed = await client.get("/api/v1/campaigns", headers=auth(setup.api_key))
    assert {c["name"]: c["tracking"] for c in listed.json()["data"]}["orders"] == expected, listed.text
    assert run_json(cli_env, "campaigns", "show", "orders", "--project", "shop")["tracking"] == expected
    printed = run(cli_env, "campaigns", "show", "orders", "--project", "shop").stdout
    assert "tracking: UTM overrides utm_medium=api; goals purchase; attribution window 10 days; body URLs not tracked" in printed, printed
    # Without tracking: the defaults, nothing stored; a plain human answer still names the campaign.
    plain = run(cli_env, "campaigns", "create", "--project", "shop", "--name", "plain", "--template", "no_params").stdout
    assert "name: plain" in plain and "status: draft" in plain and "goals none" in plain, plain

    # Refused as REST refuses it, nothing written (no campaign).
    before = await counts(db)
    rest = await client.post("/api/v1/campaigns", headers=auth(setup.api_key), json={
        "type": "api", "name": "bad", "template": "no_params", "tracking": {"attribution_window_days": 91}})
    assert rest.status_code == 400, rest.text
    refused = run(cli_env, "campaigns", "create", "--project", "shop", "--name", "bad", "--template", "no_params",
                  "--attribution-window-days", "91", ok=False)
    assert refused.returncode == 2 and rest.json()["message"] in refused.stderr, (refused.stderr, rest.text)
    body_urls = run({k: v for k, v in cli_env.items() if k != "WACAST_PUBLIC_URL"}, "campaigns", "create", "--project", "shop",
                    "--name", "bad", "--template", "no_params", "--track-body-urls", ok=False)
    assert body_urls.returncode == 2 and "WACAST_PUBLIC_URL" in body_urls.stderr, body_urls.stderr
    assert await counts(db) == before
