"""Running the real `wacast` command in a subprocess, as an operator would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WACAST = [sys.executable, "-m", "wacast.cli"]


def run(env: dict, *args: str, ok: bool = True, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([*WACAST, *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd)
    if ok:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def run_json(env: dict, *args: str, cwd: str | Path | None = None):  # noqa: ANN201
    return json.loads(run(env, *args, "--json", cwd=cwd).stdout)
