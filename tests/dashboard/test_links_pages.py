"""Clicks and conversions on the dashboard, on both backends: the campaign page's and the
broadcast page's numbers, the overview's and the campaigns list's comparison, the clicked and
converted audiences with their CSV, the contact timeline's `clicked`, the tracking form (and a
bad value changing nothing), the segment builder's click conditions and the retargeting
preset "clicked, didn't buy"."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select, update

from tests.dashboard.test_dashboard import add_user, csrf_of, sign_in
from tests.links.scenario import ASHA, MEERA, RAVI, build
from wacast.kit.clock import utcnow
from wacast.models.campaigns import Campaign


async def signed_in(client, db, role: str = "manager"):  # noqa: ANN001, ANN201
    s = await build(client, db)
    await add_user(db, s.setup.project_id, f"{role}@acme.test", role)
    await sign_in(client, f"{role}@acme.test", f"password-{role}")
    return s


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert found, element_id
    return found.group(1)


async def test_the_campaign_page_shows_clicks_conversions_and_revenue(client, db):
    s = await signed_in(client, db, "agent")
    page = (await client.get(f"/campaigns/{s.campaign_id}")).text
    assert text_of(page, "count-clicked") == "2" and text_of(page, "count-converted") == "1"
    assert text_of(page, "revenue") == "INR 1,499.00"
    assert text_of(page, "read-to-click") == "40 min" and text_of(page, "click-to-conversion") == "2 min"
    assert "66.7% of delivered · 2 clicks" in page and "33.3% of delivered · 2 conversions" in page
    per_button = page[page.index('id="clicks-per-button"'):page.index('id="conversions-per-goal"')]
    assert "Button 1" in per_button and "<td class=\"num\">2</td>" in per_button
    per_goal = page[page.index('id="conversions-per-goal"'):]
    assert "purchase <span class=\"small muted\">(other goal)</span>" in per_goal and "cart" in per_goal
    # An agent reads the tracking settings and gets no form.
    assert 'id="tracking-form"' not in page and "attribution window 7 days" in page

    clicked = (await client.get(f"/campaigns/{s.campaign_id}?outcome=CLICKED")).text
    audience = clicked[clicked.index('id="audience"'):]
    assert ASHA in audience and RAVI in audience and MEERA not in audience
    assert f'href="/campaigns/{s.campaign_id}/audience.csv?outcome=CLICKED"' in audience
    converted = (await client.get(f"/campaigns/{s.campaign_id}?outcome=CONVERTED")).text
    audience = converted[converted.index('id="audience"'):]
    assert ASHA in audience and RAVI not in audience and "cart, purchase" in audience


async def test_the_audience_csv_carries_clicks_and_conversions(client, db):
    s = await signed_in(client, db, "agent")
    exported = await client.get(f"/campaigns/{s.campaign_id}/audience.csv?outcome=CONVERTED")
    assert exported.status_code == 200 and 'filename="order_update-converted.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["phone"], r["name"], r["clicks"], r["conversions"], r["goals"], r["revenue"]) for r in rows] == [
        (ASHA, "Asha Verma", "1", "2", "cart, purchase", "INR 1499.00")]
    everyone = list(csv.DictReader(io.StringIO((await client.get(f"/campaigns/{s.campaign_id}/audience.csv?outcome=READ")).text)))
    assert sorted((r["phone"], r["clicks"], bool(r["clicked_at"])) for r in everyone) == sorted(
        [(ASHA, "1", True), (RAVI, "1", True), (MEERA, "0", False)])


async def test_the_overview_and_the_campaigns_list_compare_clicks_conversions_and_revenue(client, db):
    s = await signed_in(client, db, "agent")
    async with db.transaction() as session:  # the overview shows the six newest campaigns: make this one the newest
        await session.execute(update(Campaign).where(Campaign.id == s.campaign_id).values(created_at=utcnow()))
    for path in ("/", "/campaigns"):
        page = (await client.get(path)).text
        row = page[page.index(f'href="/campaigns/{s.campaign_id}"'):]
        row = row[:row.index("</tr>")]
        assert '<td class="num" data-testid="clicked">66.7%</td>' in row, path
        assert '<td class="num" data-testid="converted">33.3%</td>' in row and '<td data-testid="revenue">INR 1,499.00</td>' in row


async def test_the_contact_timeline_shows_the_click_and_the_conversion(client, db):
    s = await signed_in(client, db, "agent")
    asha = (await client.get(f"/contacts/{s.contacts[ASHA]}")).text
    assert 'data-testid="clicked"' in asha and "1 tap on a tracked link" in asha
    assert 'data-testid="converted"' in asha and "cart, purchase · INR 1,499.00" in asha
    meera = (await client.get(f"/contacts/{s.contacts[MEERA]}")).text
    assert 'data-testid="clicked"' not in meera and 'data-testid="converted"' not in meera


async def tracking_of(db, campaign_id):  # noqa: ANN001, ANN201
    async with db.read() as session:
        return (await session.execute(select(Campaign.tracking).where(Campaign.id == campaign_id))).scalar_one()


async def test_a_manager_sets_the_tracking_and_a_bad_value_changes_nothing(client, db):
    s = await signed_in(client, db)
    token = await csrf_of(client, f"/campaigns/{s.campaign_id}")
    form = {"csrf": token, "utm_source": "", "utm_medium": "broadcast", "utm_campaign": "", "utm_content": "shop_now", "utm_term": "",
            "goals": "purchase, Cart", "attribution_window_days": "3"}
    saved = await client.post(f"/campaigns/{s.campaign_id}/tracking", data=form)
    assert saved.status_code == 303 and saved.headers["location"] == f"/campaigns/{s.campaign_id}"
    stored = {"utm": {"utm_medium": "broadcast", "utm_content": "shop_now"}, "goals": ["purchase", "cart"], "attribution_window_days": 3,
              "track_body_urls": False}
    assert await tracking_of(db, s.campaign_id) == stored
    page = (await client.get(f"/campaigns/{s.campaign_id}")).text
    assert "Tracking saved: purchase, cart, attribution window 3 days." in page
    assert 'name="utm_medium" value="broadcast"' in page and 'value="purchase, cart"' in page and 'name="attribution_window_days" min="1" max="90" value="3"' in page
    per_goal = page[page.index('id="conversions-per-goal"'):]
    assert "<td>purchase</td>" in per_goal and "cart</td>" in per_goal and "(other goal)" not in per_goal  # both goals are the campaign's now

    for bad, field in (({"attribution_window_days": "91"}, "tracking.attribution_window_days"),
                       ({"attribution_window_days": "seven"}, "tracking.attribution_window_days"),
                       ({"goals": "Big Sale!"}, "tracking.goals[0]"),
                       ({"goals": "a, b, c, d, e, f"}, "tracking.goals"),
                       ({"utm_medium": "x\x00y"}, "utm_medium"),
                       ({"track_body_urls": "on"}, "WACAST_PUBLIC_URL")):  # tracking the text's links needs the public URL
        refused = await client.post(f"/campaigns/{s.campaign_id}/tracking", data={**form, **bad})
        if any("\x00" in v for v in bad.values()):  # refused by the form's text rule, before the tracking form is read: back with the error
            assert refused.status_code == 303, (bad, refused.status_code)
        else:  # the page again, the form as typed and why
            assert refused.status_code == 400, (bad, refused.status_code)
            assert 'id="tracking-error"' in refused.text and field in refused.text, (bad, refused.text[:300])
            key, value = next(iter(bad.items()))
            shown = 'checked' if key == "track_body_urls" else f'value="{value}"'
            form_html = refused.text[refused.text.index('id="tracking-form"'):refused.text.index('id="save-tracking"')]
            assert shown in form_html and 'name="utm_content" value="shop_now"' in form_html, (bad, form_html)
        assert await tracking_of(db, s.campaign_id) == stored, bad
    unknown = await client.post(f"/campaigns/{s.campaign_id}/tracking", data={**form, "coupon": "x"})
    assert unknown.status_code in (303, 422) and await tracking_of(db, s.campaign_id) == stored


async def test_an_agent_cannot_set_the_tracking(client, db):
    s = await signed_in(client, db, "agent")
    token = await csrf_of(client, f"/campaigns/{s.campaign_id}")
    refused = await client.post(f"/campaigns/{s.campaign_id}/tracking", data={"csrf": token, "goals": "purchase"})
    assert refused.status_code == 403 and await tracking_of(db, s.campaign_id) is None


async def test_the_segment_builder_counts_and_saves_clicked_but_did_not_buy(client, db):
    s = await signed_in(client, db)
    token = await csrf_of(client, "/segments/new")
    builder = (await client.get("/segments/new")).text
    assert 'value="clicked" data-for="campaign"' in builder and 'value="not_converted" data-for="campaign"' in builder
    rows = {"csrf": token, "name": "Tapped, no purchase", "match": "all",
            "c0_field": "campaign", "c0_op": "clicked", "c0_campaign": str(s.campaign_id),
            "c1_field": "campaign", "c1_op": "not_converted", "c1_campaign": str(s.campaign_id), "c1_value": "purchase"}
    counted = await client.post("/segments/count", data=rows)
    assert counted.status_code == 200 and counted.json()["count"]["matching"] == 1, counted.text
    saved = await client.post("/segments", data=rows)
    assert saved.status_code == 303, saved.text
    listing = (await client.get("/segments")).text
    assert "clicked in order_update and got order_update, did not convert (purchase)" in listing
    segment_id = re.search(r'href="/segments/([0-9a-f-]{36})/edit"', listing).group(1)
    edit = (await client.get(f"/segments/{segment_id}/edit")).text
    assert 'value="not_converted" data-for="campaign" selected' in edit and 'name="c1_value" value="purchase"' in edit
    exported = (await client.get(f"/segments/{segment_id}/export.csv")).text
    assert RAVI in exported and ASHA not in exported and MEERA not in exported


async def test_retargeting_those_who_clicked_but_did_not_buy(client, db):
    s = await signed_in(client, db)
    page = (await client.get(f"/campaigns/{s.campaign_id}")).text
    assert 'data-testid="retarget-clicked_not_converted"' in page
    token = await csrf_of(client, f"/campaigns/{s.campaign_id}")
    made = await client.post(f"/campaigns/{s.campaign_id}/retarget", data={"csrf": token, "audience": "clicked_not_converted"})
    assert made.status_code == 303 and made.headers["location"].startswith("/broadcasts/new?segment=")
    assert "1 contacts can be messaged" in (await client.get(made.headers["location"])).text
    not_clicked = await client.post(f"/campaigns/{s.campaign_id}/retarget", data={"csrf": token, "audience": "not_clicked"})
    assert "1 contacts can be messaged" in (await client.get(not_clicked.headers["location"])).text
