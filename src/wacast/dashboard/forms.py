"""What people type into the dashboard, read once: every form field and every query parameter
a page passes on passes the one text rule (kit/text.py). NUL, control characters and lone
surrogates are refused with FIELD_INVALID naming the field (shown on the page, nothing
written; PostgreSQL never sees them); newlines and tabs only in fields that allow them.

A page declares the fields its form posts (`fields("name", "phone")`): any other field is
refused with 422 VALIDATION_ERROR naming it, as the REST API does, before anything is
written: a field the page does not read would otherwise be dropped without a word."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request

from wacast.kit import text
from wacast.kit.errors import NotFound, WacastError

# The form guard is about characters; each field's own length rule stays with the service that
# stores it (its codes, e.g. INVALID_NAME for a tag name over 100) or the page's truncation.
# This bound only keeps a pasted megabyte out of them.
MAX_FIELD = 64 * 1024

# Every form posts the session's CSRF token (web.check_csrf); no page reads it as data.
IMPLICIT_FIELDS = frozenset({"csrf"})


class Form:
    """A submitted form (the last value of a repeated field wins), read through the text rule."""

    def __init__(self, items: dict[str, Any], repeated: dict[str, list[Any]] | None = None) -> None:
        self._items = items
        self._repeated = repeated if repeated is not None else {k: [v] for k, v in items.items()}

    @classmethod
    async def read(cls, request: Request) -> Form:
        form = await request.form()
        repeated: dict[str, list[Any]] = {}
        for name, value in form.multi_items():
            repeated.setdefault(name, []).append(value)
        return cls(dict(form.multi_items()), repeated)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def allow(self, *names: str) -> Form:
        """Refuse any field but `names` (and the CSRF token): 422 VALIDATION_ERROR naming them
        and the fields allowed, shown on the page like any other refused value."""
        # Named as posted, cut short: the message travels in the session cookie's flash.
        unknown = [name[:64] for name in sorted(set(self._items) - IMPLICIT_FIELDS - set(names))][:10]
        if unknown:
            raise WacastError(
                f"Unknown field(s): {', '.join(unknown)}", "VALIDATION_ERROR", {"fields": unknown, "allowed": sorted(names)}, status_code=422,
            )
        return self

    def text(self, name: str, default: str = "", *, multiline: bool = False, max_len: int = MAX_FIELD, strip: bool = True) -> str:
        """The field as checked text (stripped unless `strip=False`); `default` when absent."""
        return text.clean(name, self._items.get(name, default), max_len=max_len, multiline=multiline, strip=strip)

    def values(self, name: str, *, max_values: int = 1000) -> list[str]:
        """Every value of a repeated field (a multiple select, checkboxes of one name), each
        through the text rule; too many is FIELD_INVALID, never a silent cut."""
        given = self._repeated.get(name, [])
        if len(given) > max_values:
            raise WacastError(f"{name} has too many values (at most {max_values})", "FIELD_INVALID", {"field": name})
        return [text.clean(name, v, max_len=MAX_FIELD) for v in given]

    def checked(self, name: str) -> bool:
        """A checkbox: ticked when it was sent as "on"."""
        return name in self._items and self.text(name) == "on"

    def upload(self, name: str) -> Any:
        """A file field (starlette's UploadFile), or None when no file was chosen."""
        value = self._items.get(name)
        return None if value is None or isinstance(value, str) else value


# A POST page's form, read before its database session is opened (an upload is never read
# while a write transaction waits).
Posted = Annotated[Form, Depends(Form.read)]


def fields(*names: str) -> Any:
    """A POST page's form with the fields it reads, as a parameter type: read and checked
    (`Form.allow`) before the page's database session opens. `fields()` is a form with no
    field of its own (a button that only posts the CSRF token)."""

    async def read(request: Request) -> Form:
        return (await Form.read(request)).allow(*names)

    return Annotated[Form, Depends(read)]


def query_text(request: Request, name: str, default: str = "") -> str:
    """A query parameter a page filters on, checked like a form field (never stripped: a
    filter searches for what it was given)."""
    return text.clean(name, request.query_params.get(name, default), max_len=MAX_FIELD, strip=False)


def uuid_or_404(value: str) -> uuid.UUID:
    """An id from the path; anything else is a page that does not exist."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("Not found", "NOT_FOUND") from None
