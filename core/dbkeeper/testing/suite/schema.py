"""Conformance: the schema toolkit's round trip settles (render → introspect → diff is empty).

Switched by ``render_ddl`` (with ``foreign_key_actions`` for the ``ON DELETE``
action and ``alter_column`` for in-place column changes). A schema rendered
by the dialect's :class:`~dbkeeper.schema.ddl.DDLRenderer`, created, and read
back by ``introspect_schema`` must compare equal to the one rendered; after a
change is applied, the diff to the changed schema must be empty too. A diff
that never settles would have ``dbkeeper schema diff`` propose the same
migration forever.
"""

from __future__ import annotations

import copy
from typing import Any

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.suite._base import ConformanceBase


def _schema(fk_action: str | None) -> dict[str, Any]:
    return {"name": "conformance", "views": [], "tables": [
        {"name": "authors", "indexes": [], "checks": [], "foreign_keys": [],
         "unique_constraints": [{"columns": ["email"]}],
         "columns": [{"name": "id", "type": "INTEGER", "primary_key": True},
                     {"name": "email", "type": "VARCHAR(120)", "nullable": False},
                     {"name": "display name", "type": "VARCHAR(40)", "nullable": True, "default": "it's me"}]},
        {"name": "order", "indexes": [{"columns": ["author_id"]}], "checks": [], "unique_constraints": [],
         "columns": [{"name": "id", "type": "INTEGER", "primary_key": True},
                     {"name": "author_id", "type": "INTEGER", "nullable": False},
                     {"name": "amount", "type": "NUMERIC(10,2)", "nullable": True}],
         "foreign_keys": [{"columns": ["author_id"], "referred_table": "authors", "referred_columns": ["id"],
                           "on_delete": fk_action}]},
    ]}


class SchemaConformance(ConformanceBase):
    """What ``Capabilities.render_ddl`` promises to ``dbkeeper schema``."""

    def _create(self, connection: DatabaseConnection, schema: dict[str, Any]) -> None:
        from dbkeeper.schema.migration import compare
        from dbkeeper.schema.model import SchemaDefinition

        for statement in compare(SchemaDefinition(name="empty"), SchemaDefinition.from_dict(schema),
                                 connection.dialect).statements:
            connection.execute(statement)

    def _diff(self, connection: DatabaseConnection, schema: dict[str, Any]) -> Any:
        from dbkeeper.schema.introspect import introspect
        from dbkeeper.schema.migration import compare
        from dbkeeper.schema.model import SchemaDefinition

        return compare(introspect(connection), SchemaDefinition.from_dict(schema), connection.dialect)

    def _changed(self, schema: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(schema)
        authors = changed["tables"][0]
        authors["columns"][2]["type"] = "VARCHAR(80)"
        authors["columns"].append({"name": "born", "type": "DATE", "nullable": True})
        return changed

    def test_a_rendered_schema_reads_back_equal(self, connection: DatabaseConnection) -> None:
        self.requires(connection, "render_ddl")
        schema = _schema(None)
        self._create(connection, schema)
        diff = self._diff(connection, schema)
        assert diff.is_empty, diff.changes

    def test_a_foreign_key_action_reads_back_equal(self, connection: DatabaseConnection) -> None:
        self.requires(connection, "render_ddl")
        self.requires(connection, "foreign_key_actions")
        schema = _schema("CASCADE")
        self._create(connection, schema)
        diff = self._diff(connection, schema)
        assert diff.is_empty, diff.changes

    def test_an_applied_change_settles(self, connection: DatabaseConnection) -> None:
        self.requires(connection, "render_ddl")
        schema = _schema(None)
        self._create(connection, schema)
        changed = self._changed(schema)
        diff = self._diff(connection, changed)
        assert not diff.is_empty
        for statement in diff.statements:
            connection.execute(statement)
        after = self._diff(connection, changed)
        assert after.is_empty, f"re-diff not empty: {after.changes}\n--- applied ---\n{diff.up_sql()}"

    def test_a_column_change_is_altered_in_place(self, connection: DatabaseConnection) -> None:
        """With ``alter_column`` the toolkit changes a column without rebuilding its table."""
        self.requires(connection, "render_ddl")
        self.requires(connection, "alter_column")
        schema = _schema(None)
        self._create(connection, schema)
        statements = self._diff(connection, self._changed(schema)).statements
        assert statements and not any(s.lstrip().upper().startswith("CREATE TABLE") for s in statements), statements
