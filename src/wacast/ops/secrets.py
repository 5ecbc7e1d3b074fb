"""`wacast secrets rotate`: re-encrypt every secret at rest with the first key of
WACAST_SECRET_KEY (and encrypt values stored before encryption was on).

Every column of type EncryptedString in the schema is covered, whoever declared it.
"""

from __future__ import annotations

from typing import Any

import wacast.models  # noqa: F401 (every table registered before the rotation walks them)
from wacast.db.base import Base
from wacast.db.engine import Database
from wacast.db.migrate import current_revision
from wacast.kit.crypto import EncryptedString, box
from wacast.kit.errors import WacastError
from wacast.ops import repository
from wacast.ops.snapshot import head


def encrypted_columns() -> list[tuple[Any, Any]]:
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                found.append((table, column))
    return found


async def rotate(db: Database, batch: int = 500) -> dict[str, int]:
    """Re-encrypt in batches of `batch` rows per transaction; returns rows per column."""
    current = await current_revision(db.engine)
    if current != head():
        raise WacastError(f"The database schema is at {current}, this wacast needs {head()}: run `wacast migrate` first", "SCHEMA_NOT_CURRENT")
    secret_box = box()
    done: dict[str, int] = {}
    for table, column in encrypted_columns():
        key = f"{table.name}.{column.name}"
        done[key] = 0
        last = None
        while True:
            async with db.transaction() as session:
                rows = await repository.stored_values(session, table, column, last, batch)
                for row_id, stored in rows:
                    if stored:
                        await repository.store_value(session, table, column, row_id, secret_box.rotate(stored))
                        done[key] += 1
            if len(rows) < batch:
                break
            last = rows[-1][0]
    return done
