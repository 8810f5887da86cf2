"""Schema introspection side by side: ``dbkeeper.schema.introspect`` vs SQLAlchemy's ``MetaData.reflect()``.

The database holds 500 tables, each with a primary key, three columns, an
index and a foreign key to the previous table (PostgreSQL by default; pass
``--dialects`` for MySQL/SQLite too). Both tools read the whole schema on an
already open connection: dbkeeper's one batched catalog pass into a
``SchemaDefinition``, SQLAlchemy's ``MetaData().reflect(bind=engine)`` into
``Table`` objects. Rounds alternate between the two and the best of each is
reported, so a change in machine load does not favour either. Targets: at
most 2 s, and at most 0.5x the reflection time.

    python benchmarks/bench_schema.py
    python benchmarks/bench_schema.py --tables 200 --dialects postgres mysql sqlite --rounds 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import Row, interleaved, print_rows, server_database

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.schema.introspect import introspect
from dbkeeper.urls import DatabaseURL


def build(conn: DatabaseConnection, tables: int) -> None:
    """Create the benchmark schema in one transaction per 100 tables."""
    q = conn.dialect.quote_identifier
    for start in range(0, tables, 100):
        with conn.transaction() as tx:
            for i in range(start, min(start + 100, tables)):
                name = f"bench_{i:04d}"
                previous = q(f"bench_{i - 1:04d}")
                parent = f", CONSTRAINT {q('fk_' + name)} FOREIGN KEY (parent_id) REFERENCES {previous} (id)"
                tx.execute(f"CREATE TABLE {q(name)} (id INTEGER NOT NULL PRIMARY KEY, parent_id INTEGER, "
                           f"label VARCHAR(50) NOT NULL DEFAULT 'x', amount NUMERIC(10,2){parent if i else ''})")
                tx.execute(f"CREATE INDEX {q('ix_' + name)} ON {q(name)} (label)")


def measure(url: DatabaseURL, tables: int, rounds: int) -> Row:
    from sqlalchemy import MetaData

    with DatabaseConnection.from_url(url) as conn:
        conn.connect()
        build(conn, tables)
        engine = conn.sqlalchemy_engine()
        ours_result = introspect(conn)
        assert len(ours_result.tables) == tables, len(ours_result.tables)
        assert all(t.indexes or t.foreign_keys for t in ours_result.tables)

        def ours() -> None:
            introspect(conn)

        def theirs() -> None:
            meta = MetaData()
            meta.reflect(bind=engine)
            assert len(meta.tables) == tables

        theirs()  # warm both: first use loads SQLAlchemy's dialect and fills caches
        ours()
        t_ours, t_theirs = interleaved(ours, theirs, rounds)
        ok = t_ours <= 2.0 and t_ours <= 0.5 * t_theirs
        return Row(f"{conn.dialect.name}: introspect {tables} tables vs MetaData.reflect()", t_ours, t_theirs,
                   "<= 2 s and <= 0.5x", ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dialects", nargs="+", default=["postgres"], choices=["postgres", "mysql", "sqlite"])
    args = parser.parse_args()
    rows: list[Row] = []
    for dialect in args.dialects:
        started = time.perf_counter()
        if dialect == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(measure(DatabaseURL(scheme="sqlite", database=str(Path(tmp) / "b.db")), args.tables,
                                    args.rounds))
        else:
            with server_database(dialect) as url:
                if url is not None:
                    rows.append(measure(url, args.tables, args.rounds))
        print(f"  {dialect}: done in {time.perf_counter() - started:.1f} s")
    if rows:
        print_rows(rows)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
