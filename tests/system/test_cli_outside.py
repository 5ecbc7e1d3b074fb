"""The CLI as someone outside the checkout meets it: run from another folder, against a database
that is missing or not migrated, on a port that is taken, in an 80-column terminal, with
--json on every command, and the README's command lines all naming real commands.

Every command is a real `wacast` subprocess (tests/support/cli.py) on a real database."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL
from tests.support.cli import run, run_json
from wacast.cli import app
from wacast.db.engine import create_engine
from wacast.db.migrate import head_revision, upgrade

ROOT = Path(__file__).resolve().parents[2]

# Commands that open the database, each as an operator would type it (with what it needs).
DATABASE_COMMANDS = [
    ["projects", "list"],
    ["projects", "create", "shop"],
    ["users", "signout", "--email", "a@example.com"],
    ["messages", "show", "00000000-0000-0000-0000-000000000000"],
    ["segments", "list", "--project", "shop"],
    ["demo"],
    ["worker"],
    ["serve"],
    ["secrets", "rotate"],
    ["doctor", "--project", "shop"],
]


@pytest.fixture
def env() -> dict:
    """The environment of someone who set nothing: no WACAST_ variable at all."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")} | {"COLUMNS": "80"}


def _one_error_line(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _tree() -> list[tuple[str, Any]]:
    """Every leaf command of `wacast` by its full name, walked from the click tree typer builds
    (typer carries its own copy of click: a group is what has sub-commands)."""
    leaves: list[tuple[str, Any]] = []

    def walk(command: Any, path: str) -> None:
        if getattr(command, "commands", None) is not None:
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}".strip())
        else:
            leaves.append((path, command))

    walk(typer.main.get_command(app), "")
    return leaves


def test_a_missing_database_is_one_line_and_no_stray_file(env, tmp_path):
    """Run from a folder that is not the checkout, with the default URL: one line that names
    the URL, the file it means and `wacast migrate`; nothing created in that folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in DATABASE_COMMANDS:
        result = run(env, *args, ok=False, cwd=elsewhere)
        _one_error_line(result, "sqlite:///./data/wacast.db", str(elsewhere / "data" / "wacast.db"), "wacast migrate",
                        "WACAST_DATABASE_URL")
        assert list(elsewhere.iterdir()) == [], (args, list(elsewhere.iterdir()))
    # The line, with --json too (a script sees the same exit and line).
    _one_error_line(run(env, "projects", "list", "--json", ok=False, cwd=elsewhere), "wacast migrate")
    assert list(elsewhere.iterdir()) == []

    # What the line says to do works, there, and then the command runs.
    run(env, "migrate", cwd=elsewhere)
    assert (elsewhere / "data" / "wacast.db").exists()
    assert run_json(env, "projects", "list", cwd=elsewhere) == []


def test_a_database_that_is_not_migrated_is_one_line(env, tmp_path):
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a database file without any table
    env_empty = env | {"WACAST_DATABASE_URL": f"sqlite:///{empty}"}
    for args in (["projects", "list"], ["demo"], ["worker"], ["serve"]):
        _one_error_line(run(env_empty, *args, ok=False), f"sqlite:///{empty}", "no wacast tables", "wacast migrate")

    old = tmp_path / "old.db"
    upgrade(f"sqlite:///{old}", "0005")  # an older schema than the code's head
    env_old = env | {"WACAST_DATABASE_URL": f"sqlite:///{old}"}
    assert head_revision() != "0005"
    for args in (["projects", "list"], ["campaigns", "show", "x", "--project", "p"], ["serve"]):
        _one_error_line(run(env_old, *args, ok=False), "revision 0005", f"needs {head_revision()}", "wacast migrate")
    with sqlite3.connect(old) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0005"  # nothing changed it
    run(env_old, "migrate")
    assert run_json(env_old, "projects", "list") == []


@pytest.mark.skipif(not PG_URL, reason="needs WACAST_TEST_DATABASE_URL (PostgreSQL)")
def test_postgresql_missing_or_empty_database_is_one_line_with_the_password_hidden(env):
    """A database that does not exist on the server, and one that exists without tables: one
    line each, the URL's password never printed."""
    server = make_url(PG_URL).set(password="s3cret-pw")
    missing = server.set(database=f"wacast_missing_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    result = run(env | {"WACAST_DATABASE_URL": missing}, "projects", "list", ok=False)
    line = _one_error_line(result, "does not exist", "***", "WACAST_DATABASE_URL")
    assert "s3cret-pw" not in result.stderr + result.stdout, line

    name = f"wacast_empty_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        engine = create_engine(PG_URL)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        empty = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        for args in (["projects", "list"], ["serve"]):
            _one_error_line(run(env | {"WACAST_DATABASE_URL": empty}, *args, ok=False), name, "no wacast tables", "wacast migrate")
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}"'))


