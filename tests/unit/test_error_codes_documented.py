"""Every error code wacast can answer with is in the README's table, with its HTTP status, and
the table lists no code that wacast no longer has.

The codes are read from the source, not from a list kept by hand: the `code` argument of every
WacastError (and subclass) raised in src/wacast, the codes subclasses fix in their own
`__init__`, and the `{"message": ..., "code": ...}` envelopes written without an exception
(middlewares, error handlers). A code passed as a variable is traced to the string literals
assigned to it in its function; one that cannot be traced fails the test, naming where it is.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "wacast"
README = ROOT / "README.md"
CODE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$|^[A-Z]{4,}$")
TABLE_HEADING = "### Rejections"
ENVELOPE = {"message", "code", "details", "name"}


@dataclass
class Found:
    codes: dict[str, set[int | None]] = field(default_factory=lambda: defaultdict(set))  # code -> HTTP statuses (None: not known)
    where: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    unreadable: list[str] = field(default_factory=list)


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in sorted(SRC.rglob("*.py")) if "migrations" not in path.parts}


def _base_name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _error_classes(trees: dict[Path, ast.Module]) -> dict[str, tuple[int, bool]]:
    """WacastError and its subclasses: name -> (default HTTP status, fixes its own code in __init__)."""
    classes: dict[str, tuple[int, bool]] = {"WacastError": (400, False)}
    defs = [node for tree in trees.values() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    grew = True
    while grew:
        grew = False
        for node in defs:
            parent = next((classes[b] for b in map(_base_name, node.bases) if b in classes), None)
            if node.name in classes or parent is None:
                continue
            status = parent[0]
            for statement in node.body:
                if (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
                        and any(isinstance(t, ast.Name) and t.id == "status_code" for t in statement.targets)):
                    status = statement.value.value
            own_init = any(isinstance(s, ast.FunctionDef) and s.name == "__init__" for s in node.body)
            classes[node.name] = (status, own_init)
            grew = True
    return classes


def _literals(node: ast.expr) -> list[str] | None:
    """The strings an expression can be: a literal, either branch of `a if c else b`, a value or
    the default of `{...: "A", ...}.get(x, "B")`; None when it is anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _literals(node.body), _literals(node.orelse)
        return None if body is None or orelse is None else body + orelse
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and isinstance(node.func.value, ast.Dict) and len(node.args) == 2):
        parts = [_literals(v) for v in [*node.func.value.values, node.args[1]]]
        return None if any(p is None for p in parts) else [v for p in parts for v in p]
    return None


def _values(node: ast.expr, at: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[str] | None:
    """`_literals`, or for a variable the literals assigned to it in its function."""
    values = _literals(node)
    if values is None and isinstance(node, ast.Name):
        values = _traced(node.id, _enclosing(at, parents, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return values


def _envelope_status(node: ast.Dict, parents: dict[ast.AST, ast.AST]) -> int | None:
    """The status of a response built around an envelope: `JSONResponse({...}, status_code=422)`
    or `_json_response(400, {...})`; None when it is not written there."""
    call = parents.get(node)
    if not isinstance(call, ast.Call):
        return None
    given = next((k.value for k in call.keywords if k.arg == "status_code"), None)
    if isinstance(given, ast.Constant) and isinstance(given.value, int):
        return given.value
    first = call.args[0] if call.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, int) else None


def _traced(name: str, function: ast.AST | None) -> list[str] | None:
    """The string literals assigned to `name` in its function (None: not only literals, or none)."""
    if function is None:
        return None
    values: list[str] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            found = _literals(node.value)
            if found is None:
                return None
            values += found
    return values or None


def _parents(tree: ast.Module) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _enclosing(node: ast.AST, parents: dict[ast.AST, ast.AST], kinds: tuple[type, ...]) -> ast.AST | None:
    while node in parents:
        node = parents[node]
        if isinstance(node, kinds):
            return node
    return None


def collect() -> Found:
    trees = _trees()
    classes = _error_classes(trees)
    found = Found()
    for path, tree in trees.items():
        parents = _parents(tree)
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = _base_name(node.func)
                status: int | None
                if name == "__init__" and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call) \
                        and _base_name(node.func.value.func) == "super":
                    owner = _enclosing(node, parents, (ast.ClassDef,))
                    if owner is None or owner.name not in classes or owner.name == "WacastError":
                        continue
                    status = classes[owner.name][0]  # a subclass fixing its code: Unauthorized
                elif name in classes:
                    status, own_init = classes[name]
                    if own_init and len(node.args) < 2 and not any(k.arg == "code" for k in node.keywords):
                        continue  # the code is the one its __init__ fixes (collected there)
                else:
                    continue
                given = next((k.value for k in node.keywords if k.arg == "status_code"), None)
                if given is not None:
                    status = given.value if isinstance(given, ast.Constant) else None
                code = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "code"), None)
                if code is None:
                    found.unreadable.append(f"{where}:{node.lineno}: {name}(...) without a code")
                    continue
                values = _values(code, node, parents)
                if values is None:
                    found.unreadable.append(f"{where}:{node.lineno}: code {ast.unparse(code)!r}")
                    continue
                for value in values:
                    found.codes[value].add(status)
                    found.where[value].add(f"{where}:{node.lineno}")
            elif isinstance(node, ast.Dict):
                keys = {k.value: v for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)}
                # wacast's envelope {"message", "code", "details"} (Meta's error objects, with their
                # numeric codes and titles, are not wacast's); WacastError.body() passes on a code
                # collected where it was raised.
                if "message" not in keys or "code" not in keys or set(keys) - ENVELOPE or ast.unparse(keys["code"]) == "self.code":
                    continue
                values = _values(keys["code"], node, parents)  # an envelope written without an exception
                if values is None:
                    found.unreadable.append(f"{where}:{node.lineno}: envelope code {ast.unparse(keys['code'])!r}")
                    continue
                for value in values:
                    found.codes[value].add(_envelope_status(node, parents))
                    found.where[value].add(f"{where}:{node.lineno}")
    return found


