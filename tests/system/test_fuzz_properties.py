"""Hypothesis properties: phone normalization, parameter counting, and the status ladder
walked through the real event path (signed Meta webhooks -> stored events -> processing)."""

from __future__ import annotations

import re
import time
import uuid

import orjson
import phonenumbers
from hypothesis import HealthCheck, example, given, settings, strategies as st
from sqlalchemy import select, update

from tests.support.factories import body, make_project
from wacast.kit.phone import InvalidNumber, normalize
from wacast.models.messages import Message
from wacast.models.projects import Project
from wacast.templates.params import analyze, placeholders, render_text
from wacast.whatsapp.inbound import InboundEvents
from wacast.api.meta_webhooks import signature_of

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
REGIONS = sorted(r for r in phonenumbers.SUPPORTED_REGIONS if phonenumbers.example_number_for_type(r, phonenumbers.PhoneNumberType.MOBILE))


# --- phone numbers ----------------------------------------------------------------------


@given(st.text(max_size=40), st.sampled_from(["IN", "US", "GB", "BR", "DE"]))
@example("+٩١٧٤٢٨٥٢٦٢٨٥", "IN")
@example("\x00+917428526285", "IN")
@example("+91 7428\u200b526285", "IN")
def test_normalize_answers_e164_or_invalid_for_any_text(raw: str, country: str) -> None:
    try:
        out = normalize(raw, country)
    except InvalidNumber:
        return
    assert E164.match(out), out  # ASCII E.164, whatever digits came in
    assert phonenumbers.is_valid_number(phonenumbers.parse(out))
    assert normalize(out, country) == out  # idempotent


def _mobile(region: str) -> phonenumbers.PhoneNumber:
    return phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)


@given(st.sampled_from(REGIONS), st.lists(st.sampled_from([" ", "-", "(", ")", "."]), max_size=6), st.randoms())
def test_every_written_form_of_a_valid_number_gives_the_same_e164(region: str, separators: list[str], rnd) -> None:  # noqa: ANN001
    number = _mobile(region)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    assert normalize(e164, region) == e164
    assert normalize("00" + e164[1:], region) == e164
    assert normalize(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL), region) == e164
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    # A national form written only with digits and separators (wacast reads national numbers
    # of 6 digits or more; a few territories have shorter ones, which need their + form).
    if re.fullmatch(r"[0-9 ()\-.]+", national) and len(re.sub(r"\D", "", national)) >= 6:
        assert normalize(national, region) == e164
    # Separators anywhere between the digits change nothing.
    chars = list(e164[1:])
    for sep in separators:
        chars.insert(rnd.randint(1, len(chars) - 1), sep)
    assert normalize("+" + "".join(chars), region) == e164


@given(st.one_of(st.integers(), st.none(), st.floats(), st.lists(st.text()), st.binary()))
def test_non_strings_are_invalid(value) -> None:  # noqa: ANN001
    try:
        normalize(value)
    except InvalidNumber:
        return
    raise AssertionError(f"{value!r} was accepted")


# --- parameter counting -----------------------------------------------------------------

literal = st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=8)
names = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)


def _interleave(tokens: list[str], gaps: list[str]) -> str:
    return "".join(g + t for g, t in zip(gaps, tokens, strict=False)) + (gaps[-1] if gaps else "")


@given(st.lists(st.integers(min_value=1, max_value=30), max_size=12), st.lists(literal, min_size=13, max_size=13),
       st.lists(st.sampled_from(["", " "]), min_size=12, max_size=12))
def test_positional_count_is_distinct_numbers_in_order(numbers: list[int], gaps: list[str], pads: list[str]) -> None:
    tokens = [f"{{{{{p}{n}{p}}}}}" for n, p in zip(numbers, pads, strict=False)]
    text = _interleave(tokens, gaps)
    needs = analyze([{"type": "BODY", "text": text}])
    expected = tuple(str(n) for n in sorted(set(numbers)))
    assert needs.body_params == expected
    assert len(needs.text_params) == len(set(numbers)) == needs.total_parameters
    rendered = render_text(text, needs.body_params, [f"<v{n}>" for n in expected], "POSITIONAL")
    assert not re.search(r"\{\{\s*\d+\s*\}\}", rendered)


@given(st.lists(names, max_size=10), st.lists(literal, min_size=11, max_size=11))
def test_named_count_is_distinct_names_in_first_seen_order(found: list[str], gaps: list[str]) -> None:
    text = _interleave([f"{{{{{n}}}}}" for n in found], gaps)
    needs = analyze([{"type": "BODY", "text": text}], "NAMED")
    assert needs.body_params == tuple(dict.fromkeys(found))
    assert needs.named


