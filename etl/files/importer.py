"""`tekton-warehouse import`: load exported files into the raw layer, under the single-writer lock.

Files have no watermark: importing the same file again finds every object unchanged, and a killed import is simply
run again. Whole-file problems (not JSON, broken YAML document) land in `raw.rejects`, never as a traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from etl.config import IngestSettings, WarehousePaths
from etl.errors import SourceError
from etl.files.reader import FileSource
from etl.locking import writer_lock
from etl.warehouse.load import LoadCounts, load_pages, record_rejects
from etl.warehouse.schema import open_warehouse


@dataclass
class ImportReport:
    files: int = 0
    counts: LoadCounts = field(default_factory=LoadCounts)

    def summary(self) -> str:
        return self.counts.summary()


def import_files(
    paths: WarehousePaths,
    files: Sequence[Path],
    *,
    cluster: str = "default",
    settings: IngestSettings | None = None,
    progress: ProgressBar | None = None,
    wait_s: float = 0.0,
) -> ImportReport:
    """Load every object in `files` as source `file`. Missing paths stop the import before anything is written."""
    settings = settings or IngestSettings()
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise SourceError(
            f"no such file: {', '.join(missing)}; pass paths to exported JSON, YAML or NDJSON files"
        )
    report = ImportReport()
    with writer_lock(paths, wait_s, purpose="import"), open_warehouse(paths) as con:
        for path in files:
            source = FileSource(Path(path), chunk_rows=settings.batch_size)
            on_batch = progress.for_file(source, report.counts) if progress else None
            counts = load_pages(
                con, source.pages(), cluster=cluster, source="file", settings=settings, on_batch=on_batch
            )
            rejected = record_rejects(
                con,
                ((r.source_ref, r.reason, r.payload) for r in source.rejects),
                cluster=cluster,
                source="file",
            )
            counts.fetched += rejected
            counts.rejected += rejected
            report.counts.add(counts)
            report.files += 1
    if progress:
        progress.done()
    return report


class ProgressBar:
    """A one-line progress display on stderr (bytes of the current file, objects so far), redrawn per batch."""

    def __init__(self, stream: TextIO = sys.stderr, redraw: bool | None = None):
        self.stream = stream
        self.redraw = stream.isatty() if redraw is None else redraw
        self.started = time.monotonic()

    def for_file(self, source: FileSource, before: LoadCounts) -> Callable[[LoadCounts], None]:
        def show(counts: LoadCounts) -> None:
            share = f"{100 * source.bytes_read / source.size:5.1f}%" if source.size else "  ?  "
            objects = before.fetched + counts.fetched
            rate = objects / max(time.monotonic() - self.started, 1e-6)
            line = f"{source.name}: {share}  {objects} objects  {rate:,.0f}/s  rejected {before.rejected + counts.rejected}"
            self.stream.write(f"\r{line}\x1b[K" if self.redraw else f"{line}\n")
            self.stream.flush()

        return show

    def done(self) -> None:
        if self.redraw:
            self.stream.write("\n")
            self.stream.flush()
