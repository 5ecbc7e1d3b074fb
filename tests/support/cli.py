"""Running the real `wacast` command in a subprocess, as an operator would."""

from __future__ import annotations

import json
import subprocess
import sys

WACAST = [sys.executable, "-m", "wacast.cli"]


def run(env: dict, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*WACAST, *args], env=env, capture_output=True, text=True, timeout=60)
    if ok:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def run_json(env: dict, *args: str):  # noqa: ANN201
    return json.loads(run(env, *args, "--json").stdout)
