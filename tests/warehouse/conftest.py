from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from etl.config import WarehousePaths
from etl.warehouse.schema import connect


@pytest.fixture
def con(warehouse_home: WarehousePaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """A real warehouse file with the raw schema."""
    connection = connect(warehouse_home.warehouse_db)
    yield connection
    connection.close()
