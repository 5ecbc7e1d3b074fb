"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignore(session: AsyncSession, model, conflict_columns: list[str]):  # noqa: ANN001, ANN201
    """INSERT ... ON CONFLICT (cols) DO NOTHING, on either backend."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing(index_elements=conflict_columns)


def is_postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"