@given(
    st.sampled_from([None, "TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"]),
    st.lists(st.integers(min_value=1, max_value=5), max_size=3),
    st.lists(st.integers(min_value=1, max_value=9), max_size=6),
    st.lists(st.sampled_from(["URL_VAR", "URL", "COPY_CODE", "QUICK_REPLY", "PHONE_NUMBER"]), max_size=4),
)
def test_total_parameters_adds_up(header: str | None, header_nums: list[int], body_nums: list[int], buttons: list[str]) -> None:
    components: list[dict] = []
    if header == "TEXT":
        components.append({"type": "HEADER", "format": "TEXT", "text": " ".join(f"{{{{{n}}}}}" for n in header_nums)})
    elif header:
        components.append({"type": "HEADER", "format": header})
    components.append({"type": "BODY", "text": "x " + " ".join(f"{{{{{n}}}}}" for n in body_nums)})
    spec = []
    for kind in buttons:
        if kind == "URL_VAR":
            spec.append({"type": "URL", "text": "go", "url": "https://x.example/{{1}}"})
        elif kind == "URL":
            spec.append({"type": "URL", "text": "go", "url": "https://x.example/"})
        else:
            spec.append({"type": kind, "text": "b"})
    if spec:
        components.append({"type": "BUTTONS", "buttons": spec})
    needs = analyze(components)
    header_count = min(1, len(set(header_nums))) if header == "TEXT" else 0
    assert len(needs.header_params) == header_count  # a text header has at most one
    assert needs.body_params == placeholders(components[-2 if spec else -1]["text"], "POSITIONAL")
    param_buttons = sum(1 for k in buttons if k in ("URL_VAR", "COPY_CODE"))
    media = 1 if header in ("IMAGE", "VIDEO", "DOCUMENT", "LOCATION") else 0
    assert needs.total_parameters == header_count + len(set(body_nums)) + param_buttons + media
    assert [b.index for b in needs.buttons] == list(range(len(buttons)))


# --- the status ladder, through the real event path ------------------------------------

RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}
PHONE_NUMBER_ID = "5550001"


def expected_status(received: list[str]) -> str:
    """The documented ladder: queued < sent < delivered < read, never backwards; failed is
    final unless Meta later (or earlier, out of order) says delivered or read."""
    ranked = [s for s in received if s != "failed"]
    best = max(ranked, key=RANK.__getitem__, default="queued")
    if "failed" in received and RANK[best] < RANK["delivered"]:
        return "failed"
    return best


def webhook(message_id: str, wamid: str, status: str, ts: int) -> dict:
    entry: dict = {"id": wamid, "status": status, "timestamp": str(ts), "recipient_id": "917428526285",
                   "biz_opaque_callback_data": message_id}
    if status == "failed":
        entry["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
    return {"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID}, "statuses": [entry]}}]}]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["sent", "delivered", "read", "failed"]), min_size=1, max_size=6), st.booleans())
@example(["failed", "sent"], False)
@example(["read", "delivered", "sent"], True)
@example(["failed", "read", "failed"], False)
async def test_status_ladder_never_moves_backwards(client, db, settings, statuses: list[str], repeat: bool) -> None:  # noqa: ANN001
    if not getattr(db, "_ladder_project", None):
        setup = await make_project(db, "ladder")
        async with db.transaction() as session:
            await session.execute(update(Project).where(Project.id == setup.project_id).values(phone_number_id=PHONE_NUMBER_ID, access_token="t"))
        db._ladder_project = setup
    setup = db._ladder_project
    response = await client.post("/campaign/t1/api/v2", json=body(setup, destination=f"+9190{uuid.uuid4().int % 10**8:08d}"))
    assert response.status_code == 200, response.text
    message_id = response.json()["submitted_message_id"]
    wamid = f"wamid.{uuid.uuid4().hex}"
    processor = InboundEvents(db, settings)
    seen: list[str] = []
    base = int(time.time())
    for i, status in enumerate(statuses + (statuses[:1] if repeat else [])):  # Meta also repeats itself
        raw = orjson.dumps(webhook(message_id, wamid, status, base + i))
        answer = await client.post("/webhooks/whatsapp", content=raw, headers={
            "content-type": "application/json", "x-hub-signature-256": signature_of(settings.meta_app_secret, raw)})
        assert answer.status_code == 200, answer.text
        await processor.tick()
        seen.append(status)
        async with db.sessionmaker() as session:
            row = (await session.execute(select(Message).where(Message.id == uuid.UUID(message_id)))).scalar_one()
        assert row.status == expected_status(seen), f"after {seen}: {row.status}"
        assert row.wamid == wamid
        assert (row.read_at is not None) == ("read" in seen)
        assert (row.delivered_at is not None) == any(s in ("delivered", "read") for s in seen)
