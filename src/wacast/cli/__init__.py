"""The `wacast` command: serve, worker, migrate and the operator's commands.

Every command takes --json for output a script can read. One module per command group
(server, projects, users, templates, contacts, campaigns, broadcasts); this module puts the
command tree together, in the order `wacast --help` shows it.
"""

from __future__ import annotations

import sys

import typer

from wacast.cli import server
from wacast.cli.billing import billing_app
from wacast.cli.broadcasts import broadcasts_app, segments_app
from wacast.cli.campaigns import campaigns_app, messages_app
from wacast.cli.common import err_console, project_by_name, run
from wacast.cli.contacts import attributes_app, contacts_app, tags_app
from wacast.cli.projects import projects_app
from wacast.cli.sandbox import sandbox_app
from wacast.cli.templates import templates_app
from wacast.cli.users import apikeys_app, users_app

app = typer.Typer(help="wacast: self-hosted WhatsApp campaigns, AiSensy-compatible.", no_args_is_help=True, add_completion=False)
for command in (server.migrate, server.serve, server.worker, server.demo, server.doctor):
    app.command()(command)
for sub, name in (
    (projects_app, "projects"), (apikeys_app, "apikeys"), (templates_app, "templates"), (tags_app, "tags"),
    (attributes_app, "attributes"), (contacts_app, "contacts"), (campaigns_app, "campaigns"), (users_app, "users"), (messages_app, "messages"),
    (server.secrets_app, "secrets"), (segments_app, "segments"), (broadcasts_app, "broadcasts"), (sandbox_app, "sandbox"),
    (billing_app, "billing"),
):
    app.add_typer(sub, name=name)

# cli/broadcasts.py reaches these as `cli._run`, `cli._project` and `cli.err_console`.
_run = run
_project = project_by_name
__all__ = ["app", "err_console", "main"]


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
