"""``dbkeeper demo``: a real, end-to-end run of every capability dbkeeper has so far.

The demo is the project's showcase and a smoke test in one: it builds a real
SQLite database in a directory (a temporary one unless ``--dir`` is given),
exercises each capability on it and checks the results as it goes, so a
broken capability makes the demo fail (exit 1) instead of printing nonsense.

It is an ordered list of :class:`Step` objects (:data:`STEPS`). Each step is a
plain function taking a :class:`DemoContext` - the directory, the database
URL, the :class:`~dbkeeper.engine.manager.DatabaseManager`, an output callable and a
``facts`` dict that steps use to hand results to later steps. A capability
that lands later (migrations, backups, schema, monitoring, lifecycle) adds
its own step function and inserts it into :data:`STEPS` where it belongs.

The module does not depend on rich: output goes through the callables the
caller passes (``print`` by default; the CLI passes rich-backed ones when
stdout is a terminal).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dbkeeper.engine.manager import DatabaseManager
from dbkeeper.errors import ConfigurationError, DbKeeperError, IntegrityError, QueryError
from dbkeeper.urls import DatabaseURL

if TYPE_CHECKING:
    from dbkeeper.config import Config
    from dbkeeper.engine.connection import DatabaseConnection

__all__ = [
    "CONFIG_FILE", "CUSTOMERS", "DATABASE_FILE", "ORDERS", "STEPS",
    "DemoContext", "DemoError", "DemoReporter", "DemoResult", "PlainReporter", "Step", "StepTiming",
    "format_table", "run_demo",
]

#: Name of the SQLite file the demo creates in its directory.
DATABASE_FILE = "dbkeeper-demo.db"
#: Name of the config file the demo writes next to it (named connections).
CONFIG_FILE = "dbkeeper.toml"
#: Rows the bulk-insert step loads.
CUSTOMERS = 1_000
ORDERS = 10_000
#: Status of the order the transaction step commits, and of the one its savepoint rolls back.
COMMITTED_STATUS = "demo-committed"
ROLLED_BACK_STATUS = "demo-rolled-back"

_SEED = 1_729
_FIRST_NAMES = ("Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "John", "Ken",
                "Leslie", "Margaret", "Niklaus", "Radia", "Tony", "Whitfield")
_LAST_NAMES = ("Allen", "Dijkstra", "Hamilton", "Hoare", "Hopper", "Knuth", "Lamport", "Liskov", "Lovelace",
               "McCarthy", "Perlman", "Ritchie", "Shannon", "Thompson", "Turing", "Wirth")
_COUNTRIES = ("BR", "DE", "FR", "GB", "IN", "JP", "NL", "SE", "US")
_STATUSES = ("paid", "shipped", "delivered", "refunded")

#: Where a step's text goes: one line per call.
Output = Callable[[str], None]
#: How a step's table is shown: ``(title, headers, rows)``.
TableRenderer = Callable[[str, Sequence[str], Sequence[Sequence[Any]]], None]


class DemoError(DbKeeperError):
    """A demo step failed or found a wrong result; ``__cause__`` holds the original error."""


@dataclass
class DemoContext:
    """What every step gets: where it runs, the database, the manager and the output.

    ``facts`` carries results from one step to later ones (the parsed config,
    row counts); a step reads only the facts of steps listed before it.
    """

    directory: Path
    url: DatabaseURL
    manager: DatabaseManager
    output: Output
    render_table: TableRenderer | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def connection(self) -> DatabaseConnection:
        """The manager's current connection (opened by the connect step)."""
        return self.manager.get_connection()

    def say(self, text: str = "") -> None:
        """Print one line of the current step's output."""
        self.output(f"  {text}" if text else "")

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Show a small table through ``render_table``, or as aligned plain text."""
        if self.render_table is not None:
            self.render_table(title, headers, rows)
            return
        if title:
            self.say(title)
        for line in format_table(headers, rows):
            self.say(f"  {line}")

    def count(self, table: str) -> int:
        """Rows in ``table`` of the demo database."""
        quoted = self.connection.dialect.qualify(table)
        return int(self.connection.execute(f"SELECT COUNT(*) FROM {quoted}").scalar() or 0)

    def check(self, condition: bool, message: str) -> None:
        """Fail the step with ``message`` unless ``condition`` holds (the demo verifies as it shows)."""
        if not condition:
            raise DemoError(message)


@dataclass(frozen=True)
class Step:
    """One demo step: a title and the function that runs it."""

    title: str
    run: Callable[[DemoContext], None]


class DemoReporter(Protocol):
    """Receives the start, end or failure of each step (the CLI draws headers and timings)."""

    def step_started(self, index: int, total: int, title: str) -> None:
        """Step ``index`` (1-based) of ``total`` is about to run."""

    def step_finished(self, index: int, total: int, title: str, seconds: float) -> None:
        """The step ran to the end in ``seconds``."""

    def step_failed(self, index: int, total: int, title: str, error: BaseException) -> None:
        """The step raised ``error``; the demo stops after this."""


class PlainReporter:
    """Step headers and timings as plain text lines through an output callable."""

    def __init__(self, output: Output) -> None:
        self.output = output

    def step_started(self, index: int, total: int, title: str) -> None:
        """Print ``[i/n] title``."""
        self.output(f"[{index}/{total}] {title}")

    def step_finished(self, index: int, total: int, title: str, seconds: float) -> None:
        """Print the step's duration."""
        self.output(f"  ok ({seconds * 1000:.1f} ms)")
        self.output("")

    def step_failed(self, index: int, total: int, title: str, error: BaseException) -> None:
        """Print the error that stopped the demo."""
        self.output(f"  FAILED: {error}")


