"""The schema model: dict round trips, shorthands, validation errors people can act on, offline DDL."""

from __future__ import annotations

from typing import Any

import pytest

from dbkeeper.schema.errors import SchemaValidationError, UnsupportedSchemaFeatureError
from dbkeeper.schema.model import (
    SchemaColumn,
    SchemaDefinition,
    SchemaForeignKey,
    SchemaTable,
)

SHOP: dict[str, Any] = {
    "name": "shop", "version": "2.0.0",
    "enums": [{"name": "status", "values": ["new", "paid"]}],
    "sequences": [{"name": "invoice_no", "start": 1000, "increment": 1}],
    "tables": [
        {"name": "customers", "comment": "people who buy", "columns": [
            {"name": "id", "type": "BIGINT", "primary_key": True, "autoincrement": True},
            {"name": "email", "type": "VARCHAR(200)", "nullable": False, "unique": True},
            {"name": "created", "type": "TIMESTAMP", "default": {"expression": "CURRENT_TIMESTAMP"}},
        ]},
        {"name": "orders", "columns": [
            {"name": "id", "type": "INTEGER", "primary_key": True},
            {"name": "customer_id", "type": "BIGINT", "nullable": False},
            {"name": "status", "type": "ENUM", "enum": "status", "default": "new"},
            {"name": "total", "type": "NUMERIC(10,2)", "default": 0, "comment": "in EUR"},
        ], "foreign_keys": [{"columns": ["customer_id"], "referred_table": "customers", "referred_columns": ["id"],
                             "on_delete": "cascade"}],
            "checks": ["total >= 0"], "indexes": [{"name": "ix_orders_status", "columns": ["status"]}]},
    ],
    "views": [{"name": "paid_orders", "definition": "SELECT id, total FROM orders WHERE status = 'paid'"}],
}


def test_the_dict_form_round_trips_exactly() -> None:
    schema = SchemaDefinition.from_dict(SHOP)
    again = SchemaDefinition.from_dict(schema.to_dict())
    assert again == schema
    assert again.to_dict() == schema.to_dict()


def test_seed_api_fields_and_positional_construction() -> None:
    table = SchemaTable("t", [SchemaColumn("id", "INTEGER", primary_key=True)])
    schema = SchemaDefinition("app", "1.0.0", [table])
    assert (schema.name, schema.version, schema.tables[0].name) == ("app", "1.0.0", "t")
    assert schema.created_at.tzinfo is not None
    from_dicts = SchemaDefinition("app", "1", [{"name": "t", "columns": [{"name": "id", "type": "INTEGER"}]}])
    assert from_dicts.tables[0].name == "t"


def test_shorthands_become_table_level_objects() -> None:
    schema = SchemaDefinition.from_dict(SHOP)
    customers, orders = schema.tables
    assert customers.primary_key == ("id",)
    assert [u.columns for u in customers.unique_constraints] == [("email",)]
    assert orders.foreign_keys[0].on_delete == "CASCADE"
    table = SchemaTable("t", [SchemaColumn("id", "INTEGER", primary_key=True),
                              SchemaColumn("p", "INTEGER", foreign_key="t.id")])
    assert table.foreign_keys == [SchemaForeignKey(("p",), "t", ("id",))]
    status = orders.column("status")
    assert status is not None and status.enum_values == ("new", "paid")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["tables"][0]["columns"][1].update(type="VARCHARR(10)"), "unknown column type 'VARCHARR(10)'"),
    (lambda d: d["tables"][0]["columns"][1].pop("name"), "a column definition has no 'name'"),
    (lambda d: d["tables"][0].pop("name"), "a table definition has no 'name'"),
    (lambda d: d.pop("name"), "has no 'name'"),
    (lambda d: d["tables"][0]["columns"].append({"name": "email", "type": "TEXT"}),
     "duplicate column 'email' in table 'customers'"),
    (lambda d: d["tables"][1]["foreign_keys"][0].update(referred_table="clients"),
     "refers to table 'clients', which the schema does not define"),
    (lambda d: d["tables"][1]["foreign_keys"][0].update(referred_columns=["uuid"]),
     "refers to customers.uuid, which does not exist"),
    (lambda d: d["tables"][1]["indexes"][0].update(columns=["state"]), "names column 'state', which the table lacks"),
    (lambda d: d["tables"][1]["columns"][2].update(enum="state"),
     "uses enum 'state', which the schema does not define"),
    (lambda d: d["tables"][0]["columns"][1].update(colour="red"), "unknown key(s) 'colour'"),
    (lambda d: d["tables"][1]["foreign_keys"][0].update(on_delete="EXPLODE"), "is not a referential action"),
    (lambda d: d["tables"].append(dict(d["tables"][0])), "duplicate table 'customers'"),
    (lambda d: d["tables"][0]["columns"][1].update(autoincrement=True), "autoincrement needs an integer type"),
])
def test_bad_definitions_raise_errors_that_name_the_problem(change: Any, message: str) -> None:
    import copy

    data = copy.deepcopy(SHOP)
    change(data)
    with pytest.raises(SchemaValidationError) as info:
        SchemaDefinition.from_dict(data)
    assert message in str(info.value)


