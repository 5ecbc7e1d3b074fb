"""Who reaches a project: `wacast users ...` (dashboard logins) and `wacast apikeys ...`."""

from __future__ import annotations

import typer

from wacast.api_keys import service as api_keys
from wacast.cli.common import (
    JsonOpt,
    ProjectOpt,
    emit,
    err_console,
    project_by_name,
    run,
)
from wacast.db.engine import Database
from wacast.users import service as users

users_app = typer.Typer(help="Dashboard users.", no_args_is_help=True)
apikeys_app = typer.Typer(help="API keys.", no_args_is_help=True)


@apikeys_app.command("create")
def apikeys_create(project: str = ProjectOpt, scope: str = typer.Option("full", help="send | full"),
                   name: str = typer.Option("", help="A label for the key."), as_json: bool = JsonOpt,
                   rate_limit: float = typer.Option(None, "--rate-limit", help="Requests/s for this key (default WACAST_API_RATE_LIMIT)."),
                   rate_burst: int = typer.Option(None, "--rate-burst", help="Burst for this key (default WACAST_API_RATE_BURST).")) -> None:
    """Create an API key; it is printed once and stored only as a hash."""

    if scope not in api_keys.SCOPES:
        err_console.print("[red]error:[/red] --scope must be send or full")
        raise typer.Exit(2)

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            # rate_limit/rate_burst None: the global limit (docs/integrations.md)
            key, plain = await api_keys.create_key(session, p.id, scope, name, rate_limit=rate_limit, rate_burst=rate_burst)
            return {"id": str(key.id), "project": p.name, "scope": scope, "prefix": key.prefix, "api_key": plain,
                    "rate_limit": rate_limit, "rate_burst": rate_burst}

    data = run(work)
    emit(data, as_json, f"{data['api_key']}\n[dim](scope {scope}; shown once, store it now)[/dim]")


@users_app.command("create")
def users_create(project: str = ProjectOpt, email: str = typer.Option(..., "--email"), password: str = typer.Option(..., "--password"),
                 role: str = typer.Option("agent", "--role", help="owner | manager | agent"), as_json: bool = JsonOpt) -> None:
    """Create a dashboard user (or add an existing one to the project)."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            user = await users.create_or_update(session, p.id, email, password, role)
            return {"id": str(user.id), "email": user.email, "project": p.name, "role": role}

    emit(run(work), as_json)


@users_app.command("password")
def users_password(email: str = typer.Option(..., "--email"), password: str = typer.Option(..., "--password"), as_json: bool = JsonOpt) -> None:
    """Set a user's password; every dashboard session of theirs ends."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            user = await users.set_password(session, email, password)
            return {"id": str(user.id), "email": user.email, "sessions_ended": True}

    emit(run(work), as_json, "Password set; their sessions are signed out.")


@users_app.command("remove")
def users_remove(project: str = ProjectOpt, email: str = typer.Option(..., "--email"), as_json: bool = JsonOpt) -> None:
    """Take a user out of a project (the account stays); their dashboard sessions end."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            user = await users.remove_member(session, p.id, (await users.by_email(session, email)).id)
            return {"id": str(user.id), "email": user.email, "project": p.name, "removed": True}

    data = run(work)
    emit(data, as_json, f"{data['email']} removed from {data['project']}; their sessions are signed out.")


@users_app.command("signout")
def users_signout(email: str = typer.Option(..., "--email"), as_json: bool = JsonOpt) -> None:
    """Sign a user out everywhere (every dashboard session of theirs ends)."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            user = await users.by_email(session, email)
            return {"id": str(user.id), "email": user.email, "sessions_ended": await users.end_sessions(session, user.id)}

    data = run(work)
    emit(data, as_json, f"{data['sessions_ended']} session(s) of {data['email']} signed out.")