def test_a_busy_port_names_port_and_wacast_port(env, tmp_path):
    db = f"sqlite:///{tmp_path / 'wacast.db'}"
    env = env | {"WACAST_DATABASE_URL": db}
    run(env, "migrate")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for how in (["serve", "--port", str(port)], ["serve"]):
            result = run(env | {"WACAST_PORT": str(port)}, *how, ok=False)
            _one_error_line(result, str(port), "--port", "WACAST_PORT", "in use")


def test_the_demo_curls_are_one_line_each_in_80_columns(env, tmp_path):
    env = env | {"WACAST_DATABASE_URL": f"sqlite:///{tmp_path / 'wacast.db'}", "COLUMNS": "80", "TERM": "xterm"}
    run(env, "migrate")
    data = run_json(env, "demo")
    printed = run(env, "demo").stdout.splitlines()
    for curl in (data["curl"], data["follow_curl"]):
        assert len(curl) > 80  # long enough that a wrap would split it
        assert curl in printed, "\n".join(printed)  # whole, on a line of its own
    assert data["follow_curl"].startswith(f"curl -s -H 'Authorization: Bearer {data['api_key']}' http://")
    assert data["follow_curl"].endswith("/api/v1/messages/<submitted_message_id>")


def test_every_command_takes_json():
    leaves = _tree()
    names = {name for name, _ in leaves}
    # The walk reaches the whole tree (a broken walk must not pass by finding nothing).
    assert {"migrate", "serve", "worker", "demo", "doctor", "secrets generate-key", "segments export",
            "projects list", "broadcasts create"} <= names, names
    without = [name for name, command in leaves
               if not any(param.param_type_name == "option" and "--json" in param.opts for param in command.params)]
    assert not without, f"commands without --json: {without}"


def test_json_output_of_commands_that_had_none(env, tmp_path):
    env = env | {"WACAST_DATABASE_URL": f"sqlite:///{tmp_path / 'wacast.db'}"}
    migrated = run_json(env, "migrate")
    assert migrated["revision"] == head_revision()
    key = run_json(env, "secrets", "generate-key")["key"]
    assert len(key) == 44 and key.endswith("=")
    assert run(env, "secrets", "generate-key").stdout.strip() != key  # a new key each time, plain without --json
    run_json(env, "projects", "create", "shop")
    run_json(env, "segments", "create", "everyone", "--project", "shop")
    out = tmp_path / "everyone.csv"
    exported = run_json(env, "segments", "export", "everyone", "--project", "shop", "--output", str(out))
    assert exported == {"segment": "everyone", "contacts": 0, "output": str(out)} and out.exists()
    assert run_json(env, "projects", "list")[0]["name"] == "shop"


def test_every_cli_line_of_the_readme_names_a_real_command():
    """The README's CLI block: each `wacast ...` line's command (and each of `a|b` choices) exists."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("### The CLI", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    names = {name for name, _ in _tree()}
    groups = {name.split(" ")[0] for name in names if " " in name}
    checked = 0
    for line in block.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "wacast":
            continue
        head = words[1]
        if head in groups:
            # `campaigns live|pause ...`, `secrets generate-key | rotate`
            tokens = words[2:]
            choices, i = tokens[0].split("|"), 1
            while i + 1 < len(tokens) and tokens[i] == "|":
                choices += tokens[i + 1].split("|")
                i += 2
            for choice in choices:
                assert f"{head} {choice}" in names, (line, choice)
                checked += 1
        else:
            assert head in names, line
            checked += 1
    assert checked > 25, checked


def test_doctor_json_on_a_missing_database_is_the_same_line(env, tmp_path):
    result = run(env | {"WACAST_DATABASE_URL": f"sqlite:///{tmp_path / 'nope' / 'w.db'}"}, "doctor", "--project", "x", "--json",
                 ok=False)
    _one_error_line(result, str(tmp_path / "nope" / "w.db"), "wacast migrate")
    assert not (tmp_path / "nope").exists()
