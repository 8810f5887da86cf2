"""The `dbkeeper demo` lifecycle step and the guide's example both run as shown."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

from dbkeeper.demo.lifecycle import run_lifecycle_demo

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "lifecycle.md"


def test_the_demo_upgrades_from_1_0_0_to_1_1_0_and_reports_every_transition(tmp_path: Path) -> None:
    lines: list[str] = []
    asyncio.run(run_lifecycle_demo(tmp_path / "demo", lines.append))
    text = "\n".join(lines)
    assert "stored version 1.0.0, columns ['id', 'text']" in text
    assert "migrate_db(1.0.0 -> 1.1.0)" in text
    assert "stored version 1.1.0, columns ['id', 'text', 'pinned']" in text
    assert "status STARTING -> FAILED" in text
    assert "still at version 1.1.0" in text
    transitions = [line.strip() for line in lines if line.strip().startswith("status")]
    assert transitions == [
        "status STARTING -> RUNNING", "status RUNNING -> STOPPING", "status STOPPING -> STOPPED",
        "status STARTING -> RUNNING", "status RUNNING -> STOPPING", "status STOPPING -> STOPPED",
        "status STARTING -> FAILED",
        "status STARTING -> RUNNING", "status RUNNING -> STOPPING", "status STOPPING -> STOPPED",
    ]


def test_the_guides_complete_example_runs_and_prints_what_it_says(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    example = next(block for block in blocks if "asyncio.run(main())" in block)
    result = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "RUNNING 1.1.0 ['buy milk']"
    assert (tmp_path / "data" / "database.db").is_file()
