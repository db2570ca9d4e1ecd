"""Every supported entry of the "Stateful commands" table of docs/redis-commands.md is exercised by a
test: some test function in Tests/python/test_*.py carries `@pytest.mark.covers("<COMMAND>")`, the
command named exactly as in the table's first column (several per marker allowed).

The test files are read with `ast`, never imported: a marker counts where pytest would apply it (on
the function, its class, or a `pytestmark` of the class or module), and only on test functions.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "redis-commands.md"
HEADING = "## Stateful commands"
STATUSES = ("supported", "supported (difference)", "refused")

# The design of issue #9 names these; the table must list each of them.
REQUIRED = [
    "AUTH", "HELLO", "SELECT", "CLIENT SETNAME", "CLIENT GETNAME", "CLIENT ID", "CLIENT INFO", "CLIENT SETINFO",
    "RESET", "READONLY", "READWRITE", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SUBSCRIBE", "UNSUBSCRIBE",
    "PSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE", "PUBLISH", "SPUBLISH", "PING (in subscribed mode)",
    "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "XREAD BLOCK",
    "XREADGROUP BLOCK", "WAIT", "WAITAOF", "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO",
    "SCRIPT LOAD", "SCRIPT EXISTS", "SCRIPT FLUSH", "FUNCTION LOAD", "FUNCTION DELETE", "FUNCTION FLUSH",
    "FUNCTION LIST", "FUNCTION DUMP", "FUNCTION RESTORE", "FLUSHALL", "FLUSHDB", "CONFIG SET", "CONFIG GET", "SAVE",
    "BGSAVE", "SHUTDOWN", "DEBUG", "MONITOR", "CLIENT KILL", "SLAVEOF", "REPLICAOF", "CLIENT TRACKING",
]


def stateful_table(text: str) -> list[tuple[str, str, str]]:
    """(command, status, treatment) per row of the first table under the heading; the command
    without its backticks and with single spaces."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == HEADING)
    except StopIteration:
        raise AssertionError(f"{DOC} has no {HEADING!r} section") from None
    rows: list[tuple[str, str, str]] = []
    in_table = False
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            if in_table:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not in_table:
            assert [c.lower() for c in cells] == ["command", "status", "treatment"], f"table header: {line}"
            in_table = True
            continue
        if set(line.replace("|", "").strip()) <= {"-", ":", " "}:
            continue
        assert len(cells) == 3, f"a row of the stateful table needs 3 cells: {line}"
        command = re.sub(r"\s+", " ", cells[0].replace("`", "")).strip()
        rows.append((command, cells[1], cells[2]))
    assert rows, f"{HEADING} has no table"
    return rows


def _covers_calls(node: ast.AST) -> list[ast.Call]:
    """`pytest.mark.covers(...)` / `mark.covers(...)` calls within an expression (a decorator, or a
    pytestmark value that may be a list of marks)."""
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "covers":
            owner = sub.func.value
            if isinstance(owner, ast.Attribute) and owner.attr == "mark" or isinstance(owner, ast.Name) and owner.id == "mark":
                found.append(sub)
    return found


def _names(calls: list[ast.Call], where: str) -> list[str]:
    names = []
    for call in calls:
        assert call.args and not call.keywords, f"{where}: covers() takes command names only"
        for arg in call.args:
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (
                f"{where}: covers() arguments must be string literals (the scan does not import the tests)")
            names.append(arg.value)
    return names


def _pytestmark(body: list[ast.stmt]) -> list[ast.Call]:
    calls = []
    for stmt in body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets) and stmt.value is not None:
            calls += _covers_calls(stmt.value)
    return calls


