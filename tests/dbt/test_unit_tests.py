"""dbt unit tests of the core rules (given/expect in the YAML next to the models), run for real by dbt."""

from __future__ import annotations

import pytest

from etl.build import BuildReport
from etl.config import WarehousePaths
from tests.helpers.warehouse import run_dbt_build

CORE_UNIT_TESTS = [
    "test_type:unit,path:models/staging",
    "test_type:unit,path:models/intermediate/core",
    "test_type:unit,path:models/marts/core",
]


@pytest.mark.slow
def test_core_unit_tests_pass(built_home: tuple[WarehousePaths, BuildReport]) -> None:
    """Unit tests need the upstream relations to exist (for column types): run them on the session's build."""
    paths, _ = built_home
    result = run_dbt_build(
        paths.warehouse_db, command="test", select=CORE_UNIT_TESTS, work_dir=paths.home / "unit"
    )
    unit_tests = {uid: status for uid, status in result.statuses.items() if uid.startswith("unit_test.")}
    assert len(unit_tests) >= 26
    assert set(unit_tests.values()) == {"pass"}
