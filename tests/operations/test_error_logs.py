"""A database error never carries the statement's values (personal data, an uploaded file's
rows) into the text that a log line or an error report shows."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import IntegrityError

from wacast.models.projects import Project


async def test_a_database_error_does_not_quote_the_values_it_was_given(db) -> None:  # noqa: ANN001
    personal = "Asha Verma +917428526285"
    async with db.transaction() as session:
        session.add(Project(id=uuid.uuid4(), name=personal))
    with pytest.raises(IntegrityError) as refused:
        async with db.transaction() as session:
            session.add(Project(id=uuid.uuid4(), name=personal))  # projects.name is unique
    assert "hide_parameters" in str(refused.value), "the statement is shown without its values"
    assert personal not in str(refused.value)