def scan(path: Path) -> dict[str, list[str]]:
    """Test function (file::[Class::]name) -> the commands its covers markers name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module_marks = _pytestmark(tree.body)
    out: dict[str, list[str]] = {}

    def visit(body: list[ast.stmt], inherited: list[ast.Call], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                marks = inherited + [c for d in node.decorator_list for c in _covers_calls(d)] + _pytestmark(node.body)
                visit(node.body, marks, f"{prefix}{node.name}::")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                calls = inherited + [c for d in node.decorator_list for c in _covers_calls(d)]
                where = f"{path.name}::{prefix}{node.name}"
                if calls:
                    out[where] = _names(calls, where)

    visit(tree.body, module_marks, "")
    return out


def all_markers() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        found.update(scan(path))
    return found


@pytest.fixture(scope="module")
def table() -> list[tuple[str, str, str]]:
    return stateful_table(DOC.read_text())


def test_stateful_table_lists_every_stateful_command_once(table):
    commands = [c for c, _, _ in table]
    duplicates = sorted({c for c in commands if commands.count(c) > 1})
    assert not duplicates, f"listed more than once: {duplicates}"
    missing = [c for c in REQUIRED if c not in commands]
    assert not missing, f"{HEADING} of {DOC.name} does not list: {missing}"
    for command, status, treatment in table:
        assert status in STATUSES, f"{command}: status {status!r} is not one of {STATUSES}"
        assert len(treatment) >= 20, f"{command}: say what the proxy does, the difference or the reason"


def test_covers_markers_name_entries_of_the_table(table):
    commands = {c for c, _, _ in table}
    unknown = {where: sorted(set(names) - commands) for where, names in all_markers().items() if set(names) - commands}
    assert not unknown, (f"covers() names that are not in the first column of {HEADING} "
                         f"(write them exactly as there): {unknown}")


def test_every_supported_stateful_command_is_covered_by_a_test(table):
    covered = {name for names in all_markers().values() for name in names}
    uncovered = [c for c, status, _ in table if status.startswith("supported") and c not in covered]
    assert not uncovered, (f"{len(uncovered)} supported entries of {HEADING} ({DOC.name}) have no test marked "
                           f"@pytest.mark.covers(...): {', '.join(uncovered)}")


def test_the_scan_finds_markers_where_pytest_applies_them(tmp_path):
    """The scanner itself, on a file written here: decorators, classes, pytestmark; not helpers."""
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import pytest\n"
        "from pytest import mark\n"
        "pytestmark = [pytest.mark.proxy_only, pytest.mark.covers('PING (in subscribed mode)')]\n"
        "@pytest.mark.covers('AUTH', 'HELLO')\n"
        "def test_a(): pass\n"
        "@mark.covers('SELECT')\n"
        "@pytest.mark.parametrize('x', [1])\n"
        "def test_b(x): pass\n"
        "@pytest.mark.covers('MULTI')\n"
        "def helper(): pass\n"
        "@pytest.mark.covers('EXEC')\n"
        "class TestGroup:\n"
        "    pytestmark = pytest.mark.covers('WATCH')\n"
        "    def test_c(self): pass\n"
        "    @pytest.mark.covers('DISCARD')\n"
        "    async def test_d(self): pass\n")
    got = scan(sample)
    assert got == {
        "test_sample.py::test_a": ["PING (in subscribed mode)", "AUTH", "HELLO"],
        "test_sample.py::test_b": ["PING (in subscribed mode)", "SELECT"],
        "test_sample.py::TestGroup::test_c": ["PING (in subscribed mode)", "EXEC", "WATCH"],
        "test_sample.py::TestGroup::test_d": ["PING (in subscribed mode)", "EXEC", "WATCH", "DISCARD"],
    }, got
    rows = stateful_table("# x\n\n## Stateful commands\n\ntext\n\n| command | status | treatment |\n|---|---|---|\n"
                          "| `PING` (in subscribed mode) | supported | answered by the proxy itself |\n"
                          "| `XREAD  BLOCK` | refused | not at all, for a reason |\n\nafter\n\n| other | table |\n")
    assert rows == [("PING (in subscribed mode)", "supported", "answered by the proxy itself"),
                    ("XREAD BLOCK", "refused", "not at all, for a reason")]
