"""The seed API: ``SchemaGenerator`` and ``generate_schema``, with dicts and SQLAlchemy models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Interval,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.schema.errors import SchemaInputError, SchemaValidationError
from dbkeeper.schema.generator import SchemaGenerator, generate_schema
from dbkeeper.schema.introspect import introspect
from dbkeeper.schema.migration import compare
from dbkeeper.schema.model import SchemaColumn, SchemaIndex, SchemaTable
from dbkeeper.schema.sqlalchemy_models import from_sqlalchemy


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("1"))


class Book(Base):
    __tablename__ = "books"
    __table_args__ = (CheckConstraint("price >= 0", name="ck_price"), Index("ix_books_title", "title"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), comment="as printed")
    price: Mapped[float] = mapped_column(Numeric(8, 2), server_default="0")
    kind: Mapped[str] = mapped_column(Enum("novel", "poem", name="book_kind"))
    blurb: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[Any] = mapped_column(JSON, nullable=True)
    added: Mapped[Any] = mapped_column(DateTime(timezone=True), server_default=text("CURRENT_TIMESTAMP"))


USERS = {"name": "users", "columns": [{"name": "id", "type": "INTEGER", "primary_key": True},
                                      {"name": "email", "type": "VARCHAR(120)", "nullable": False}],
         "indexes": [{"name": "ix_users_email", "columns": ["email"], "unique": True}]}


def test_sqlalchemy_declarative_models_become_the_schema_model() -> None:
    schema = from_sqlalchemy(Author, Book)
    books = schema.table("books")
    assert books is not None
    assert books.column("id").autoincrement and books.column("id").type == "BIGINT"  # type: ignore[union-attr]
    assert books.foreign_keys[0].referred_table == "authors" and books.foreign_keys[0].on_delete == "CASCADE"
    assert books.column("kind").enum == "book_kind" and schema.enum("book_kind") is not None  # type: ignore[union-attr]
    assert books.column("price").default == "0" and books.column("price").type == "NUMERIC(8,2)"  # type: ignore[union-attr]
    assert books.column("added").default_expression == "CURRENT_TIMESTAMP"  # type: ignore[union-attr]
    assert books.column("added").type == "TIMESTAMPTZ"  # type: ignore[union-attr]
    assert [c.expression for c in books.checks] == ["price >= 0"]
    assert [i.name for i in books.indexes] == ["ix_books_title"]
    assert books.column("title").comment == "as printed"  # type: ignore[union-attr]
    authors = schema.table("authors")
    assert authors is not None and [u.columns for u in authors.unique_constraints] == [("name",)]


@pytest.mark.parametrize("models", [[Author, Book], Base.metadata, [Author.__table__, Book.__table__], [Base]])
def test_generate_schema_accepts_classes_tables_and_metadata(tmp_path: Path, models: Any) -> None:
    result = generate_schema(models, tmp_path / "out")
    assert result["tables_generated"] == 2
    sql = Path(result["schema_file"]).read_text()
    assert sql.index('CREATE TABLE "authors"') < sql.index('CREATE TABLE "books"')
    assert "generated 2 table(s)" in result["message"]


def test_generate_schema_accepts_dicts_and_applies_on_a_real_database(tmp_path: Path) -> None:
    result = generate_schema([USERS], tmp_path, dialect="sqlite")
    url = f"sqlite:///{tmp_path / 'g.db'}"
    with DatabaseConnection.from_url(url) as conn:
        conn.connect()
        for statement in conn.dialect.split_statements(Path(result["schema_file"]).read_text()):
            conn.execute(statement)
        assert conn.get_tables() == ["users"]


def test_generate_schema_refuses_unsupported_input_clearly(tmp_path: Path) -> None:
    with pytest.raises(SchemaInputError, match="unsupported model 42"):
        generate_schema([42], tmp_path)
    with pytest.raises(SchemaInputError, match="models list is empty"):
        generate_schema([], tmp_path)
    meta = MetaData()
    Table("odd", meta, Column("id", Integer, primary_key=True), Column("v", Interval()))
    with pytest.raises(SchemaInputError, match="has no portable equivalent"):
        generate_schema(meta, tmp_path)


def test_schema_generator_seed_api(tmp_path: Path) -> None:
    generator = SchemaGenerator(workspace_dir=tmp_path / "ws", dialect="postgres")
    sql = generator.create_table(SchemaTable("tags", [SchemaColumn("id", "INTEGER", primary_key=True),
                                                      SchemaColumn("label", "VARCHAR(30)")],
                                             indexes=[SchemaIndex(None, ("label",))]))
    assert 'CREATE TABLE "tags"' in sql and 'CREATE INDEX "ix_tags_label"' in sql
    assert 'CREATE UNIQUE INDEX "ix_users_email"' in generator.create_table_from_dict(USERS)
    script = generator.generate_schema_sql("app", "2.0.0")
    assert script.count("CREATE TABLE") == 2
    json_path = generator.export_schema(tmp_path / "app.json", format="json")
    assert {t["name"] for t in json.loads(Path(json_path).read_text())["tables"]} == {"tags", "users"}
    assert "CREATE TABLE" in Path(generator.export_schema(tmp_path / "app.sql")).read_text()
    with pytest.raises(SchemaInputError, match="unknown export format"):
        generator.export_schema(tmp_path / "x", format="yaml")
    current = generator.schema("app")
    target = generator.schema("app")
    target.tables[0].columns.append(SchemaColumn("colour", "VARCHAR(10)"))
    compared = generator.compare_schemas(current, target)
    assert compared["modified_tables"] == {"tags": ["add column tags.colour VARCHAR(10)"]}
    assert compared["sql"] == ['ALTER TABLE "tags" ADD COLUMN "colour" varchar(10)']
    report = generator.get_schema_drift_report(current.to_dict(), target)
    assert report["has_drift"] and report["drift_count"] == 1 and "add column" in report["report"]
    first = generator.generate_migration("add colour", "colour column", {"current": current, "target": target})
    second = generator.generate_migration("raw", "plain SQL", ["SELECT 1"])
    assert first.rollback_sql == 'ALTER TABLE "tags" DROP COLUMN "colour";\n'
    assert [m.id for m in generator.get_migrations()] == [first.id, second.id]
    assert [m["id"] for m in generator.list_migrations()] == [first.id, second.id]


def test_create_table_validates_before_rendering(tmp_path: Path) -> None:
    generator = SchemaGenerator(workspace_dir=tmp_path)
    with pytest.raises(SchemaValidationError, match="unknown column type 'STRINGY'"):
        generator.create_table_from_dict({"name": "t", "columns": [{"name": "a", "type": "STRINGY"}]})
    with pytest.raises(SchemaValidationError, match="refers to table 'nowhere'"):
        generator.create_table_from_dict({"name": "t", "columns": [{"name": "a", "type": "INTEGER",
                                                                     "foreign_key": "nowhere.id"}]})


def test_sqlalchemy_models_match_a_database_they_created(tmp_path: Path) -> None:
    """Models -> DDL -> database -> introspection compares equal to the models: no drift."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    schema = from_sqlalchemy(Base.metadata)
    with DatabaseConnection.from_url(url) as conn:
        conn.connect()
        for statement in compare(introspect(conn), schema, conn.dialect).statements:
            conn.execute(statement)
        assert compare(introspect(conn), schema, conn.dialect).is_empty


def test_unique_table_constraint_from_sqlalchemy() -> None:
    meta = MetaData()
    Table("pairs", meta, Column("a", Integer, primary_key=True), Column("b", Integer),
          UniqueConstraint("a", "b", name="uq_pairs"))
    table = from_sqlalchemy(meta).tables[0]
    assert [(u.name, u.columns) for u in table.unique_constraints] == [("uq_pairs", ("a", "b"))]
