"""One writer at a time on the working warehouse file.

DuckDB lets one process open a file read-write. Ingest and build both write `warehouse.duckdb`, so they take this
lock first: a second writer either waits (up to `wait_s`) or stops with one clear line instead of a lock error from
deep inside DuckDB. The lock is a kernel `flock`, so a process killed with -9 releases it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from etl.config import WarehousePaths
from etl.errors import WarehouseBusyError


@contextmanager
def writer_lock(paths: WarehousePaths, wait_s: float = 0.0, purpose: str = "write") -> Iterator[None]:
    paths.ensure()
    lock = FileLock(str(paths.lock_file))
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        raise WarehouseBusyError(
            f"another ingest or build is writing {paths.warehouse_db}; wait for it to finish "
            f"(or pass --wait SECONDS) and run {purpose} again"
        ) from None
    try:
        yield
    finally:
        lock.release()
