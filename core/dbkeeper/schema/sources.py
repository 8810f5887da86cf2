"""Where a schema can come from on the command line: a URL, a JSON or SQL file, or Python models.

``load_schema`` decides by the argument's shape: something with ``://``
(or a ``sqlite:`` path) is a database URL and is introspected; ``*.json`` is
the dict form; ``*.sql`` is run into an in-memory SQLite database and
introspected (so it must be SQL SQLite understands); ``*.py`` or a dotted
module name is imported and searched for a :class:`SchemaDefinition`,
SQLAlchemy models or a list of table dicts called ``TABLES``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from dbkeeper.schema.errors import SchemaInputError
from dbkeeper.schema.model import SchemaDefinition


def is_url(source: str) -> bool:
    """True when ``source`` looks like a database URL."""
    return "://" in source or source.startswith("sqlite:")


def url_dialect(source: str) -> str:
    """The dialect name serving a URL."""
    from dbkeeper.engine.plugins import get_registry
    from dbkeeper.urls import DatabaseURL

    return get_registry().dialect_for_url(DatabaseURL.parse(source)).name


def load_schema(source: str) -> SchemaDefinition:
    """A :class:`SchemaDefinition` from a URL, a ``.json``/``.sql`` file or a Python module with models."""
    if is_url(source):
        from dbkeeper.engine.connection import DatabaseConnection
        from dbkeeper.schema.introspect import introspect

        with DatabaseConnection.from_url(source) as conn:
            conn.connect()
            return introspect(conn)
    path = Path(source)
    if path.suffix == ".json":
        return _from_json(path)
    if path.suffix == ".sql":
        return _from_sql(path)
    if path.suffix == ".py" or (not path.suffix and not path.exists()):
        return from_module(_import(source))
    raise SchemaInputError(f"cannot read a schema from {source!r}: pass a database URL, a .json or .sql file, "
                           "or a Python module (file.py or package.module) with models")


def _from_json(path: Path) -> SchemaDefinition:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise SchemaInputError(f"{path} is not valid JSON: {exc}") from None
    if isinstance(data, list):
        data = {"name": path.stem, "tables": data}
    return SchemaDefinition.from_dict(data)


def _from_sql(path: Path) -> SchemaDefinition:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.errors import DbKeeperError
    from dbkeeper.schema.introspect import introspect

    try:
        script = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with DatabaseConnection.from_url("sqlite:///:memory:") as conn:
        conn.connect()
        for statement in conn.dialect.split_statements(script):
            try:
                conn.execute(statement)
            except DbKeeperError as exc:
                raise SchemaInputError(f"{path}: SQLite could not run a statement ({exc}); .sql sources are "
                                       "loaded into SQLite, so they must use SQL it understands") from None
        schema = introspect(conn)
    schema.name = path.stem
    return schema


def _import(source: str) -> Any:
    path = Path(source)
    try:
        if path.suffix == ".py":
            if not path.is_file():
                raise SchemaInputError(f"no such file: {path}")
            name = f"_dbkeeper_models_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise SchemaInputError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(source)
    except SchemaInputError:
        raise
    except Exception as exc:
        raise SchemaInputError(f"importing models from {source!r} failed: {type(exc).__name__}: {exc}") from None


def from_module(module: Any) -> SchemaDefinition:
    """The schema a module defines: a SchemaDefinition, else SQLAlchemy models, else ``TABLES`` dicts."""
    from dbkeeper.schema.sqlalchemy_models import from_sqlalchemy, is_sqlalchemy_model

    values = [v for k, v in vars(module).items() if not k.startswith("_")]
    for value in values:
        if isinstance(value, SchemaDefinition):
            return value
    models = [v for v in values if is_sqlalchemy_model(v) and getattr(v, "__module__", module.__name__) in (
        module.__name__, "sqlalchemy.sql.schema")]
    if models:
        return from_sqlalchemy(*models, name=module.__name__.rsplit(".", 1)[-1])
    tables = getattr(module, "TABLES", None)
    if isinstance(tables, list):
        return SchemaDefinition.from_dict({"name": module.__name__.rsplit(".", 1)[-1], "tables": tables})
    raise SchemaInputError(f"module {module.__name__!r} defines no SchemaDefinition, SQLAlchemy models or TABLES list")
