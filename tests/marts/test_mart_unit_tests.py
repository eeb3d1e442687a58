"""Every rule of the flakiness, failure-cause and supply-chain marts, as dbt unit tests on hand-made rows.

The unit tests live next to the models (YAML under dbt/models/{intermediate,marts}/{flakiness,failures,
supply_chain}); this runs them all with real dbt on a real DuckDB file. dbt needs the parent relations to exist to
type the fixtures, so they are created empty first (`dbt run --empty`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.build import invoke_dbt
from tests.helpers.warehouse import make_raw_warehouse
from tests.marts.conftest import declared_unit_tests, path_selectors


@pytest.mark.slow
def test_every_declared_unit_test_runs_and_passes(tmp_path: Path) -> None:
    db_path = make_raw_warehouse(tmp_path / "warehouse.duckdb", [])
    dirs = {"target_dir": tmp_path / "dbt" / "target", "log_dir": tmp_path / "dbt" / "logs"}
    invoke_dbt(db_path, ["run", "--empty", "--select", *path_selectors("+")], **dirs)

    result = invoke_dbt(
        db_path, ["test", "--select", *[f"test_type:unit,{s}" for s in path_selectors()]], **dirs
    )

    ran = {
        uid.rsplit(".", 1)[-1]: status
        for uid, status in result.statuses.items()
        if uid.startswith("unit_test.")
    }
    declared = declared_unit_tests()
    assert len(declared) >= 20
    assert set(ran) == declared
    assert {name for name, status in ran.items() if status != "pass"} == set()
