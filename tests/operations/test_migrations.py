"""Migrations as a database that is already in use meets them: from the revision a release
left it at, up to the head, and back down again (every later migration's downgrade runs)."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from sqlalchemy import Uuid, bindparam, inspect, text

from wacast.db.engine import create_engine
from wacast.db.migrate import alembic_config, head_revision, upgrade

# The head of the release in which revisions 0010-0012 were still reserved, empty slots.
RELEASED = "0014"


async def _run(url: str, statements: list[tuple[str, dict]]) -> list:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            results = []
            for sql, params in statements:
                # UUIDs bound as the Uuid type (SQLite keeps them as hex text, PostgreSQL as uuid).
                statement = text(sql).bindparams(*(bindparam(k, type_=Uuid()) for k, v in params.items() if isinstance(v, uuid.UUID)))
                result = await conn.execute(statement, params)
                results.append(result.all() if result.returns_rows else None)
            return results
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


def test_a_database_at_the_released_head_gets_issue_15s_tables_and_round_trips(db_url: str) -> None:
    command.downgrade(alembic_config(db_url), RELEASED)
    try:
        assert "inbound_media" not in asyncio.run(_tables(db_url)), "the released 0010 created nothing"
        project, contact = uuid.uuid4(), uuid.uuid4()
        asyncio.run(_run(db_url, [(
            "INSERT INTO projects (id, name, default_country, messages_per_second, timezone, opt_out_keywords, opt_out_payloads, "
            "created_at) VALUES (:id, 'released', 'IN', 80, 'UTC', '[]', '[]', CURRENT_TIMESTAMP)", {"id": project},
        ), (
            "INSERT INTO contacts (id, project_id, phone, name, source, opted_in, blocked, attributes, created_at, updated_at) "
            "VALUES (:id, :p, '+917428526285', 'Asha', 'api', true, false, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            {"id": contact, "p": project},
        ), (
            "INSERT INTO messages (id, project_id, contact_id, destination, payload, status, priority, attempts, "
            "next_attempt_at, created_at) VALUES (:id, :p, :c, '+917428526285', '{}', 'read', 0, 1, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP)", {"id": uuid.uuid4(), "p": project, "c": contact},
        )]))
        upgrade(db_url)
        # SQLite rebuilds `contacts` and `projects` to alter them: nothing that refers to them goes.
        assert asyncio.run(_run(db_url, [("SELECT count(*) FROM messages WHERE contact_id = :c", {"c": contact})]))[0] == [(1,)]
        tables = asyncio.run(_tables(db_url))
        assert {"inbound_media", "contact_former_numbers", "account_statuses", "account_events"} <= tables
        # A person known by BSUID alone: no phone number, a 140-character user id.
        bsuid = "US.ENT." + "9" * 128
        rows = asyncio.run(_run(db_url, [(
            "INSERT INTO contacts (id, project_id, phone, user_id, name, source, opted_in, blocked, attributes, created_at, "
            "updated_at) VALUES (:id, :p, NULL, :u, '', 'meta', true, false, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            {"id": uuid.uuid4(), "p": project, "u": bsuid},
        ), ("SELECT phone, user_id FROM contacts WHERE project_id = :p ORDER BY phone", {"p": project})]))[1]
        assert sorted(rows, key=lambda r: r[0] or "") == [(None, bsuid), ("+917428526285", None)]
        # And back: the contact without a phone cannot stay, the one with a phone does.
        command.downgrade(alembic_config(db_url), RELEASED)
        kept = asyncio.run(_run(db_url, [("SELECT phone FROM contacts WHERE project_id = :p", {"p": project})]))[0]
        assert kept == [("+917428526285",)]
        assert asyncio.run(_run(db_url, [("SELECT count(*) FROM messages WHERE contact_id = :c", {"c": contact})]))[0] == [(1,)]
        assert "inbound_media" not in asyncio.run(_tables(db_url))
    finally:
        upgrade(db_url)
    assert asyncio.run(_run(db_url, [("SELECT version_num FROM alembic_version", {})]))[0] == [(head_revision(),)]