def readme_table() -> dict[str, set[int]]:
    """code -> the HTTP statuses of the README rows that name it (the tables of its Rejections section)."""
    text = README.read_text()
    assert TABLE_HEADING in text, f"the README has no {TABLE_HEADING!r} section"
    section = text.split(TABLE_HEADING, 1)[1]
    section = re.split(r"^#{1,3} ", section, maxsplit=1, flags=re.MULTILINE)[0]
    table: dict[str, set[int]] = defaultdict(set)
    columns: list[str] | None = None
    for line in section.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns is None:
            columns = [c.lower() for c in cells]
            assert "http" in columns and "code" in columns, f"an error table needs HTTP and code columns: {line}"
            continue
        if set(line) <= set("|-: "):
            continue
        http = cells[columns.index("http")]
        statuses = {int(s) for s in re.findall(r"\b[1-5]\d\d\b", http)}
        for family in re.findall(r"\b([1-5])xx\b", http):  # `4xx`: a code answered with the status of what refused
            statuses |= set(range(int(family) * 100, int(family) * 100 + 100))
        assert statuses, f"a row without its HTTP status: {line}"
        for token in re.findall(r"`([^`]+)`", cells[columns.index("code")]):
            if CODE.match(token):
                table[token] |= statuses
    return table


def test_the_collector_reads_the_codes_it_must() -> None:
    found = collect()
    assert not found.unreadable, "codes this test cannot read (make them literals or plain variables):\n" + "\n".join(found.unreadable)
    # Known codes of each kind of source: a plain raise, a subclass's own __init__, a traced
    # variable (kit/text.py), an envelope written by hand (app.py, ops/middleware.py).
    assert {"CAMPAIGN_NOT_FOUND", "UNAUTHORIZED", "FIELD_TOO_LONG", "FIELD_INVALID", "VALIDATION_ERROR",
            "INTERNAL_ERROR", "RATE_LIMITED", "METHOD_NOT_ALLOWED"} <= set(found.codes)
    assert 401 in found.codes["UNAUTHORIZED"] and 429 in found.codes["RATE_LIMITED"] and 413 in found.codes["BODY_TOO_LARGE"]
    assert 422 in found.codes["VALIDATION_ERROR"] and 500 in found.codes["INTERNAL_ERROR"]  # statuses of envelopes
    assert len(found.codes) > 50
    bad = sorted(code for code in found.codes if not CODE.match(code))
    assert not bad, f"error codes are UPPER_SNAKE_CASE: {bad}"


def test_every_error_code_is_in_the_readme_table_with_its_status() -> None:
    found, table = collect(), readme_table()
    missing = sorted(set(found.codes) - set(table))
    assert not missing, "error codes missing from the README's table (### Rejections):\n" + "\n".join(
        f"{code}  (raised at {', '.join(sorted(found.where[code]))})" for code in missing)
    wrong = {code: (sorted(s for s in statuses if s is not None), sorted(table[code]))
             for code, statuses in found.codes.items() if {s for s in statuses if s is not None} - table[code]}
    assert not wrong, f"README rows without the HTTP status the code is answered with (code: (source, README)): {wrong}"


def test_the_readme_table_lists_no_code_wacast_does_not_have() -> None:
    stale = sorted(set(readme_table()) - set(collect().codes))
    assert not stale, f"codes in the README's table that nothing in src/wacast answers with: {stale}"
