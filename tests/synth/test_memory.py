"""Memory stays flat: a history 100x larger must not need more memory than a tiny one, give or take a fixed margin.

Keeping the emitted objects (even as JSON text) would cost well over 100 MB for the larger history, so an
implementation whose memory grows with the history fails the bound.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.common import run_measured

MARGIN_MB = 48


def _peak_rss_mb(out: Path, *args: str) -> tuple[float, str]:
    """The generator's own peak RSS. A plain child of pytest would report at least pytest's own peak (Linux keeps
    the launcher's at exec), which would hide a generator that grows: `run_measured` measures it afresh."""
    measured = run_measured(
        "generate", [sys.executable, "-m", "etl.cli", "generate", "--out", str(out), *args]
    )
    return measured.peak_rss_mb, measured.output


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_history_size(tmp_path: Path) -> None:
    small_mb, _ = _peak_rss_mb(tmp_path / "small", "--days", "3", "--pipelines", "8")
    large_mb, output = _peak_rss_mb(
        tmp_path / "large", "--days", "10", "--pipelines", "200", "--runs-per-day", "5"
    )
    objects = sum(1 for _ in (tmp_path / "large" / "objects.ndjson").open())
    size_mb = (tmp_path / "large" / "objects.ndjson").stat().st_size / 2**20
    assert objects > 50_000, output
    assert size_mb > 2 * MARGIN_MB, "the large history must be big enough for the bound to mean something"
    assert large_mb < small_mb + MARGIN_MB, (
        f"peak RSS {large_mb:.0f} MB vs {small_mb:.0f} MB for a tiny history"
    )
