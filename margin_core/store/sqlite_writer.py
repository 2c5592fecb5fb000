"""A large write into a SQLite store file by a child process: `python -m margin_core.store.sqlite_writer DB`.

ADBC's SQLite driver binds a whole Arrow table to a prepared statement in C (835,000 rolled-up events in
about 2 s, where sqlite3's `executemany` of Python tuples takes 5), but it links its own copy of SQLite, and
two copies in one process break each other's locks and -wal/-shm files (`sqlite_reader` says how). So the
writer is a child process: one more connection to the store, which SQLite's locks order against every
other writer (the SDK's processes included: the child waits for the lock like any of them).

The child runs the statements its parent sends and owns the transaction: the parent decides every
statement (the SQL is the in-process path's, from `events` and `repo`), the child only executes them.
Requests and replies are JSON lines on the child's stdin and stdout; bulk parameters and results are
Arrow IPC files in the parent's temporary folder, mapped without a copy. An error in the child is
replied as text and ends it; an ended child (an error, a kill, the parent gone) never commits: SQLite
drops the open transaction, so nothing of it is written.

The module imports only the standard library at the top: the child loads pyarrow and ADBC while its
parent starts and parses (`prestart`), and `db` takes the connection settings below from here.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin_core.errors import MarginError

if TYPE_CHECKING:
    import polars as pl
    import pyarrow
    from adbc_driver_manager import AdbcConnection
    from sqlalchemy import Engine

# From about 70,000 events (8 MB) an events CSV goes into a SQLite file through the child writer: it costs
# 0.3-0.5 s to start and saves seconds on large files. Smaller files, PostgreSQL and the SDK's batches are
# written in process.
LARGE_FILE_BYTES = 8_000_000
BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 262_144  # 256 MiB of page cache per connection: event_seen is a large B-tree of random keys
# Every connection to a store file, the parent's (`db`) and the child's: the busy timeout first, since
# switching to WAL waits for other processes too.
PRAGMAS = (
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA cache_size=-{CACHE_KIB}",
)


class StoreWriteError(MarginError):
    """A write by the child writer failed; nothing of its transaction was written."""


class ChildWriter:
    """The parent's side: one child connection to `database` and its temporary folder.

    `send` writes a request and returns at once, so the parent works while the child writes; `reply`
    waits for the answer of the oldest request not yet answered. Closing without `commit` rolls back.
    """

    def __init__(self, database: str) -> None:
        from margin_core.settings import REPO_ROOT

        self.database = database
        self.folder = Path(tempfile.mkdtemp(prefix="margin-write-"))
        self._files = 0
        self._pending = 0
        self._log = (self.folder / "stderr.txt").open("w+", encoding="utf-8")
        self._child = subprocess.Popen(
            [sys.executable, "-m", "margin_core.store.sqlite_writer", database],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=REPO_ROOT,
        )

    def __enter__(self) -> ChildWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, op: str, **fields: object) -> None:
        stdin = self._child.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps({"op": op, **fields}) + "\n")
            stdin.flush()
        except OSError:  # the child has ended: its reply (or its exit) says why
            pass
        self._pending += 1

    def reply(self) -> dict[str, Any]:
        """The answer to the oldest request sent; StoreWriteError when the child failed or ended."""
        stdout = self._child.stdout
        assert stdout is not None
        self._pending -= 1
        line = stdout.readline()
        if not line:
            raise StoreWriteError(f"writing the store {self.database} failed: {self._ended()}; nothing was written")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise StoreWriteError(f"writing the store {self.database} failed: {answer['error']}; nothing was written")
        return answer

    def call(self, op: str, **fields: object) -> dict[str, Any]:
        self.send(op, **fields)
        return self.reply()

    def execute(self, sql: str) -> list[list[Any]]:
        """Run one statement without parameters; its result rows (JSON values) if it has any."""
        rows: list[list[Any]] = self.call("execute", sql=sql)["rows"]
        return rows

    def send_many(self, sql: str, frame: pl.DataFrame) -> None:
        """Run `sql` once per row of `frame` (its columns are the parameters, in order); `reply()` gives
        {"changes": rows inserted or updated}."""
        self.send("executemany", sql=sql, file=self.write_frame(frame))

    def write_frame(self, frame: pl.DataFrame) -> str:
        self._files += 1
        path = self.folder / f"{self._files}.arrow"
        frame.write_ipc(path, compression="uncompressed")
        return str(path)

    def read_frame(self, sql: str) -> pl.DataFrame:
        """The rows of one statement (a `RETURNING` one too) as a frame, through an Arrow file."""
        import polars as pl

        self._files += 1
        path = self.folder / f"{self._files}.arrow"
        self.call("query", sql=sql, file=str(path))
        return pl.read_ipc(path).rechunk()  # in memory: the folder goes at close

    def commit(self) -> None:
        self.call("commit")

    def close(self) -> None:
        """End the child (rolling back what it did not commit) and remove the folder."""
        if self._child.stdin is not None:
            with contextlib.suppress(OSError):
                self._child.stdin.close()
        try:
            self._child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _ended(self) -> str:
        code = self._child.wait()
        self._log.seek(0)
        lines = [line for line in self._log.read().splitlines() if line.strip()]
        return lines[-1] if lines else f"the writer process ended (exit {code})"


def start(engine: Engine) -> ChildWriter | None:
    """A child writer for the engine's store (the one `prestart` started, if any), or None where writes stay
    in process (PostgreSQL, in memory)."""
    url = engine.url
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    resolved = str(Path(database).resolve())
    return _started.pop(resolved, None) or ChildWriter(resolved)


_started: dict[str, ChildWriter] = {}


def prestart(url: str, path: Path) -> None:
    """Start the child writer for a large import of `path` into the SQLite file of `url` now, so its imports
    run while the CLI's own load (a plain `sqlite:///FILE` URL; anything else is left to `start`). It only
    connects at its first request: the store may not exist yet."""
    prefix = "sqlite:///"
    database = url.removeprefix(prefix)
    if not url.startswith(prefix) or "?" in database or database in ("", ":memory:") or database.startswith("file:"):
        return
    try:
        if path.stat().st_size < LARGE_FILE_BYTES:
            return
    except OSError:
        return
    resolved = str(Path(database).resolve())
    if resolved not in _started:
        if not _started:
            atexit.register(_close_started)
        _started[resolved] = ChildWriter(resolved)


def _close_started() -> None:
    while _started:
        _started.popitem()[1].close()


def main(argv: list[str]) -> int:
    """Run each request of stdin on one connection to the store; reply on stdout (see the docstring)."""
    import adbc_driver_manager
    import adbc_driver_sqlite  # the driver's own API: its DB-API module loads pyarrow.dataset (0.5 s more)
    import pyarrow.ipc  # noqa: F401  (loaded now, while the parent parses)

    first = sys.stdin.readline()  # connect at the first request: the parent may create the store meanwhile
    if not first:
        return 0
    with (
        adbc_driver_sqlite.connect(argv[0]) as database,
        adbc_driver_manager.AdbcConnection(database) as connection,  # autocommit: the requests say BEGIN
    ):
        for pragma in PRAGMAS:
            _query(connection, pragma)
        writing = False
        try:
            for line in itertools.chain([first], sys.stdin):
                request = json.loads(line)
                try:
                    answer = _run(connection, request)
                except Exception as exc:  # replied to the parent, which raises it in its own words
                    _answer({"error": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})
                    return 1
                writing = request["op"] not in ("commit", "rollback") and (writing or request["op"] == "begin")
                _answer(answer)
        finally:
            if writing:  # ended before its commit: nothing is written (closing would roll back too)
                with contextlib.suppress(Exception):  # SQLite rolled it back already (some errors do)
                    _query(connection, "ROLLBACK")
    return 0


def _run(connection: AdbcConnection, request: dict[str, Any]) -> dict[str, Any]:
    op = request["op"]
    if op == "begin":  # the write lock now, waiting out the busy timeout like every writer (`db.begin_write`)
        _query(connection, "BEGIN IMMEDIATE")
    elif op in ("commit", "rollback"):
        _query(connection, op.upper())
    elif op == "execute":  # parameters come as a file (`send_many`): Arrow from Python values loads pandas
        result = _query(connection, request["sql"])
        return {"rows": [list(row) for row in zip(*(c.to_pylist() for c in result.columns), strict=True)]}
    elif op == "executemany":
        return {"changes": _executemany(connection, request["sql"], _table(request["file"]))}
    elif op == "query":
        import pyarrow.ipc

        result = _query(connection, request["sql"])
        with pyarrow.ipc.new_file(request["file"], result.schema) as out:
            out.write_table(result)
    else:
        raise ValueError(f"unknown request {op!r}")
    return {}


def _query(connection: AdbcConnection, sql: str, parameters: pyarrow.Table | None = None) -> pyarrow.Table:
    """Run one statement, each row of `parameters` bound in turn (in C); its result rows."""
    import adbc_driver_manager
    import pyarrow

    with adbc_driver_manager.AdbcStatement(connection) as statement:
        statement.set_sql_query(sql)
        if parameters is not None:
            statement.bind_stream(parameters)
        stream, _ = statement.execute_query()
        return pyarrow.RecordBatchReader.from_stream(stream).read_all()


def _executemany(connection: AdbcConnection, sql: str, table: pyarrow.Table) -> int:
    """Bind the table's rows to `sql`; the count of rows it inserted or updated."""
    before = _total_changes(connection)
    if table.num_rows:
        _query(connection, sql, table)
    return _total_changes(connection) - before


def _total_changes(connection: AdbcConnection) -> int:
    return int(_query(connection, "SELECT total_changes()").column(0)[0].as_py())


def _table(path: str) -> pyarrow.Table:
    import pyarrow
    import pyarrow.ipc

    return pyarrow.ipc.open_file(pyarrow.memory_map(path)).read_all()


def _answer(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # its connection is closed and its replies sent: no interpreter teardown (0.2 s of pyarrow)
