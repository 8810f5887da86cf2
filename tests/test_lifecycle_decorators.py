"""The DBManager decorators: same names and meanings, any stacking order."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dbkeeper.lifecycle import (
    DEFAULT_FAIL_VALUE,
    DBManager,
    MissingArgumentError,
    Version,
    VersionedDatabase,
    async_database_safe,
    async_during_init,
    async_required_argument,
    async_timed,
    fail_with_exception,
    with_fail_value,
)

T = TypeVar("T")
V1 = Version(1, 0, 0)


def async_test(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async test function with ``asyncio.run`` (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


class Base(VersionedDatabase):
    async def init_db(self) -> None:
        await self.db.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")

    async def migrate_db(self, current: Version, target: Version) -> bool:
        return True


class Ops(Base):
    @async_database_safe
    async def default_fail(self) -> Any:
        raise ValueError("boom")

    @async_database_safe
    @with_fail_value(None)
    async def none_fail(self) -> Any:
        raise ValueError("boom")

    @async_database_safe
    @with_fail_value([])
    async def list_fail(self) -> list[str]:
        raise ValueError("boom")

    @async_database_safe
    @fail_with_exception
    async def raising(self) -> Any:
        raise ValueError("boom")

    # The old DBManager's documented stack, and the same markers in other orders.
    @DBManager.async_database_safe
    @DBManager.async_during_init
    @DBManager.async_timed
    @DBManager.fail_with_exception
    async def documented_stack(self) -> Any:
        raise ValueError("boom")

    @fail_with_exception
    @async_timed
    @async_database_safe
    async def markers_above(self) -> Any:
        raise ValueError("boom")

    @with_fail_value("outer")
    @async_database_safe
    @async_timed
    async def fail_value_above(self) -> Any:
        raise ValueError("boom")

    @async_database_safe
    @async_required_argument(["key", "value"])
    @with_fail_value("missing")
    async def put(self, key: str | None = None, value: str | None = None) -> str:
        await self.db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key or "k", value))
        await self.db.commit()
        return "stored"

    @async_required_argument("key")
    @with_fail_value("missing above")
    @async_database_safe
    async def get(self, key: str | None = None) -> Any:
        rows = await self.db.execute_fetchall("SELECT value FROM kv WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    @async_required_argument(["key"])
    @fail_with_exception
    @async_database_safe
    async def get_strict(self, key: str | None = None) -> Any:
        return key


@async_test
async def test_an_exception_becomes_the_default_fail_value_false(tmp_path: Path) -> None:
    async with await Ops.create(data_path=tmp_path, version=V1) as db:
        assert DEFAULT_FAIL_VALUE is False
        assert await db.default_fail() is False


@async_test
async def test_with_fail_value_sets_what_a_failure_returns(tmp_path: Path) -> None:
    async with await Ops.create(data_path=tmp_path, version=V1) as db:
        assert await db.none_fail() is None
        first = await db.list_fail()
        assert first == []
        first.append("changed by the caller")
        assert await db.list_fail() == []  # each failure gets a fresh copy


@pytest.mark.parametrize("method", ["raising", "documented_stack", "markers_above"])
@async_test
async def test_fail_with_exception_re_raises_in_any_stacking_order(tmp_path: Path, method: str) -> None:
    async with await Ops.create(data_path=tmp_path, version=V1) as db:
        with pytest.raises(ValueError, match="boom"):
            await getattr(db, method)()


@async_test
async def test_with_fail_value_above_async_database_safe_still_applies(tmp_path: Path) -> None:
    async with await Ops.create(data_path=tmp_path, version=V1) as db:
        assert await db.fail_value_above() == "outer"


@async_test
async def test_failures_are_logged_with_the_method_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with await Ops.create(data_path=tmp_path, version=V1) as db:
        with caplog.at_level(logging.ERROR):
            await db.none_fail()
    assert "Ops.none_fail failed" in caplog.text
    assert "ValueError: boom" in caplog.text


@async_test
async def test_async_required_argument_accepts_any_one_by_keyword_or_position(tmp_path: Path) -> None:
    async with await Ops.create(data_path=tmp_path, version=V1) as db:
        assert await db.put(key="a") == "stored"
        assert await db.put(value="v") == "stored"
        assert await db.put("b", "w") == "stored"
        assert await db.get("b") == "w"
        assert await db.get(key="b") == "w"


@async_test
async def test_async_required_argument_fails_when_all_are_missing_or_none(tmp_path: Path) -> None:
    async with await Ops.create(data_path=tmp_path, version=V1) as db:
        assert await db.put() == "missing"  # below async_database_safe
        assert await db.put(key=None, value=None) == "missing"
        assert await db.get() == "missing above"  # above async_database_safe
        assert await db.get(None) == "missing above"
        with pytest.raises(MissingArgumentError, match="at least one of these arguments, not None: key"):
            await db.get_strict()
        with pytest.raises(KeyError):  # what the old DBManager raised
            await db.get_strict(key=None)
        assert await db.get_strict(key="x") == "x"


@async_test
async def test_async_required_argument_without_an_operation_raises() -> None:
    class Plain:
        @async_required_argument(["a", "b"])
        async def f(self, a: int | None = None, b: int | None = None) -> int:
            return 1

    assert await Plain().f(b=2) == 1
    with pytest.raises(MissingArgumentError):
        await Plain().f()


def test_async_required_argument_rejects_names_the_method_does_not_have() -> None:
    with pytest.raises(TypeError, match=r"names \['colour'\]"):
        class Broken(Base):
            @async_database_safe
            @async_required_argument(["colour"])
            async def paint(self, color: str | None = None) -> None:
                return None


def test_decorators_need_async_methods() -> None:
    with pytest.raises(TypeError, match="async def"):
        class Broken(Base):
            @async_database_safe  # type: ignore[arg-type]
            def sync(self) -> None:
                return None


@async_test
async def test_async_timed_logs_the_duration(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Timed(Base):
        @async_database_safe
        @async_timed
        async def quick(self) -> int:
            return 1

    async with await Timed.create(data_path=tmp_path, version=V1) as db:
        with caplog.at_level(logging.DEBUG, logger="dbkeeper.lifecycle"):
            assert await db.quick() == 1
    assert "Timed.quick finished in" in caplog.text


@async_test
async def test_async_during_init_methods_can_run_from_init_db(tmp_path: Path) -> None:
    class Seeded(Base):
        async def init_db(self) -> None:
            await super().init_db()
            await self.seed("a")

        @async_database_safe
        @async_during_init
        async def seed(self, key: str) -> None:
            await self.db.execute("INSERT INTO kv VALUES (?, 'seeded')", (key,))
            await self.db.commit()

        @async_database_safe
        async def count(self) -> int:
            rows = await self.db.execute_fetchall("SELECT count(*) FROM kv")
            return int(rows[0][0])

    async with await Seeded.create(data_path=tmp_path, version=V1) as db:
        assert await db.count() == 1
