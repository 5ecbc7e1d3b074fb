"""`wacast broadcasts create --dry-run` as a real subprocess on both backends: the tables (and
--json) of what the broadcast would do, nothing created, the same refusal as a create."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import run, run_json


@pytest.fixture
def cli_env(db_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url)
    return env


def test_a_dry_run_from_the_terminal(cli_env, tmp_path: Path):
    env = cli_env
    run_json(env, "projects", "create", "shop")
    template = tmp_path / "promo.json"
    template.write_text(json.dumps({"name": "promo", "language": "en", "category": "MARKETING", "status": "APPROVED",
                                    "components": [{"type": "BODY", "text": "Hi {{1}}, {{2}} off."}]}))
    run_json(env, "templates", "add", "--project", "shop", "--file", str(template))
    audience = tmp_path / "leads.csv"
    audience.write_text("phone,name,discount\n" + "".join(f"+9172000{i:05d},Lead {i},{i}%\n" for i in range(4))
                        + "+971501234567,Gulf,5%\nnot-a-number,Bad,1%\n")
    args = ("broadcasts", "create", "Leads", "--project", "shop", "--template", "promo", "--csv", str(audience),
            "--param", "$FirstName|there", "--param", "$discount|10%", "--dry-run")
    data = run_json(env, *args)
    assert data["dry_run"] is True and data["will_send"] == 5 and data["skips"] == {"invalid row": 1}
    assert data["by_country"] == {"IN": 4, "AE": 1} and data["cost"]["cost"] is None and data["cost_line"].startswith("no rate card")
    shown = run(env, *args).stdout
    assert "nothing was created or sent" in shown and "will send" in shown and "skipped: invalid row" in shown
    assert "Messages by country" in shown and "IN" in shown and "AE" in shown and "cost: no rate card" in shown
    missing = run(env, "campaigns", "show", "Leads", "--project", "shop", ok=False)
    assert missing.returncode != 0 and "does not exist" in missing.stderr  # the dry run created no campaign

    refused = run(env, "broadcasts", "create", "Leads", "--project", "shop", "--template", "ghost", "--csv", str(audience), "--dry-run", ok=False)
    assert refused.returncode == 2 and "ghost" in refused.stderr
    created = run_json(env, *args[:-1])  # the same for real: the name is free, the audience the dry run's
    assert created["status"] == "running" and created["progress"]["total"] == 5
