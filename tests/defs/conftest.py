"""The Dagster definitions, loaded once per session against a throwaway warehouse folder and a private copy of
the dbt project (the manifest is parsed once)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from etl.build import PROJECT_DIR_ENV
from etl.config import CONFIG_ENV, HOME_ENV
from tests.summary.marts_builder import MartsBuilder

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def definitions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.Definitions]:
    patch = pytest.MonkeyPatch()
    patch.setenv(HOME_ENV, str(tmp_path_factory.mktemp("defs-home")))
    # A private copy of the dbt project: the definitions and the dbt runs of one session see the same project.
    project_copy = tmp_path_factory.mktemp("dbt-project") / "dbt"
    shutil.copytree(
        REPO_ROOT / "dbt", project_copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    patch.setenv(PROJECT_DIR_ENV, str(project_copy))
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
