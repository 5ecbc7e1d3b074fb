"""The house's floors hold: the import-linter contract in pyproject.toml passes, and every
import of wacast inside a function says why it is there (docs/architecture.md)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "wacast"


def test_layer_contract_is_kept() -> None:
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert linter, "import-linter is a dev dependency (pip install -e '.[dev]')"
    result = subprocess.run([linter, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout, result.stdout[-2000:]


def _function_local_imports() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        lines = path.read_text().split("\n")
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                wacast = (
                    isinstance(inner, ast.ImportFrom) and inner.level == 0 and (inner.module or "").startswith("wacast")
                ) or (isinstance(inner, ast.Import) and any(a.name.startswith("wacast") for a in inner.names))
                if wacast:
                    text = " ".join(lines[inner.lineno - 1 : inner.end_lineno])
                    found.append((str(path.relative_to(ROOT)), inner.lineno, text))
    return found


def test_function_local_imports_are_few_and_explained() -> None:
    local = _function_local_imports()
    unexplained = [f"{p}:{n}: {t.strip()}" for p, n, t in local if "#" not in t]
    assert not unexplained, "a wacast import inside a function needs a comment saying why:\n" + "\n".join(unexplained)
    assert len(local) <= 6, f"{len(local)} function-local wacast imports (at most a handful): " + "; ".join(f"{p}:{n}" for p, n, _ in local)
