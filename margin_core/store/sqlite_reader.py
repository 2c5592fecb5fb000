"""Bulk reads of a SQLite store in a child process: `python -m margin_core.store.sqlite_reader DB OUT`.

ADBC's SQLite driver links its own copy of SQLite. Two copies in one process do not share their locks,
and when ADBC's last connection closes it deletes the -wal/-shm files that the process's sqlite3
connections still use: their later writes vanish from ADBC's view. A child process is just one more
reader, which WAL handles. It reads every query of a JSON list on stdin ([name, sql] pairs) into Arrow
IPC files under OUT; the parent maps them into polars without a copy.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Read each [name, sql] of stdin into OUT/name.arrow."""
    import adbc_driver_sqlite.dbapi
    import pyarrow.feather

    database, out = argv[0], Path(argv[1])
    queries = json.loads(sys.stdin.read())
    with adbc_driver_sqlite.dbapi.connect(database) as connection, connection.cursor() as cursor:
        for name, sql in queries:
            cursor.execute(sql)
            table = cursor.fetch_arrow_table()
            pyarrow.feather.write_feather(table, str(out / f"{name}.arrow"), compression="uncompressed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
