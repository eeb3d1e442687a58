"""A warehouse built once per session from the hand-made history, by the real `run_build` (dbt + publish)."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.build import BuildReport, run_build
from etl.config import WarehousePaths
from tests.dbt.hand_made import all_objects
from tests.helpers.warehouse import make_raw_warehouse

# Our models only, so a half-finished mart elsewhere in the project cannot fail these tests.
CORE_SELECTION = ["path:models/staging", "path:models/intermediate/core", "path:models/marts/core"]


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[WarehousePaths, BuildReport]:
    paths = WarehousePaths(tmp_path_factory.mktemp("core") / "home").ensure()
    make_raw_warehouse(paths.warehouse_db, all_objects())
    report = run_build(paths, select=CORE_SELECTION)
    return paths, report


@pytest.fixture(scope="session")
def serving_db(built_home: tuple[WarehousePaths, BuildReport]) -> Path:
    return built_home[0].serving_db
