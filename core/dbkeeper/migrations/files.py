"""Migration files: reading a directory into :class:`Migration` objects, and writing new ones.

Two formats live side by side in one directory (subdirectories and other
files are ignored):

- ``<id>_<name>.json``: one migration, fields as in :class:`Migration`
  (``id``, ``name`` and ``sql`` required). ``status``, ``applied_at`` and
  ``checksum`` may appear (files written by ``create_migration`` carry them)
  but are ignored: state lives in the database, the checksum is recomputed.
- ``<id>_<name>.up.sql`` with an optional ``<id>_<name>.down.sql``: the id is
  the part before the first ``_``; leading ``-- key: value`` comment lines of
  the up file set ``description``, ``depends`` (ids separated by commas or
  spaces) and ``name``. golang-migrate folders (``000001_init.up.sql``) are
  this layout; an empty down file is a deliberate no-op rollback.
- Flyway's ``V<version>__<name>.sql`` with an optional undo file
  ``U<version>__<name>.sql``: the id is the version (``V1_1__x`` is ``1.1``),
  the down SQL the undo file's. Repeatable ``R__`` files are refused.

Every problem (unreadable file, malformed JSON, a key given twice, unknown
field, a number where an id or SQL text belongs, an up migration without a
single statement, a ``.down.sql`` without its ``.up.sql``, a stray ``.sql``)
raises :class:`MigrationFileError` naming the file, before anything touches a
database. A JSON id must be a string: ``1`` would silently stand for ``"1"``
and lose the leading zeros a file name carries.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dbkeeper.migrations.errors import MigrationFileError
from dbkeeper.migrations.model import Migration, utcnow

JSON_FIELDS = frozenset({"id", "name", "description", "sql", "rollback_sql", "dependencies", "created_at"})
#: Fields a JSON file may carry that describe one database's state; they are ignored on load.
IGNORED_JSON_FIELDS = frozenset({"applied_at", "status", "checksum"})
_HEADER = re.compile(r"--\s*([A-Za-z_-]+)\s*:\s*(.*?)\s*$")
_HEADER_KEYS = {"description": "description", "depends": "dependencies", "depends-on": "dependencies",
                "depends_on": "dependencies", "dependencies": "dependencies", "name": "name", "created": "created"}
_SLUG = re.compile(r"[^a-z0-9]+")
#: Flyway's ``V1__name.sql`` (versioned), ``U1__name.sql`` (undo), ``R__name.sql`` (repeatable, refused);
#: ``V1_1__x`` and ``V1.1__x`` are both version ``1.1``, as in Flyway.
_FLYWAY = re.compile(r"^([VUR])(\d+(?:[._]\d+)*)?__(.+)\.sql$")
MAX_ID_LENGTH = 255


def load_directory(directory: str | os.PathLike[str]) -> list[Migration]:
    """Every migration defined in ``directory``, in file-name order (not yet validated as a graph)."""
    path = Path(directory)
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        raise MigrationFileError(f"migrations directory {path} {what}; create it or pass --dir")
    ups: dict[str, os.DirEntry[str]] = {}
    downs: dict[str, os.DirEntry[str]] = {}
    flyway_ups: dict[str, os.DirEntry[str]] = {}
    flyway_undos: dict[str, os.DirEntry[str]] = {}
    migrations: list[Migration] = []
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as exc:
        raise MigrationFileError(f"cannot list migrations directory {path}: {exc.strerror or exc}") from None
    for entry in entries:
        name = entry.name
        if name.startswith(".") or not entry.is_file():
            continue
        lower = name.lower()
        if lower.endswith(".up.sql"):
            ups[name[: -len(".up.sql")]] = entry
        elif lower.endswith(".down.sql"):
            downs[name[: -len(".down.sql")]] = entry
        elif (flyway := _FLYWAY.match(name)) is not None:
            kind, version, title = flyway.groups()
            if kind == "R":
                raise MigrationFileError(f"{entry.path}: Flyway repeatable migrations (R__) are not supported; "
                                         "fold it into a versioned migration, or move it out of the directory")
            stem = f"{version.replace('_', '.')}_{title}"
            (flyway_ups if kind == "V" else flyway_undos)[stem] = entry
        elif lower.endswith(".sql"):
            raise MigrationFileError(
                f"{entry.path}: a migration file must be named <id>_<name>.up.sql (with an optional "
                "<id>_<name>.down.sql); rename it, or move it out of the migrations directory"
            )
        elif lower.endswith(".json"):
            migrations.append(load_json_file(Path(entry.path)))
    for stem, undo_entry in flyway_undos.items():
        if stem not in flyway_ups:
            raise MigrationFileError(f"{undo_entry.path} has no matching V{stem.split('_', 1)[0]}__ file; add the "
                                     "versioned file or remove this undo file")
    for stem, up_entry in flyway_ups.items():
        undo = flyway_undos.get(stem)
        migrations.append(load_sql_pair(up_entry.path, undo.path if undo is not None else None, stem))
    for stem, down_entry in downs.items():
        if stem not in ups:
            raise MigrationFileError(f"{down_entry.path} has no matching {stem}.up.sql; add the up file or remove "
                                     "this one")
    for stem, up_entry in ups.items():
        pair = downs.get(stem)
        migrations.append(load_sql_pair(up_entry.path, pair.path if pair is not None else None, stem))
    return migrations


def _read(path: Path | str) -> str:
    """The file's text; the builtin ``open`` in binary mode is the cheapest way through 10,000 files."""
    try:
        with open(path, "rb") as handle:  # the builtin, not pathlib: the fast path
            return handle.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MigrationFileError(f"{path} is not valid UTF-8 (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise MigrationFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def _check_id(value: str, path: Path | str) -> str:
    if not value or not value.strip():
        raise MigrationFileError(f"{path}: the migration id is empty")
    if len(value) > MAX_ID_LENGTH:
        raise MigrationFileError(f"{path}: the migration id is longer than {MAX_ID_LENGTH} characters")
    return value


def _has_statement(sql: str) -> bool:
    """Whether ``sql`` holds anything but whitespace, comments and semicolons.

    Only the leading comments are skipped, so the cost is the header's, not
    the file's: this runs on every file of a 10,000-migration directory.
    """
    position, end = 0, len(sql)
    while position < end:
        char = sql[position]
        if char.isspace() or char == ";":
            position += 1
        elif sql.startswith("--", position):
            newline = sql.find("\n", position)
            position = end if newline < 0 else newline + 1
        elif sql.startswith("/*", position):
            close = sql.find("*/", position + 2)
            position = end if close < 0 else close + 2
        else:
            return True
    return False


def _check_sql(sql: str, path: Path | str) -> str:
    """An up migration that runs nothing is a mistake (an unsaved editor, a wrong file), never a no-op."""
    if not _has_statement(sql):
        raise MigrationFileError(f"{path}: the migration has no SQL statement (only whitespace or comments); "
                                 "write its SQL, or remove the file")
    return sql


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` keeps the last of two equal keys; a migration file must not say two things."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKeyError(key)
        data[key] = value
    return data


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def load_json_file(path: Path) -> Migration:
    """One migration from a JSON file; errors name the file, and the line for bad JSON."""
    text = _read(path)
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except _DuplicateKeyError as exc:
        raise MigrationFileError(f"{path}: duplicate key {exc.key!r}; each field may appear once") from None
    except json.JSONDecodeError as exc:
        raise MigrationFileError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") \
            from None
    if not isinstance(data, dict):
        raise MigrationFileError(f"{path}: expected a JSON object with id, name and sql, found {type(data).__name__}")
    unknown = set(data) - JSON_FIELDS - IGNORED_JSON_FIELDS
    if unknown:
        raise MigrationFileError(f"{path}: unknown field(s) {sorted(unknown)}; allowed: {sorted(JSON_FIELDS)}")
    missing = [key for key in ("id", "name", "sql") if key not in data]
    if missing:
        raise MigrationFileError(f"{path}: missing required field(s) {missing}")
    for key in ("id", "name", "sql"):
        if not isinstance(data[key], str):
            hint = f' (write "{data[key]}", in quotes)' if isinstance(data[key], int | float) else ""
            raise MigrationFileError(f"{path}: field {key!r} must be a string, not {_json_type(data[key])}{hint}")
    for key in ("description", "rollback_sql"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise MigrationFileError(f"{path}: field {key!r} must be a string or null")
    deps = data.get("dependencies") or []
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise MigrationFileError(f"{path}: 'dependencies' must be a list of migration ids (strings)")
    return Migration(
        id=_check_id(data["id"], path),
        name=data["name"],
        description=data.get("description") or "",
        sql=_check_sql(data["sql"], path),
        rollback_sql=data.get("rollback_sql"),
        dependencies=list(deps),
        created_at=_parse_time(data.get("created_at"), path) or _mtime(path),
        source=path,
    )


def _json_type(value: Any) -> str:
    """How a JSON value's type reads in a message (``a number``, ``null``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else "an object"


def _parse_time(value: Any, path: Path | str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MigrationFileError(f"{path}: 'created_at' must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MigrationFileError(f"{path}: created time {value!r} is not an ISO-8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _mtime(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return utcnow()


def parse_header(sql: str) -> dict[str, Any]:
    """The ``-- key: value`` lines at the top of an up file (stops at the first other line)."""
    header: dict[str, Any] = {}
    if not sql.lstrip().startswith("--"):
        return header
    for line in sql.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        match = _HEADER.match(stripped)
        if not match:
            if stripped.startswith("--"):
                continue  # an ordinary comment inside the header block
            break
        key = _HEADER_KEYS.get(match.group(1).lower())
        if key == "dependencies":
            header[key] = [d for d in re.split(r"[,\s]+", match.group(2)) if d]
        elif key is not None:
            header[key] = match.group(2)
    return header


def split_stem(stem: str) -> tuple[str, str]:
    """``0003_add_users`` -> ``("0003", "add_users")``; a stem without ``_`` is its own name."""
    ident, sep, name = stem.partition("_")
    if not sep or not name:
        return stem, stem
    return ident, name


def load_sql_pair(up: Path | str, down: Path | str | None, stem: str) -> Migration:
    """One migration from ``<stem>.up.sql`` and its optional ``<stem>.down.sql``.

    ``created_at`` comes from a ``-- created:`` header line (``migrate new``
    writes one), else lazily from the up file's modification time.
    """
    sql = _check_sql(_read(up), up)
    rollback = _read(down) if down is not None else None
    header = parse_header(sql)
    ident, name = split_stem(stem)
    return Migration.from_file(
        id=_check_id(ident, up),
        name=header.get("name") or name,
        description=header.get("description", ""),
        sql=sql,
        rollback_sql=rollback,
        dependencies=[str(d) for d in header.get("dependencies", [])],
        created_at=_parse_time(header.get("created"), up) if "created" in header else None,
        source=Path(up),
        down_source=Path(down) if down is not None else None,
    )


# -- writing --------------------------------------------------------------------------
def slugify(text: str) -> str:
    """``"Add users table!"`` -> ``"add_users_table"`` (file-name safe)."""
    slug = _SLUG.sub("_", text.lower()).strip("_")
    return slug or "migration"


def next_id(existing: list[str], width: int = 4) -> str:
    """The next sequential numeric id after the largest numeric prefix in ``existing``."""
    highest = 0
    for ident in existing:
        digits = re.match(r"\d+", ident)
        if digits:
            highest = max(highest, int(digits.group(0)))
            width = max(width, len(digits.group(0)))
    return str(highest + 1).zfill(width)


def _atomic_write(path: Path, text: str) -> None:
    """Write through a temp file, fsync and rename, refusing to overwrite an existing file."""
    if path.exists():
        raise MigrationFileError(f"{path} already exists; choose another name")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MigrationFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_json(migration: Migration, directory: Path) -> Path:
    """Write ``migration`` as ``<id>_<slug>.json`` in ``directory``; return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{migration.id}_{slugify(migration.name)}.json"
    data = migration.to_dict()
    data["applied_at"] = None
    data["status"] = "pending"
    _atomic_write(path, json.dumps(data, indent=2) + "\n")
    migration.source = path
    return path


def write_sql_pair(migration: Migration, directory: Path) -> tuple[Path, Path]:
    """Write ``migration`` as an ``.up.sql``/``.down.sql`` pair with a header; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{migration.id}_{slugify(migration.name)}"
    up, down = directory / f"{stem}.up.sql", directory / f"{stem}.down.sql"
    lines = [f"-- description: {migration.description}" if migration.description else "-- description:",
             f"-- created: {migration.created_at.isoformat(timespec='seconds')}"]
    if migration.dependencies:
        lines.append(f"-- depends: {', '.join(migration.dependencies)}")
    header = "\n".join(lines) + "\n"
    body = migration.sql if migration.sql.endswith("\n") or not migration.sql else migration.sql + "\n"
    if down.exists():
        raise MigrationFileError(f"{down} already exists; choose another name")
    migration.sql = header + body
    _atomic_write(up, migration.sql)
    rollback = migration.rollback_sql or ""
    _atomic_write(down, rollback if rollback.endswith("\n") or not rollback else rollback + "\n")
    migration.source, migration.down_source = up, down
    return up, down
