"""Print the commands of the README's Quick start block, one per line.

CI runs exactly these, so the README and CI can never drift apart. Exits
non-zero when the section or its first ``bash`` block is missing, or when the
block does not hold exactly two commands.
"""

from __future__ import annotations

import sys
from pathlib import Path


def quickstart_commands(readme: str) -> list[str]:
    """The non-empty, non-comment lines of the first ```bash block under ``## Quick start``."""
    lines = readme.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "## Quick start")
    except StopIteration:
        raise SystemExit("README.md has no '## Quick start' section") from None
    commands: list[str] = []
    inside = False
    for line in lines[start + 1:]:
        if not inside and line.startswith("## "):
            break
        if not inside and line.strip() == "```bash":
            inside = True
            continue
        if inside and line.strip().startswith("```"):
            return commands
        if inside and line.strip() and not line.lstrip().startswith("#"):
            commands.append(line.strip())
    raise SystemExit("the Quick start section has no complete ```bash block")


if __name__ == "__main__":
    found = quickstart_commands(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md").read_text())
    if len(found) != 2:
        raise SystemExit(f"the Quick start block must hold exactly two commands, found {len(found)}")
    print("\n".join(found))