@dataclass(frozen=True)
class StepTiming:
    """How long one step took."""

    title: str
    seconds: float


@dataclass
class DemoResult:
    """What a finished demo did: where, which steps, how long, and the final row counts."""

    directory: Path
    database: Path
    kept: bool
    steps: list[StepTiming]
    row_counts: dict[str, int]
    seconds: float


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Lay out ``rows`` under ``headers`` as aligned text lines (numbers right-aligned)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    numeric = [bool(rows) and all(isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in rows)
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return [line(list(headers)), "  ".join("-" * w for w in widths), *(line(row) for row in cells)]


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


# -- the steps ---------------------------------------------------------------------------------------------------


def step_configuration(ctx: DemoContext) -> None:
    """Write dbkeeper.toml with named connections and resolve them; passwords stay masked."""
    from dbkeeper.config import load_config, resolve_database

    path = ctx.directory / CONFIG_FILE
    path.write_text(
        "# Written by `dbkeeper demo`: named connections for --db NAME.\n"
        'default = "demo"\n\n'
        "[connections.demo]\n"
        f'url = "{ctx.url.render()}"\n'
        "pool_size = 4\n\n"
        "[connections.warehouse]\n"
        "# The password comes from the environment, never from this file\n"
        "# (empty when the variable is unset, so the file loads anywhere).\n"
        'url = "postgresql://report:${DEMO_WAREHOUSE_PASSWORD:-}@warehouse.internal:5432/sales"\n',
        encoding="utf-8",
    )
    secret = "s3cr3t-from-env"
    config = load_config(path, environ={"DEMO_WAREHOUSE_PASSWORD": secret})
    ctx.facts["config"] = config
    ctx.say(f"wrote {path}")
    rows = []
    for name in sorted(config.connections):
        _, url, options = resolve_database(name, config=config)
        rows.append([name, url.render(), ", ".join(f"{k}={v}" for k, v in options.items()) or "-"])
    ctx.table("named connections (--db NAME):", ["name", "url", "pool options"], rows)
    warehouse = config.get("warehouse")
    shown = f"{warehouse!r} {warehouse.url!r} {warehouse.url.render()}"
    ctx.check(secret not in shown, "a password leaked into a rendered URL")
    ctx.check(warehouse.url.password == secret, "${DEMO_WAREHOUSE_PASSWORD} was not interpolated")
    ctx.say("${DEMO_WAREHOUSE_PASSWORD} was interpolated from the environment; every rendering masks it as ***")


def step_connect(ctx: DemoContext) -> None:
    """Open a pooled connection through the named connection ``demo``."""
    from dbkeeper.config import resolve_database

    config: Config | None = ctx.facts.get("config")
    if config is not None:
        name, url, options = resolve_database("demo", config=config)
    else:
        name, url, options = "demo", ctx.url, {"pool_size": 4}
    connection = ctx.manager.connect(url, name=name, **options)
    info = connection.get_database_info()
    ctx.say(f"connected {info['name']!r}: {info['url']}")
    ctx.say(f"dialect {info['dialect']}, SQLite {info['server_version']}, pool {connection.pool_status()}")


def step_create_tables(ctx: DemoContext) -> None:
    """Create customers and orders (with a foreign key and an index); drop them first on a re-run."""
    statements = [
        "DROP TABLE IF EXISTS orders",
        "DROP TABLE IF EXISTS customers",
        """CREATE TABLE customers (
               id         INTEGER PRIMARY KEY,
               name       TEXT NOT NULL,
               email      TEXT NOT NULL UNIQUE,
               country    TEXT NOT NULL,
               created_at TEXT NOT NULL
           )""",
        """CREATE TABLE orders (
               id          INTEGER PRIMARY KEY AUTOINCREMENT,
               customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
               amount      REAL NOT NULL CHECK (amount > 0),
               status      TEXT NOT NULL,
               created_at  TEXT NOT NULL
           )""",
        "CREATE INDEX idx_orders_customer ON orders (customer_id)",
    ]
    with ctx.connection.transaction() as tx:
        for statement in statements:
            tx.execute(statement)
    tables = ctx.manager.get_tables()
    ctx.check({"customers", "orders"} <= set(tables), f"tables missing after CREATE: {tables}")
    ctx.say(f"tables: {', '.join(tables)}")


def step_bulk_insert(ctx: DemoContext) -> None:
    """Load customers (dict rows) and orders (tuple rows) with bulk_insert; report rows per second."""
    rng = random.Random(_SEED)
    customers = [
        {
            "id": i,
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}.{i}@example.com",
            "country": rng.choice(_COUNTRIES),
            "created_at": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        }
        for i in range(1, CUSTOMERS + 1)
        for first, last in [(rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES))]
    ]
    orders = [
        (rng.randint(1, CUSTOMERS), round(rng.uniform(5, 500), 2), rng.choice(_STATUSES),
         f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        for _ in range(ORDERS)
    ]
    start = time.perf_counter()
    inserted_customers = ctx.manager.bulk_insert("customers", customers)
    middle = time.perf_counter()
    inserted_orders = ctx.manager.bulk_insert("orders", orders, columns=["customer_id", "amount", "status",
                                                                         "created_at"])
    end = time.perf_counter()
    ctx.check(inserted_customers == CUSTOMERS, f"bulk_insert reported {inserted_customers} customers")
    ctx.check(inserted_orders == ORDERS, f"bulk_insert reported {inserted_orders} orders")
    ctx.check(ctx.count("orders") == ORDERS, "orders table does not hold what bulk_insert reported")
    ctx.table("", ["table", "rows", "ms", "rows/s"], [
        ["customers", inserted_customers, (middle - start) * 1000, round(inserted_customers / (middle - start))],
        ["orders", inserted_orders, (end - middle) * 1000, round(inserted_orders / (end - middle))],
    ])


def step_parameterised_queries(ctx: DemoContext) -> None:
    """Query with ? and :name placeholders (values are bound by the driver, never formatted into SQL)."""
    by_status = ctx.manager.execute(
        "SELECT status, COUNT(*) AS orders, ROUND(SUM(amount), 2) AS revenue FROM orders "
        "WHERE amount >= ? GROUP BY status ORDER BY status", [10]
    )
    ctx.table("orders of at least 10 by status (? placeholder):", by_status.columns, by_status.tuples())
    country = "DE"
    top = ctx.manager.execute(
        """SELECT c.id, c.name, c.country, COUNT(o.id) AS orders, ROUND(SUM(o.amount), 2) AS revenue
           FROM customers c JOIN orders o ON o.customer_id = c.id
           WHERE c.country = :country
           GROUP BY c.id ORDER BY revenue DESC, c.id LIMIT :limit""",
        {"country": country, "limit": 5},
    )
    ctx.check(top.row_count == 5, f"expected 5 top customers, got {top.row_count}")
    ctx.table(f"top customers in {country} (:country, :limit placeholders), {top.execution_time * 1000:.2f} ms:",
              top.columns, top.tuples())
    hostile = "x' OR '1'='1"
    matched = ctx.manager.execute("SELECT COUNT(*) FROM customers WHERE name = ?", [hostile]).scalar()
    ctx.check(matched == 0, "a bound parameter was interpreted as SQL")
    ctx.say(f"binding {hostile!r} matched {matched} rows: parameters are data, not SQL")


class _RollbackSavepoint(Exception):
    """Raised inside the demo's savepoint to roll it back."""


def step_transactions(ctx: DemoContext) -> None:
    """A transaction commits one order; a nested savepoint inserts another and rolls back."""
    insert = "INSERT INTO orders (customer_id, amount, status, created_at) VALUES (?, ?, ?, ?)"
    before = ctx.count("orders")
    with ctx.connection.transaction() as tx:
        tx.execute(insert, [1, 42.0, COMMITTED_STATUS, "2026-06-01"])
        try:
            with ctx.connection.transaction() as savepoint:
                savepoint.execute(insert, [2, 13.0, ROLLED_BACK_STATUS, "2026-06-01"])
                inside = int(savepoint.execute("SELECT COUNT(*) FROM orders").scalar())
                ctx.say(f"inside the savepoint (depth {savepoint.depth}): {inside} orders")
                raise _RollbackSavepoint
        except _RollbackSavepoint:
            pass
        after_rollback = int(tx.execute("SELECT COUNT(*) FROM orders").scalar())
        ctx.say(f"after ROLLBACK TO SAVEPOINT: {after_rollback} orders")
    after = ctx.count("orders")
    ctx.say(f"after COMMIT: {before} -> {after} orders (one kept, the savepoint's rolled back)")
    kept = ctx.manager.execute("SELECT COUNT(*) FROM orders WHERE status = ?", [COMMITTED_STATUS]).scalar()
    lost = ctx.manager.execute("SELECT COUNT(*) FROM orders WHERE status = ?", [ROLLED_BACK_STATUS]).scalar()
    ctx.check(inside == before + 2 and after_rollback == before + 1 and after == before + 1,
              f"transaction counts are wrong: {before}, {inside}, {after_rollback}, {after}")
    ctx.check(kept == 1 and lost == 0, "the committed order or the rolled-back one is not where it should be")


def step_errors(ctx: DemoContext) -> None:
    """Failures are typed: a foreign-key violation rolls its transaction back; bad SQL is a QueryError."""
    before = ctx.count("orders")
    missing_customer = CUSTOMERS + 1_000
    try:
        with ctx.connection.transaction() as tx:
            tx.execute("INSERT INTO orders (customer_id, amount, status, created_at) VALUES (?, ?, 'paid', ?)",
                       [missing_customer, 9.99, "2026-06-02"])
    except IntegrityError as exc:
        ctx.say(f"IntegrityError (code {exc.sqlstate}): {exc}")
    else:
        raise DemoError(f"an order for missing customer {missing_customer} was accepted")
    ctx.check(ctx.count("orders") == before, "the failed transaction left rows behind")
    ctx.say(f"the transaction was rolled back: still {before} orders")
    try:
        ctx.manager.execute("SELECT nonexistent_column FROM orders")
    except QueryError as exc:
        ctx.say(f"QueryError: {exc}")
    else:
        raise DemoError("a statement with an unknown column succeeded")


def step_introspection(ctx: DemoContext) -> None:
    """get_tables and get_table_info: columns, primary key, indexes, foreign keys and row count."""
    tables = ctx.manager.get_tables()
    ctx.say(f"get_tables(): {tables}")
    info = ctx.manager.describe_table("orders")
    ctx.table(f"describe_table('orders'): {info['row_count']} rows, primary key {info['primary_key']}",
              ["column", "type", "nullable", "primary key"],
              [[c["name"], c["type"], c["nullable"], c["primary_key"]] for c in info["columns"]])
    for index in info["indexes"]:
        ctx.say(f"index {index['name']} on ({', '.join(index['columns'])}), unique={index['unique']}")
    for key in info["foreign_keys"]:
        action = f" on delete {key['on_delete']}" if key["on_delete"] else ""
        ctx.say(f"foreign key ({', '.join(key['columns'])}) -> {key['referred_table']}"
                f"({', '.join(key['referred_columns'])}){action}")
    ctx.check(info["row_count"] == ctx.count("orders"), "get_table_info row count disagrees with COUNT(*)")
    ctx.check(any(k["referred_table"] == "customers" for k in info["foreign_keys"]), "foreign key not reported")


def step_explain(ctx: DemoContext) -> None:
    """The query plan shows the index on orders(customer_id) at work."""
    plan = ctx.connection.explain("SELECT * FROM orders WHERE customer_id = ?", [42])
    ctx.say(f"EXPLAIN SELECT * FROM orders WHERE customer_id = ?  ({plan.dialect})")
    for line in plan.text.splitlines():
        ctx.say(f"  {line}")
    ctx.check("idx_orders_customer" in plan.text, f"the plan does not use the index: {plan.text!r}")


def step_concurrent_reads(ctx: DemoContext) -> None:
    """Eight threads share the connection pool for 2,000 indexed lookups."""
    threads, per_thread = 8, 250
    query = "SELECT COUNT(*) AS n, SUM(amount) AS total FROM orders WHERE customer_id = ?"
    barrier = threading.Barrier(threads)
    answered: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        try:
            barrier.wait()
            rows = sum(ctx.manager.execute(query, [(offset * per_thread + i) % CUSTOMERS + 1]).row_count
                       for i in range(per_thread))
        except Exception as exc:  # reported by the main thread below
            with lock:
                failures.append(exc)
            return
        with lock:
            answered.append(rows)

    workers = [threading.Thread(target=worker, args=(n,), name=f"dbkeeper-demo-{n}") for n in range(threads)]
    start = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise failures[0]
    total = sum(answered)
    ctx.check(total == threads * per_thread, f"expected {threads * per_thread} results, got {total}")
    ctx.say(f"{total:,} queries from {len(answered)} threads at once in {elapsed * 1000:.0f} ms "
            f"({total / elapsed:,.0f} queries/s)")
    ctx.say(f"pool after the run: {ctx.connection.pool_status()}")


def step_async(ctx: DemoContext) -> None:
    """The dialect's native asyncio connection (aiosqlite) reads the same file."""
    import asyncio

    dialect = ctx.connection.dialect
    if not dialect.capabilities.asyncio:
        ctx.say(f"dialect {dialect.name} has no asyncio driver; skipped")
        return

    async def count_orders() -> int:
        conn = await dialect.connect_async(ctx.connection.url)
        try:
            cursor = await conn.execute("SELECT COUNT(*) FROM orders")
            row = await cursor.fetchone()
            await cursor.close()
            return int(row[0])
        finally:
            await conn.close()

    counted = asyncio.run(count_orders())
    ctx.check(counted == ctx.count("orders"), "the async connection sees a different row count")
    ctx.say(f"await connect_async(...): {counted:,} orders")


def step_health(ctx: DemoContext) -> None:
    """health_check: status, round-trip latency and server version."""
    report = ctx.connection.health_check()
    ctx.say(f"status {report['status']}, latency {report['latency_ms']} ms, SQLite {report['server_version']}")
    ctx.check(report["status"] == "healthy", f"health check failed: {report['error']}")


def step_plugins(ctx: DemoContext) -> None:
    """Installed plugins, the dialects they register and the hooks they implement."""
    from dbkeeper.engine.plugins import get_registry

    infos = get_registry().plugins()
    ctx.table("", ["plugin", "version", "status", "dialects", "hooks"], [
        [i.name, i.version or "-", i.status,
         ", ".join(f"{d['name']} ({'/'.join(d['schemes'])})" for d in i.dialects) or "-",
         ", ".join(h.removeprefix("dbkeeper_") for h in i.hooks) or "-"]
        for i in infos
    ])
    ctx.check(any(i.status == "loaded" and any(d["name"] == ctx.connection.dialect.name for d in i.dialects)
                  for i in infos), "the dialect in use is not listed by a loaded plugin")


def step_statistics(ctx: DemoContext) -> None:
    """get_database_stats: statements, errors and time per connection, and the pool."""
    stats = ctx.manager.get_database_stats()
    ctx.say(f"{stats['queries_executed']:,} statements, {stats['errors']} errors, "
            f"{stats['total_time_ms']:,.1f} ms in the database, {stats['average_time_ms']:.3f} ms on average")
    for name, per in stats["per_connection"].items():
        pool = per["pool"]
        ctx.say(f"{name}: pool size {pool.get('size')}, checked in {pool.get('checkedin')}, "
                f"checked out {pool.get('checkedout')}, overflow {pool.get('overflow')}")
    ctx.check(stats["queries_executed"] > 0, "no statements were recorded")


def step_crud(ctx: DemoContext) -> None:
    """CRUD helpers (insert, get, select, update, upsert, delete) and the opt-in read cache."""
    from dbkeeper.demo.crud import run_crud_demo

    ctx.facts.update(run_crud_demo(ctx.manager, ctx.say))


def step_versioned_lifecycle(ctx: DemoContext) -> None:
    """An embedded versioned database (dbkeeper.lifecycle): create at 1.0.0, upgrade to 1.1.0."""
    import asyncio
    import shutil

    from dbkeeper.demo.lifecycle import run_lifecycle_demo

    where = ctx.directory / "lifecycle"
    shutil.rmtree(where, ignore_errors=True)  # a re-run in a kept --dir starts the story from 1.0.0 again
    asyncio.run(run_lifecycle_demo(where, ctx.say))


def step_migrations(ctx: DemoContext) -> None:
    """Migrations: dry run, apply under the lock, drift refused, a failure leaves no trace, down and up again."""
    import shutil

    from dbkeeper.demo.migrations import HISTORY, TABLES, run_migrations_demo

    # A re-run in a kept --dir starts from an unmigrated database again.
    shutil.rmtree(ctx.directory / "migrations", ignore_errors=True)
    for table in (HISTORY, *TABLES):
        ctx.manager.execute(f"DROP TABLE IF EXISTS {ctx.connection.dialect.quote_identifier(table)}")
    run_migrations_demo(ctx.directory, ctx.url.render(hide_password=False), ctx.say)


def step_schema(ctx: DemoContext) -> None:
    """Schemas: tables from a definition, a diff against a changed one, the generated migration, an empty re-diff."""
    from dbkeeper.demo.schema import run_schema_demo

    run_schema_demo(ctx.directory, ctx.url.render(hide_password=False), ctx.say)


def step_backup(ctx: DemoContext) -> None:
    """Backups: a zstd archive of the demo database, verified in three tiers, restored into a new file."""
    from dbkeeper.demo.backup import run_backup_demo

    run_backup_demo(ctx.directory, ctx.url.render(hide_password=False), ctx.say)


def step_backup_chains(ctx: DemoContext) -> None:
    """Backup chains: incremental and differential backups, each restored and compared; delete and prune keep
    chains whole; a pinned backup survives prune; an encrypted chain is re-keyed."""
    from dbkeeper.demo.backup import run_chain_demo

    run_chain_demo(ctx.directory, ctx.say)


def step_restores(ctx: DemoContext) -> None:
    """Restores: a non-empty target is refused, --replace swaps it, a killed restore's leftovers are removed."""
    from dbkeeper.demo.backup import run_restore_demo

    run_restore_demo(ctx.directory, ctx.url.render(hide_password=False), ctx.say)


def step_monitoring(ctx: DemoContext) -> None:
    """Monitoring: record a workload, let optimize find the missing index, apply its fix, show the plan change."""
    from dbkeeper.demo.monitoring import run_monitoring_demo

    run_monitoring_demo(ctx.directory, ctx.url.render(hide_password=False), ctx.say)


def step_summary(ctx: DemoContext) -> None:
    """Row counts and the database file."""
    counts = {table: ctx.count(table) for table in ctx.manager.get_tables()}
    ctx.facts["row_counts"] = counts
    database = Path(ctx.url.database or "")
    size = sum(p.stat().st_size for p in database.parent.glob(f"{database.name}*") if p.is_file())
    ctx.table("", ["table", "rows"], sorted(counts.items()))
    ctx.say(f"database: {database} ({size / 1024:,.0f} KiB with its WAL files)")


#: The demo, in order. A new capability adds its step here.
STEPS: list[Step] = [
    Step("Named connections from dbkeeper.toml", step_configuration),
    Step("Connect (pooled)", step_connect),
    Step("Create tables", step_create_tables),
    Step("Bulk insert", step_bulk_insert),
    Step("Parameterised queries", step_parameterised_queries),
    Step("Transactions and savepoints", step_transactions),
    Step("Typed errors", step_errors),
    Step("CRUD helpers and the read cache", step_crud),
    Step("Introspection", step_introspection),
    Step("Query plan (explain)", step_explain),
    Step("Concurrent reads through the pool", step_concurrent_reads),
    Step("Async connection", step_async),
    Step("Migrations (up, status, drift, failure, down)", step_migrations),
    Step("Schema: define, diff, migrate, re-diff", step_schema),
    Step("Backup, verify and restore", step_backup),
    Step("Backup chains: incremental, differential, prune, pin, rekey", step_backup_chains),
    Step("Restores: refusal, --replace, a killed restore's leftovers", step_restores),
    Step("Monitoring and optimisation (find a missing index)", step_monitoring),
    Step("Versioned lifecycle (async, upgrade 1.0.0 -> 1.1.0)", step_versioned_lifecycle),
    Step("Health check", step_health),
    Step("Plugins", step_plugins),
    Step("Statistics", step_statistics),
    Step("Summary", step_summary),
]


def run_demo(directory: str | Path | None = None, *, output: Output = print,
             render_table: TableRenderer | None = None, reporter: DemoReporter | None = None,
             steps: Sequence[Step] | None = None) -> DemoResult:
    """Run the demo steps in ``directory`` (kept) or in a temporary directory (removed afterwards).

    Raises :class:`DemoError` naming the step that failed; the steps after it
    do not run. Connections are closed and a temporary directory is removed
    whatever happens, Ctrl-C included.
    """
    plan = list(STEPS if steps is None else steps)
    kept = directory is not None
    if directory is None:
        workdir = Path(tempfile.mkdtemp(prefix="dbkeeper-demo-"))
    else:
        workdir = Path(directory).expanduser()
        try:
            workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"cannot use {workdir} as the demo directory: {exc}") from None
    workdir = workdir.resolve()
    database = workdir / DATABASE_FILE
    url = DatabaseURL(scheme="sqlite", database=str(database))
    manager = DatabaseManager()
    ctx = DemoContext(directory=workdir, url=url, manager=manager, output=output, render_table=render_table)
    report = reporter if reporter is not None else PlainReporter(output)
    timings: list[StepTiming] = []
    started = time.perf_counter()
    try:
        output(f"dbkeeper demo in {workdir}" + ("" if kept else " (temporary, removed at the end)"))
        output("")
        for index, step in enumerate(plan, start=1):
            report.step_started(index, len(plan), step.title)
            step_start = time.perf_counter()
            try:
                step.run(ctx)
            except Exception as exc:
                report.step_failed(index, len(plan), step.title, exc)
                raise DemoError(f"demo step {index}/{len(plan)} ({step.title}) failed: {exc}") from exc
            seconds = time.perf_counter() - step_start
            timings.append(StepTiming(step.title, seconds))
            report.step_finished(index, len(plan), step.title, seconds)
        total = time.perf_counter() - started
        output(f"demo finished: {len(plan)} steps in {total:.2f} s"
               + (f"; the database is kept at {database}" if kept else "; removing the temporary directory"))
        return DemoResult(directory=workdir, database=database, kept=kept, steps=timings,
                          row_counts=dict(ctx.facts.get("row_counts", {})), seconds=total)
    finally:
        manager.disconnect_all()
        if not kept:
            shutil.rmtree(workdir, ignore_errors=True)
