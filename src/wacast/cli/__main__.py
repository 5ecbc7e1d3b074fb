"""`python -m wacast.cli`: the same as the `wacast` command."""

from wacast.cli import app

app()
