"""The operator's CLI (every command with --json) and the `make run` path: demo seed, a real
`wacast serve` process, the printed curl, and the message reaching `read`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.cli import WACAST, run, run_json



@pytest.fixture
def cli_env(db_url: str, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url, WACAST_SANDBOX_DELIVERED_AFTER="0", WACAST_SANDBOX_READ_AFTER="0")
    return env


def test_operator_commands(cli_env, tmp_path):
    env = cli_env
    project = run_json(env, "projects", "create", "shop", "--default-country", "US", "--messages-per-second", "40")
    assert project["provider"] == "sandbox" and project["default_country"] == "US" and project["messages_per_second"] == 40
    updated = run_json(env, "projects", "update", "shop", "--waba-id", "123", "--phone-number-id", "456", "--access-token", "secret-token")
    assert updated["provider"] == "cloud" and updated["access_token"] == "set"  # the token itself is never printed
    run_json(env, "projects", "update", "shop", "--phone-number-id", "", "--access-token", "")
    bad = run(env, "projects", "create", "shop", ok=False)
    assert bad.returncode == 2 and "already exists" in bad.stderr
    bad = run(env, "projects", "update", "shop", "--messages-per-second", "5000", ok=False)
    assert bad.returncode == 2 and "between 1 and 1000" in bad.stderr

    key = run_json(env, "apikeys", "create", "--project", "shop", "--scope", "send")
    assert key["api_key"].startswith("wac_") and key["scope"] == "send"
    template_file = tmp_path / "t.json"
    template_file.write_text(json.dumps({"name": "hello", "language": "en_US", "category": "UTILITY",
                                         "components": [{"type": "BODY", "text": "Hello {{1}}"}]}))
    template = run_json(env, "templates", "add", "--project", "shop", "--file", str(template_file))
    assert template["status"] == "APPROVED" and template["template_params"] == 1
    assert run_json(env, "tags", "create", "--project", "shop", "vip", "lead")["created"] == ["vip", "lead"]
    assert run_json(env, "attributes", "create", "--project", "shop", "city")["created"] == ["city"]
    campaign = run_json(env, "campaigns", "create", "--project", "shop", "--name", "welcome", "--template", "hello")
    assert campaign["status"] == "draft"
    assert run_json(env, "campaigns", "live", "welcome", "--project", "shop")["status"] == "live"
    assert run_json(env, "campaigns", "pause", "welcome", "--project", "shop")["status"] == "paused"
    user = run_json(env, "users", "create", "--project", "shop", "--email", "Ops@Example.com", "--password", "long-enough-1", "--role", "manager")
    assert user["email"] == "ops@example.com" and user["role"] == "manager"
    bad = run(env, "users", "create", "--project", "shop", "--email", "x@example.com", "--password", "short", ok=False)
    assert bad.returncode == 2 and "at least 8" in bad.stderr
    missing = run(env, "messages", "show", "00000000-0000-0000-0000-000000000000", ok=False)
    assert missing.returncode == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serve_and_printed_curl_reaches_read(cli_env, tmp_path):
    env = dict(cli_env)
    port = _free_port()
    env.update(WACAST_PORT=str(port))
    run(env, "migrate")
    demo = run_json(env, "demo")
    assert demo["api_key"].startswith("wac_") and demo["password"] and demo["email"]
    again = run_json(env, "demo")  # idempotent: same key and login on a second `make run`
    assert again["api_key"] == demo["api_key"] and again["password"] == demo["password"]
    server = subprocess.Popen([*WACAST, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        curl = subprocess.run(demo["curl"], shell=True, capture_output=True, text=True, timeout=30)
        answer = json.loads(curl.stdout)
        assert answer["success"] == "true", curl.stdout
        message_id = answer["submitted_message_id"]
        status = None
        for _ in range(100):
            response = httpx.get(f"{base}/api/v1/messages/{message_id}", headers={"Authorization": f"Bearer {demo['api_key']}"})
            status = response.json()["status"]
            if status == "read":
                break
            time.sleep(0.1)
        assert status == "read"
        shown = run_json(env, "messages", "show", message_id)
        assert shown["status"] == "read" and [e["status"] for e in shown["events"]] == ["queued", "sent", "delivered", "read"]
    finally:
        server.terminate()
        server.wait(timeout=30)
