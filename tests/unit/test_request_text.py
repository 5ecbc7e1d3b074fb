"""kit/request_text.py: the text rule for the URL's path and query (pure parts)."""

from __future__ import annotations

import pytest

from wacast.kit.errors import WacastError
from wacast.kit.request_text import check_path, check_query, refusal


@pytest.mark.parametrize(("query", "field"), [
    (b"search=a%00b", "search"), (b"tag=ok&status=a%1bb", "status"), (b"search=%ff", "search"),
    (b"search=%ed%a0%80", "search"),  # an encoded lone surrogate is not UTF-8
    (b"search=a%0Ab", "search"), (b"search=a%09b", "search"), (b"search=a%c2%85b", "search"), (b"search=a%e2%80%a8", "search"),
    (b"a%00b=1", "query"), (b"%ff=1", "query"),
])
def test_query_values_and_names_are_refused_naming_the_parameter(query: bytes, field: str) -> None:
    with pytest.raises(WacastError) as raised:
        check_query(query)
    assert raised.value.code == "FIELD_INVALID" and raised.value.status_code == 400 and raised.value.details["field"] == field


@pytest.mark.parametrize("query", [b"", b"search=Asha+Verma", b"q=%E0%A4%85%E0%A4%B6%E0%A4%BE", b"next=/contacts%3Ftag%3Dvip&x", b"a=&&b=%2B91"])
def test_plain_queries_pass(query: bytes) -> None:
    check_query(query)


@pytest.mark.parametrize("path", [b"/api/v1/tags/a%00b", b"/api/v1/tags/%ff", b"/api/v1/tags/%ed%a0%80", b"/tags/a%1b"])
def test_paths_are_refused(path: bytes) -> None:
    with pytest.raises(WacastError) as raised:
        check_path(path)
    assert raised.value.details["field"] == "path"


def test_plain_paths_pass_and_a_decoded_only_path_is_checked() -> None:
    check_path(b"/api/v1/contacts/+917428526285")
    check_path(b"/api/v1/tags/%E0%A4%85")
    assert refusal({"type": "http", "path": "/x\x00", "query_string": b""}).details["field"] == "path"
    assert refusal({"type": "http", "raw_path": b"/x", "path": "/x", "query_string": b"a=1"}) is None
