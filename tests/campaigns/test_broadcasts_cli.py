"""`wacast segments` / `wacast broadcasts` / `wacast campaigns show` with a broadcast's
progress bar, as real subprocesses on both backends; and `wacast worker` fanning out and
sending a broadcast to the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import WACAST, run, run_json



@pytest.fixture
def cli_env(db_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url, WACAST_SANDBOX_DELIVERED_AFTER="0", WACAST_SANDBOX_READ_AFTER="0",
               WACAST_BROADCAST_POLL_SECONDS="0.1", WACAST_DISPATCHER_POLL_SECONDS="0.05")
    return env


def test_broadcast_from_the_terminal_with_a_worker(cli_env, tmp_path: Path):
    env = cli_env
    run_json(env, "projects", "create", "shop")
    template = tmp_path / "promo.json"
    template.write_text(json.dumps({"name": "promo", "language": "en", "category": "MARKETING", "status": "APPROVED",
                                    "components": [{"type": "BODY", "text": "Hi {{1}}, {{2}} off."}]}))
    run_json(env, "templates", "add", "--project", "shop", "--file", str(template))
    audience = tmp_path / "leads.csv"
    audience.write_text("phone,name,discount\n" + "".join(f"+9172000{i:05d},Lead {i},{i}%\n" for i in range(30)))
    created = run_json(env, "broadcasts", "create", "Leads", "--project", "shop", "--template", "promo", "--csv", str(audience),
                       "--param", "$FirstName|there", "--param", "$discount|10%")
    assert created["status"] == "running" and created["progress"]["total"] == 30
    paused = run_json(env, "broadcasts", "pause", "Leads", "--project", "shop")
    assert paused["status"] == "paused"
    assert run(env, "broadcasts", "pause", "Leads", "--project", "shop", ok=False).returncode == 2
    refused = run(env, "campaigns", "live", "Leads", "--project", "shop", ok=False)  # API-campaign states do not apply
    assert refused.returncode == 2 and "is a broadcast" in refused.stderr
    run_json(env, "broadcasts", "resume", "Leads", "--project", "shop")

    worker = subprocess.Popen([*WACAST, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            shown = run_json(env, "campaigns", "show", "Leads", "--project", "shop")
            if shown["broadcast"]["status"] == "completed":
                break
            time.sleep(0.3)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert shown["broadcast"]["status"] == "completed", shown
    assert shown["broadcast"]["progress"]["read"] == 30
    text = run(env, "campaigns", "show", "Leads", "--project", "shop").stdout
    assert "completed" in text and "100.0%" in text and "read 30" in text

    seg = run_json(env, "segments", "create", "csv-leads", "--project", "shop",
                   "--filter", json.dumps({"conditions": [{"field": "campaign", "campaign": "Leads", "op": "received", "status": ["read"]}]}))
    assert seg["count"]["sendable"] == 30
    out = tmp_path / "out.csv"
    assert "30 contacts" in run(env, "segments", "export", "csv-leads", "--project", "shop", "--output", str(out)).stdout
    assert len(out.read_text().strip().splitlines()) == 31
    policy = run_json(env, "broadcasts", "policy", "--project", "shop", "--quiet-hours", "21:00-09:00", "--frequency-cap", "2/7", "--tier", "2000")
    assert policy["quiet_hours"] == {"start": "21:00", "end": "09:00"} and policy["frequency_cap"] == {"messages": 2, "days": 7}
