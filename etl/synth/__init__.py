"""Synthetic Tekton history: a realistic organisation's PipelineRuns and TaskRuns, with known injected truths.

`generate(out_dir, ...)` writes `objects.ndjson`, `records.ndjson` and `ground_truth.json` (see docs/internals.md
and `etl.synth.truth` for the truth file's schema), streaming, deterministically for a seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.errors import WarehouseError

if TYPE_CHECKING:
    from etl.synth.generator import GenerateOptions

DEFAULT_END_DATE = date(2026, 11, 1)
FORMATS = ("ndjson", "records", "both")


class GenerateError(WarehouseError):
    """The generator was asked for something it cannot produce."""


@dataclass(frozen=True)
class GenerateReport:
    out_dir: Path
    objects: int
    pipeline_runs: int
    task_runs: int
    files: tuple[Path, ...]
    seconds: float
    counts: dict[str, Any]


def _validate(options: GenerateOptions) -> None:
    if options.days < 1:
        raise GenerateError(f"--days must be at least 1 (got {options.days})")
    if options.pipelines < 1:
        raise GenerateError(f"--pipelines must be at least 1 (got {options.pipelines})")
    if options.runs_per_day <= 0:
        raise GenerateError(f"--runs-per-day must be positive (got {options.runs_per_day})")
    if options.namespaces < 1:
        raise GenerateError(f"--namespaces must be at least 1 (got {options.namespaces})")
    if not 0.0 <= options.v1beta1_share <= 1.0:
        raise GenerateError(f"--v1beta1-share must be between 0 and 1 (got {options.v1beta1_share})")
    if options.fmt not in FORMATS:
        raise GenerateError(f"--format must be one of {', '.join(FORMATS)} (got {options.fmt!r})")


def generate(
    out_dir: Path,
    *,
    days: int = 30,
    pipelines: int = 40,
    runs_per_day: float = 3.0,
    seed: int = 1,
    end_date: date = DEFAULT_END_DATE,
    namespaces: int = 4,
    v1beta1_share: float = 0.2,
    fmt: str = "both",
) -> GenerateReport:
    """Generate a history into `out_dir`; the same arguments always give the same bytes.

    History covers the `days` whole UTC days before `end_date` (exclusive); runs still going at its midnight are
    written as running or pending. Files are written under temporary names and renamed at the end, so an
    interrupted run leaves any earlier output in place.
    """
    # Imported here: every `tekton-warehouse` command registers `generate`, and the generator's modules cost ~0.2 s
    # of start-up that the others (ingest every 15 minutes) do not need.
    from etl.synth.generator import GenerateOptions, generate_history

    options = GenerateOptions(days, pipelines, runs_per_day, seed, end_date, namespaces, v1beta1_share, fmt)
    _validate(options)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise GenerateError(f"--out {out_dir} exists and is not a folder; choose another path")
    started = time.perf_counter()
    written, truth = generate_history(options, out_dir)
    counts = truth.counts()
    names = {
        "ndjson": ("objects.ndjson",),
        "records": ("records.ndjson",),
        "both": ("objects.ndjson", "records.ndjson"),
    }
    files = tuple(out_dir / n for n in (*names[fmt], "ground_truth.json"))
    return GenerateReport(
        out_dir=out_dir,
        objects=written,
        pipeline_runs=counts["pipeline_runs"],
        task_runs=counts["task_runs"],
        files=files,
        seconds=time.perf_counter() - started,
        counts=counts,
    )


__all__ = ["DEFAULT_END_DATE", "FORMATS", "GenerateError", "GenerateReport", "generate"]
