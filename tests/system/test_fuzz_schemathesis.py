"""Schemathesis against wacast's own OpenAPI (/openapi.json) on a real `wacast serve` process:
every documented operation, with generated bodies, parameters and headers (a valid apiKey
and Bearer token mixed in, so requests get past authentication), must never answer 5xx, and
every 4xx of the API carries the error envelope {"message", "code"}.

Bounded (a few examples per operation) so the suite stays fast."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

ROOT = Path(__file__).resolve().parents[2]
WACAST = [sys.executable, "-m", "wacast.cli"]
EXAMPLES = int(os.environ.get("WACAST_FUZZ_EXAMPLES", "10"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    path = tmp_path_factory.mktemp("schemathesis") / "wacast.db"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=f"sqlite:///{path}", WACAST_PORT=str(port), WACAST_LOG_LEVEL="warning",
               WACAST_META_APP_SECRET="fuzz-secret", WACAST_META_VERIFY_TOKEN="fuzz-token", WACAST_RUN_DISPATCHER="0")
    for args in (["migrate"], ["demo"]):
        result = subprocess.run([*WACAST, *args, "--json"], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert result.returncode == 0, result.stderr
    demo = json.loads(result.stdout)
    proc = subprocess.Popen([*WACAST, "serve"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/healthz", timeout=1)
            break
        except httpx.HTTPError:
            assert proc.poll() is None
            time.sleep(0.05)
    yield base, demo
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def envelope_on_4xx(response, case) -> None:  # noqa: ANN001
    """A 4xx of the API says what was wrong: {"message", "code"}."""
    if 400 <= response.status_code < 500 and case.path.startswith(("/campaign", "/api", "/webhooks")):
        if "json" in (response.headers.get("content-type") or [""])[0]:
            data = response.json()
            assert isinstance(data, dict) and data.get("message") and data.get("code"), f"{case.method} {case.path}: no error envelope: {data}"


def test_openapi_operations_never_answer_5xx(server) -> None:  # noqa: ANN001
    base, demo = server
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    checked = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case) -> None:  # noqa: ANN001
                # Half the campaign-API requests carry real credentials in the body, to reach past
                # authentication (only there: REST bodies refuse fields they do not know).
                if case.path.startswith("/campaign/") and isinstance(case.body, dict) and len(case.body) % 2 == 0:
                    case.body["apiKey"] = demo["api_key"]
                    case.body.setdefault("campaignName", demo["campaign"])
                headers = dict(case.headers or {})
                headers.setdefault("Authorization", f"Bearer {demo['api_key']}")
                case.headers = headers
                response = case.call(base_url=base, timeout=10)
                case.validate_response(response, checks=[not_a_server_error])
                envelope_on_4xx(response, case)

            try:
                run()
            except Unsatisfiable:
                # Nothing invalid can be built for this operation (no parameters, no body).
                assert mode == GenerationMode.NEGATIVE, operation.path
        checked.append(f"{operation.method.upper()} {operation.path}")
    print(f"\nschemathesis: {len(checked)} operations, {EXAMPLES} examples each (positive and negative)")
