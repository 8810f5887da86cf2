"""Table reflection through SQLAlchemy's batched ``get_multi_*`` inspector calls.

Used by :meth:`dbkeeper.contract.dialect.Dialect.introspect`; one round of batched
queries per kind of object instead of one query per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from dbkeeper.contract.introspection import ColumnInfo, ForeignKeyInfo, IndexInfo, TableInfo
from dbkeeper.errors import QueryError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class Reflectable(Protocol):
    """What reflection needs of a connection (a :class:`~dbkeeper.contract.session.Session` has it).

    Its own small protocol so this module, which the dialect imports, does not import the dialect.
    """

    @property
    def name(self) -> str: ...

    def sqlalchemy_engine(self) -> Engine: ...


def reflect_tables(connection: Reflectable, tables: Sequence[str] | None) -> list[TableInfo]:
    """Reflect ``tables`` (every table when ``None``) of ``connection``'s database."""
    from sqlalchemy import inspect

    inspector = inspect(connection.sqlalchemy_engine())
    existing = set(inspector.get_table_names())
    if tables is None:
        names = sorted(existing)
    else:
        missing = [t for t in tables if t not in existing]
        if missing:
            raise QueryError(
                f"no such table {missing[0]!r} in database {connection.name!r}; "
                f"existing tables: {', '.join(sorted(existing)) or 'none'}"
            )
        names = list(tables)
    if not names:
        return []
    columns = inspector.get_multi_columns(filter_names=names)
    pks = inspector.get_multi_pk_constraint(filter_names=names)
    indexes = inspector.get_multi_indexes(filter_names=names)
    fks = inspector.get_multi_foreign_keys(filter_names=names)
    comments: Any = {}
    try:
        comments = inspector.get_multi_table_comment(filter_names=names)
    except NotImplementedError:
        comments = {}
    by_name: dict[str, Any] = {key[1]: key for key in columns}
    result: list[TableInfo] = []
    for name in names:
        key = by_name.get(name, (None, name))
        pk_cols = tuple(pks[key].get("constrained_columns") or ()) if key in pks else ()
        cols = tuple(
            ColumnInfo(
                name=c["name"],
                type=_type_name(c["type"]),
                nullable=bool(c.get("nullable", True)),
                default=None if c.get("default") is None else str(c.get("default")),
                primary_key=c["name"] in pk_cols,
                autoincrement=c.get("autoincrement") is True,
                comment=c.get("comment"),
            )
            for c in columns.get(key, [])
        )
        idx = tuple(
            IndexInfo(name=i["name"] or "", columns=tuple(x for x in i["column_names"] if x), unique=bool(i["unique"]))
            for i in indexes.get(key, [])
        )
        fk = tuple(
            ForeignKeyInfo(
                name=f.get("name"),
                columns=tuple(f["constrained_columns"]),
                referred_table=f["referred_table"],
                referred_columns=tuple(f["referred_columns"]),
                on_delete=(f.get("options") or {}).get("ondelete"),
                on_update=(f.get("options") or {}).get("onupdate"),
            )
            for f in fks.get(key, [])
        )
        comment = (comments.get(key) or {}).get("text")
        result.append(TableInfo(name=name, columns=cols, primary_key=pk_cols, indexes=idx, foreign_keys=fk,
                                schema=key[0], comment=comment))
    return result


def _type_name(sa_type: Any) -> str:
    try:
        return str(sa_type)
    except Exception:  # some reflected types cannot compile without a dialect
        return type(sa_type).__name__.upper()
