"""Shared fixtures: every test gets its own warehouse folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.config import WarehousePaths

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def warehouse_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WarehousePaths:
    """A fresh warehouse folder, also exported as TEKTON_WAREHOUSE_HOME for code that reads the env."""
    home = tmp_path / "warehouse"
    monkeypatch.setenv("TEKTON_WAREHOUSE_HOME", str(home))
    return WarehousePaths(home).ensure()
