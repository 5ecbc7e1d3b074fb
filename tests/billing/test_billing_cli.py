"""`wacast billing ...` as real subprocesses on both backends: import the shipped example, list
and show versions, a bad file refused with its rows named, estimates, budgets and the ledger."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import run, run_json

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rate-card.example.csv"


@pytest.fixture
def cli_env(db_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url)
    return env


def test_billing_from_the_terminal(cli_env, tmp_path: Path):
    env = cli_env
    run_json(env, "projects", "create", "shop")
    bad = tmp_path / "bad.csv"
    bad.write_text("category,country,price\nmarketing,IN,cheap\n")
    refused = run(env, "billing", "import", str(bad), "--project", "shop", "--currency", "INR", ok=False)
    assert refused.returncode == 2 and "Line 2, price: cheap is not a price" in refused.stderr
    made = run_json(env, "billing", "import", str(EXAMPLE), "--project", "shop", "--currency", "INR", "--note", "example")
    assert made["version"] == 1 and made["currency"] == "INR"
    cards = run_json(env, "billing", "cards", "--project", "shop")["data"]
    assert [(c["version"], c["in_force"]) for c in cards] == [(1, True)]
    assert run(env, "billing", "show", "--project", "shop", "--csv").stdout.startswith("category,country,price,region")
    estimate = run_json(env, "billing", "estimate", "--project", "shop", "--count", "marketing:IN:10", "--count", "utility:BR:2")
    assert estimate["cost"] == "10.200000"  # 10 x 0.78 + 2 x 1.20 (the * rate)
    budget = run_json(env, "billing", "budget", "--project", "shop", "--amount", "500")
    assert (budget["scope"], budget["amount"], budget["currency"]) == ("month", "500.000000", "INR")
    assert run_json(env, "billing", "budgets", "--project", "shop")["data"][0]["spent"] == "0.000000"
    ledger = run_json(env, "billing", "ledger", "--project", "shop", "--group-by", "day")
    assert ledger["rows"] == [] and ledger["group_by"] == ["day"]
    wrong = run(env, "billing", "ledger", "--project", "shop", "--group-by", "year", ok=False)
    assert wrong.returncode == 2 and "group_by takes" in wrong.stderr
    run_json(env, "billing", "budget-remove", "--project", "shop")
    assert run_json(env, "billing", "budgets", "--project", "shop")["data"] == []
