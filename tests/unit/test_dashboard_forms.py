"""The dashboard's form reader applies the one text rule to every field (no I/O): lone
surrogates and controls refused with the field named, newlines only where allowed; a field
the page did not declare is refused, naming it."""

from __future__ import annotations

import pytest
from starlette.datastructures import UploadFile
from starlette.requests import Request

from wacast.dashboard.forms import MAX_FIELD, Form, query_text, uuid_or_404
from wacast.kit.errors import NotFound, WacastError


def refused(call) -> WacastError:
    with pytest.raises(WacastError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x0b", "\x1b", "\x7f", "\x85", "\x9f", "\ud800", "a\rb"])
def test_every_forbidden_character_is_refused_naming_the_field(bad: str) -> None:
    error = refused(lambda: Form({"name": f"x{bad}y"}).text("name"))
    assert error.code == "FIELD_INVALID" and error.details["field"] == "name"
    assert error.message.startswith("name must not contain")


def test_lone_surrogates_are_named_as_invalid_unicode() -> None:
    error = refused(lambda: Form({"body": "hi \udc80"}).text("body", multiline=True))
    assert "lone surrogate" in error.message and error.details["character"] == "U+DC80"


def test_newlines_and_tabs_only_where_the_field_allows_them() -> None:
    form = Form({"body": " Hello\r\nthere\tfriend\n "})
    assert form.text("body", multiline=True) == "Hello\r\nthere\tfriend"
    assert form.text("body", multiline=True, strip=False) == " Hello\r\nthere\tfriend\n "
    assert "line breaks or tabs" in refused(lambda: form.text("body")).message


def test_defaults_checkboxes_uploads_and_a_file_where_text_was_expected() -> None:
    upload = UploadFile(file=None, filename="people.csv")  # type: ignore[arg-type]
    form = Form({"live": "on", "off": "", "file": upload, "text": "x"})
    assert form.text("missing", "fallback") == "fallback" and form.text("missing") == ""
    assert form.checked("live") and not form.checked("off") and not form.checked("missing")
    assert form.upload("file") is upload and form.upload("text") is None and form.upload("missing") is None
    assert refused(lambda: form.text("file")).message == "file must be a string"
    assert "live" in form and "missing" not in form


def test_lengths_stay_the_services_rule_up_to_a_bound() -> None:
    assert len(Form({"name": "a" * MAX_FIELD}).text("name")) == MAX_FIELD
    assert refused(lambda: Form({"name": "a" * (MAX_FIELD + 1)}).text("name")).code == "FIELD_TOO_LONG"


def test_query_filters_are_checked_and_kept_as_given() -> None:
    request = Request({"type": "http", "query_string": b"q=+Asha+&tag=vip%00", "headers": []})
    assert query_text(request, "q") == " Asha "
    assert query_text(request, "missing") == ""
    assert refused(lambda: query_text(request, "tag")).details["field"] == "tag"


def test_ids_that_are_not_uuids_are_pages_that_do_not_exist() -> None:
    assert str(uuid_or_404("00000000-0000-0000-0000-000000000001")).endswith("1")
    with pytest.raises(NotFound):
        uuid_or_404("not-an-id\x00")


def test_a_field_the_page_does_not_declare_is_refused_naming_it() -> None:
    form = Form({"csrf": "token", "name": "Asha", "frobnicate": "1", "zzz": ""})
    error = refused(lambda: form.allow("name", "phone"))
    assert error.code == "VALIDATION_ERROR" and error.status_code == 422
    assert error.message == "Unknown field(s): frobnicate, zzz"
    assert error.details == {"fields": ["frobnicate", "zzz"], "allowed": ["name", "phone"]}


def test_declared_fields_may_be_left_out_and_the_csrf_token_is_always_allowed() -> None:
    form = Form({"csrf": "token", "name": "Asha"})
    assert form.allow("name", "phone") is form and form.text("name") == "Asha"
    assert Form({"csrf": "token"}).allow() is not None  # a button that posts only the token
    assert refused(lambda: Form({"csrf": "t", "name": "x"}).allow()).details["fields"] == ["name"]



def test_a_pasted_flood_of_unknown_fields_is_named_briefly() -> None:
    # The message is flashed through the session cookie: it must stay small.
    form = Form({"x" * 5000: "1", **{f"f{i:02d}": "1" for i in range(50)}})
    error = refused(lambda: form.allow("name"))
    assert len(error.details["fields"]) == 10 and len(error.message) < 1000