def test_sql_for_every_dialect_orders_dependencies_and_quotes() -> None:
    schema = SchemaDefinition.from_dict(SHOP)
    pg = schema.to_sql("postgres")
    assert pg.index('CREATE TYPE "status"') < pg.index('CREATE TABLE "orders"')
    assert pg.index('CREATE TABLE "customers"') < pg.index('CREATE TABLE "orders"') < pg.index('CREATE VIEW')
    assert 'CREATE SEQUENCE "invoice_no" START WITH 1000' in pg
    assert "GENERATED BY DEFAULT AS IDENTITY" in pg and "COMMENT ON TABLE \"customers\" IS 'people who buy'" in pg
    without_sequences = SchemaDefinition.from_dict({**SHOP, "sequences": []})
    my = without_sequences.to_sql("mysql")
    assert "`status` ENUM('new', 'paid') DEFAULT 'new'" in my and "AUTO_INCREMENT" in my
    assert "COMMENT='people who buy'" in my
    lite = without_sequences.to_sql("sqlite")
    assert "\"status\" IN ('new', 'paid')" in lite and "AUTOINCREMENT" in lite


def test_a_dialect_without_sequences_refuses_them_instead_of_dropping_them() -> None:
    with pytest.raises(UnsupportedSchemaFeatureError, match=r"mysql has no sequences.*'invoice_no'"):
        SchemaDefinition.from_dict(SHOP).to_sql("mysql")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
def test_identifiers_with_quotes_spaces_reserved_words_and_unicode_are_quoted(dialect: str) -> None:
    schema = SchemaDefinition.from_dict({"name": "q", "tables": [{"name": 'we"ird `name', "columns": [
        {"name": "select", "type": "INTEGER", "primary_key": True}, {"name": "größe spaß", "type": "TEXT"}]}]})
    sql = schema.to_sql(dialect)
    if dialect == "mysql":
        assert 'CREATE TABLE `we"ird ``name`' in sql and "`select` INT" in sql and "`größe spaß` TEXT" in sql
    else:
        assert 'CREATE TABLE "we""ird `name"' in sql and '"select" integer'.lower() in sql.lower()
        assert '"größe spaß"' in sql


def test_mysql_refuses_an_index_on_a_text_column_with_advice() -> None:
    schema = SchemaDefinition.from_dict({"name": "q", "tables": [{"name": "t", "columns": [
        {"name": "id", "type": "INTEGER", "primary_key": True}, {"name": "body", "type": "TEXT"}],
        "indexes": [{"columns": ["body"]}]}]})
    with pytest.raises(UnsupportedSchemaFeatureError, match="make it VARCHAR"):
        schema.to_sql("mysql")
