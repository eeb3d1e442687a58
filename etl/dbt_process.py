"""The dbt child process that `etl.build.invoke_dbt` starts: dbt's own command line, made cheaper to run and to
leave.

- Python's cyclic garbage collector is off. dbt keeps its whole manifest (every node, macro and their configs) as
  live Python objects and each node run adds more, so the collector's passes walk an object graph that only
  grows. Measured on an incremental build of the whole project: about 1.8 s of CPU in gc (1,070 young, 97 middle
  and 7 full collections, the same at 146 objects and at 1,000,000), and it holds the GIL, so every dbt thread
  waits. The cycles a dbt command leaves behind cost memory instead (about 70 MB for a whole build).
- When dbt has finished, the DuckDB database is closed explicitly (which checkpoints it: its changes move from the
  write-ahead log into the file), then the process leaves with `os._exit`. Tearing down the interpreter, with
  dbt's objects and every imported module, took about a second more after the database was closed.
"""

from __future__ import annotations

import gc
import logging
import os
import sys


def main() -> None:
    gc.disable()
    from dbt.cli.main import cli

    sys.argv[0] = "dbt"
    try:
        cli()
        code: object = 0
    except SystemExit as finished:
        code = finished.code
    _leave(code)


def _leave(code: object) -> None:
    """Close DuckDB, flush what is buffered, then exit at once with dbt's exit status."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    # dbt-duckdb registers the same call with atexit, which os._exit skips. It drops the last reference to its
    # DuckDB environment, whose finaliser closes the database (refcounting frees it at once: nothing else holds it;
    # tests/dbt/test_build_publish.py checks that no write-ahead log is left). Were it still open, nothing would be
    # lost: DuckDB replays a write-ahead log on the next open.
    DuckDBConnectionManager.close_all_connections()
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
