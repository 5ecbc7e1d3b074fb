"""A corpus of malformed campaign requests: each gets a 4xx with a clear message, never a 500,
and writes nothing. Plus a hypothesis run of arbitrary JSON in every field of a valid body."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.factories import body, make_project, table_counts

URL = "/campaign/t1/api/v2"
INJECTIONS = ["'; DROP TABLE messages; --", "\" OR 1=1 --", "${jndi:ldap://x/a}", "{{7*7}}", "<script>alert(1)</script>",
              "../../etc/passwd", "%00", "$(reboot)"]


def _deep(n: int) -> bytes:
    return b'{"apiKey":"K","campaignName":"order_update","destination":' + b"[" * n + b"]" * n + b"}"


def corpus(key: str) -> list[tuple[str, bytes | dict | list | str]]:
    """(case name, body). A dict/list is sent as JSON; bytes are sent as they are."""
    good = {"apiKey": key, "campaignName": "order_update", "destination": "+917428526285", "userName": "Asha",
            "templateParams": ["Asha", "ORD-1"]}

    def but(**changes: object) -> dict:
        out = {**good, **changes}
        return {k: v for k, v in out.items() if v is not ...}

    cases: list[tuple[str, bytes | dict | list | str]] = [
        # wrong types
        ("body is an array", [good]), ("body is a string", "hello"), ("body is a number", 42), ("body is null", None),
        ("campaignName number", but(campaignName=12)), ("destination number", but(destination=917428526285)),
        ("destination list", but(destination=["+917428526285"])), ("userName object", but(userName={"a": 1})),
        ("templateParams string", but(templateParams="Asha,ORD-1")), ("templateParams numbers", but(templateParams=[1, 2])),
        ("templateParams nulls", but(templateParams=[None, None])), ("tags string", but(tags="vip")),
        ("attributes list", but(attributes=["city"])), ("attributes number value", but(attributes={"city": 5})),
        ("media string", but(media="https://x.example/a.jpg")), ("buttons object", but(buttons={"index": 0})),
        ("buttons of strings", but(buttons=["a"])), ("carouselCards of numbers", but(carouselCards=[1])),
        ("location string", but(location="28.6,77.2")), ("location bool", but(location={"latitude": True, "longitude": 1})),
        ("location out of range", but(location={"latitude": 91, "longitude": 0})),
        ("apiKey number", but(apiKey=12345)), ("apiKey bool", but(apiKey=True)),
        ("paramsFallbackValue list", but(paramsFallbackValue=["x"])),
        # missing fields
        ("no apiKey", but(apiKey=...)), ("no campaignName", but(campaignName=...)), ("no destination", but(destination=...)),
        ("no userName", but(userName=...)), ("no templateParams", but(templateParams=...)), ("empty object", {}),
        ("blank campaignName", but(campaignName="   ")), ("empty destination", but(destination="")),
        # huge strings and arrays
        ("huge body", but(userName="x" * 70_000)), ("long userName", but(userName="x" * 5000)),
        ("long campaignName", but(campaignName="c" * 5000)), ("long destination", but(destination="9" * 500)),
        ("long param", but(templateParams=["Asha", "x" * 5000])), ("too many params", but(templateParams=["a"] * 1000)),
        ("too many tags", but(tags=["t"] * 1000)), ("too many attributes", but(attributes={f"k{i}": "v" for i in range(500)})),
        ("param too long for Meta", but(templateParams=["Asha", "y" * 1100])),
        # deep nesting
        ("deep nesting 100", _deep(100)), ("deep nesting 100000", _deep(100_000)),
        ("nested params", but(templateParams=[[["Asha"]], "x"])),
        # invalid UTF-8 and broken JSON
        ("invalid utf-8", b'{"apiKey":"K","campaignName":"\xff\xfe","destination":"+917428526285"}'),
        ("overlong utf-8", b'{"userName":"\xc0\xaf"}'), ("lone surrogate", b'{"userName":"\\ud800"}'),
        ("truncated json", b'{"apiKey": "K", "campaignName": "order_'), ("not json", b"apiKey=K&campaignName=x"),
        ("empty body", b""), ("whitespace body", b"   \n"), ("json with comments", b'{"apiKey": "K" /* hi */}'),
        ("NaN", b'{"apiKey": NaN}'), ("huge integer", b'{"apiKey": "K", "destination": 1' + b"0" * 400 + b"}"), ("trailing garbage", orjson.dumps(good) + b"xyz"),
        # unicode edge cases
        ("RTL override in destination", but(destination="\u202e+917428526285")),
        ("zero width in destination", but(destination="+91\u200b7428526285")),
        ("emoji destination", but(destination="📞917428526285")), ("fullwidth short", but(destination="１２３")),
        ("emoji campaign", but(campaignName="🎉 sale")), ("combining marks campaign", but(campaignName="e\u0301" * 50)),
        ("newline in param", but(templateParams=["Asha", "a\nb"])), ("tab in param", but(templateParams=["Asha\t", "x"])),
        ("5 spaces in param", but(templateParams=["Asha     x", "y"])),
        # null bytes
        ("NUL in userName", but(userName="As\x00ha")), ("NUL in campaignName", but(campaignName="order_update\x00")),
        ("NUL in param", but(templateParams=["Asha\x00", "x"])), ("NUL in apiKey", but(apiKey=key + "\x00")),
        ("NUL in attribute key", but(attributes={"ci\x00ty": "x"})),
        # numbers as strings
        ("destination with letters", but(destination="+91742852628five")),
        ("location numbers as words", but(location={"latitude": "north", "longitude": "77"})),
        ("button index as word", but(campaignName="url_button", buttons=[{"index": "first", "parameters": [{"text": "a"}]}])),
        ("destination as float string", but(destination="9.17428526285e11")),
    ]
    # injection strings, where each makes the request invalid
    for i, text in enumerate(INJECTIONS):
        cases += [(f"injection apiKey {i}", but(apiKey=text)), (f"injection campaignName {i}", but(campaignName=text)),
                  (f"injection destination {i}", but(destination=text))]
    return cases


async def test_every_malformed_request_gets_a_clear_4xx_and_writes_nothing(client, db) -> None:  # noqa: ANN001
    setup = await make_project(db)
    before = await table_counts(db)
    seen_codes = set()
    for name, case in corpus(setup.api_key):
        raw = case if isinstance(case, bytes) else orjson.dumps(case)
        response = await client.post(URL, content=raw, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, f"{name}: {response.status_code} {response.text[:300]}"
        answer = response.json()
        assert isinstance(answer.get("message"), str) and answer["message"].strip(), name
        assert isinstance(answer.get("code"), str) and answer["code"].isupper(), name
        seen_codes.add(answer["code"])
        assert await table_counts(db) == before, f"{name} wrote something"
    # The corpus reaches many distinct rejections, not one catch-all.
    assert {"INVALID_JSON", "FIELD_INVALID", "FIELD_REQUIRED", "FIELD_TOO_LONG", "BODY_TOO_LARGE", "UNAUTHORIZED",
            "INVALID_NUMBER", "CAMPAIGN_NOT_FOUND"} <= seen_codes, seen_codes


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["apiKey", "campaignName", "destination", "userName", "templateParams", "source", "media", "buttons",
          "carouselCards", "location", "tags", "attributes", "paramsFallbackValue"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=4), st.sampled_from(list(FIELDS_CAMPAIGNS := [
    "order_update", "text_header", "location_header", "url_button", "copy_code", "carousel", "named_order", "no_params"])))
async def test_arbitrary_json_in_any_field_is_never_a_500(client, db, changes: dict, campaign: str) -> None:  # noqa: ANN001
    if not getattr(db, "_fuzz_setup", None):
        db._fuzz_setup = await make_project(db, "fuzz")
    setup = db._fuzz_setup
    request = {**body(setup, campaign), **changes}
    if "apiKey" in changes and changes["apiKey"] is None:
        request["apiKey"] = setup.api_key
    before = await table_counts(db)
    response = await client.post(URL, content=orjson.dumps(request), headers={"content-type": "application/json"})
    assert response.status_code < 500, f"{request}: {response.status_code} {response.text[:300]}"
    if response.status_code != 200:
        assert 400 <= response.status_code < 500
        assert response.json().get("message") and response.json().get("code")
        assert await table_counts(db) == before
