"""Version and DBStatus: the value types of the versioned lifecycle."""

from __future__ import annotations

import itertools
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbkeeper.errors import DbKeeperError
from dbkeeper.lifecycle import DBStatus, Version, VersionFormatError

parts = st.integers(min_value=0, max_value=10**9)
versions = st.builds(Version, parts, parts, parts)


@given(versions, versions)
def test_version_orders_like_its_major_minor_patch_tuple(a: Version, b: Version) -> None:
    assert (a < b) == (a.to_db() < b.to_db())
    assert (a == b) == (a.to_db() == b.to_db())
    assert (a <= b) == (a.to_db() <= b.to_db())
    assert (a > b) == (a.to_db() > b.to_db())
    assert sorted([a, b]) == sorted([b, a])


@given(versions)
def test_version_round_trips_through_str_and_parse(version: Version) -> None:
    assert Version.parse(str(version)) == version
    assert str(version) == f"{version.major}.{version.minor}.{version.patch}"


@given(versions)
def test_version_round_trips_through_a_database_row(version: Version) -> None:
    assert Version.from_db(version.to_db()) == version
    assert Version.from_db(list(version.to_db())) == version
    assert Version.from_db(dict(zip(("major", "minor", "patch"), version.to_db(), strict=True))) == version


def test_version_reads_an_sqlite3_row() -> None:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT 1 AS major, 2 AS minor, 3 AS patch").fetchone()
    conn.close()
    assert Version.from_db(row) == Version(1, 2, 3)


def test_version_is_hashable_and_immutable() -> None:
    version = Version(1, 2, 3)
    assert {version, Version(1, 2, 3)} == {version}
    with pytest.raises(AttributeError):
        version.major = 2  # type: ignore[misc]


def test_version_parse_accepts_a_leading_v_and_surrounding_space() -> None:
    assert Version.parse(" v1.20.300 ") == Version(1, 20, 300)


@pytest.mark.parametrize("text", ["", "1", "1.2", "1.2.3.4", "1.2.x", "-1.2.3", "1..3", "one.two.three"])
def test_version_parse_rejects_malformed_text_with_a_clear_error(text: str) -> None:
    with pytest.raises(VersionFormatError, match=r"MAJOR\.MINOR\.PATCH"):
        Version.parse(text)


def test_version_format_errors_are_dbkeeper_and_value_errors() -> None:
    with pytest.raises(DbKeeperError):
        Version.parse("nope")
    with pytest.raises(ValueError, match="not a version"):
        Version.parse("nope")


@pytest.mark.parametrize("bad", [(-1, 0, 0), (0, -2, 0), (1, 2, 1.5), (True, 0, 0), ("1", 0, 0)])
def test_version_rejects_negative_or_non_integer_parts(bad: tuple[object, object, object]) -> None:
    with pytest.raises(VersionFormatError):
        Version(*bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("row", [(1, 2), (1, 2, 3, 4), None, {"major": 1}, ("a", "b", "c")])
def test_from_db_rejects_rows_that_are_not_three_integers(row: object) -> None:
    with pytest.raises(VersionFormatError):
        Version.from_db(row)


def test_dbstatus_orders_in_lifecycle_order() -> None:
    order = [DBStatus.STARTING, DBStatus.RUNNING, DBStatus.STOPPING, DBStatus.STOPPED, DBStatus.FAILED]
    assert sorted(DBStatus) == order
    assert all(a < b for a, b in itertools.pairwise(order))
    assert DBStatus.STOPPING > DBStatus.RUNNING  # how old DBManager code tests "no longer usable"
    assert str(DBStatus.RUNNING) == "RUNNING"
