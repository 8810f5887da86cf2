"""The PostgreSQL lint rules against squawk (the ``squawk-cli`` package, binary inside) as an oracle.

For every PostgreSQL corpus file, the findings of the rules both tools
have (same ids) must be the same statements. squawk runs with
``--assume-in-transaction`` because dbkeeper runs each migration in one
transaction. The differences below are deliberate, each with its reason;
anything else that differs is a bug in one of the two.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbkeeper.engine.plugins import get_registry
from dbkeeper.migrations.lint import lint_migrations, rules_for
from dbkeeper.migrations.lint.runner import located
from dbkeeper.migrations.model import Migration

CORPUS = Path(__file__).parent / "lint_corpus" / "postgres"
SHARED = frozenset({"require-concurrent-index-creation", "adding-field-with-default", "adding-not-nullable-field",
                    "constraint-missing-not-valid", "adding-foreign-key-constraint", "changing-column-type",
                    "renaming-column", "renaming-table", "require-lock-timeout"})
#: ``(file, finding)`` squawk reports and dbkeeper deliberately does not.
ONLY_SQUAWK = {
    # a lock on a table this same migration created cannot wait for anyone: nothing else can see the table yet
    ("good_new_table_index.sql", "require-lock-timeout@2"),
}


def squawk() -> str:
    found = shutil.which("squawk") or str(Path(sys.executable).with_name("squawk"))
    if not Path(found).exists():
        pytest.fail("squawk is missing: it comes with the test extra (pip install -e '.[test]')")
    return found


def squawk_findings(path: Path, statement_lines: list[int]) -> set[str]:
    run = subprocess.run([squawk(), "--assume-in-transaction", "--reporter", "json", str(path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode in (0, 1), run.stderr
    found = set()
    for entry in json.loads(run.stdout or "[]"):
        if entry["rule_name"] not in SHARED:
            continue
        line = entry["line"] + 1  # squawk counts lines from 0
        index = max(i for i, start in enumerate(statement_lines, start=1) if start <= line)
        found.add(f"{entry['rule_name']}@{index}")
    return found


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.sql")), ids=lambda p: p.stem)
def test_shared_rules_agree_with_squawk(path: Path) -> None:
    sql = path.read_text()
    rules = rules_for(get_registry().get_dialect("postgres"))
    rules.assume_target("15")
    report = lint_migrations([Migration(id="1", name="x", sql=sql)], rules)
    lines = [line for _, line in located(sql, rules.dialect.split_statements(sql))]
    ours = {f"{f.rule}@{f.statement_index}" for f in report.findings if f.rule in SHARED}
    theirs = squawk_findings(path, lines)
    off = set(report.disabled.get("1", []))
    theirs = {t for t in theirs if t.split("@")[0] not in off and (path.name, t) not in ONLY_SQUAWK}
    assert ours == theirs


def test_the_oracle_is_not_vacuous() -> None:
    """squawk does find things in the bad files (the comparison above could otherwise pass on empty output)."""
    bad = CORPUS / "bad_index.sql"
    assert squawk_findings(bad, [1]) == {"require-concurrent-index-creation@1", "require-lock-timeout@1"}
