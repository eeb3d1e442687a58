"""The Dagster definitions, loaded once per session against a throwaway warehouse folder (the dbt manifest is
parsed into it once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from etl.config import CONFIG_ENV, HOME_ENV
from tests.summary.marts_builder import MartsBuilder


@pytest.fixture(scope="session")
def definitions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.Definitions]:
    patch = pytest.MonkeyPatch()
    patch.setenv(HOME_ENV, str(tmp_path_factory.mktemp("defs-home")))
    for name in (CONFIG_ENV, "TEKTON_WAREHOUSE_INGEST_CRON", "TEKTON_WAREHOUSE_SUMMARY_TIME_UTC"):
        patch.delenv(name, raising=False)
    from etl.definitions import defs

    try:
        yield defs()
    finally:
        patch.undo()


@pytest.fixture
def snapshot_file() -> Path:
    return Path(__file__).with_name("definitions_snapshot.txt")


@pytest.fixture
def marts() -> MartsBuilder:
    return MartsBuilder()
