import asyncio

from alembic import context
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from wacast.db.engine import create_engine
from wacast.models import Base

target_metadata = Base.metadata


def do_run_migrations(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration left rows that refer to missing rows: {broken[:5]}")


def _foreign_keys_off(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


async def run_async() -> None:
    engine: AsyncEngine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    if engine.dialect.name == "sqlite":
        # SQLite's batch mode rebuilds a table to alter it (copy, DROP, rename). With foreign
        # keys on, that DROP deletes every row that refers to the table (ON DELETE CASCADE):
        # rebuilding `projects` would empty `contacts` and `messages`. So they are off while
        # migrating (set on connect, after the engine's own PRAGMAs: inside a transaction the
        # PRAGMA does nothing), and checked once the migration is done.
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `wacast migrate`")
asyncio.run(run_async())
