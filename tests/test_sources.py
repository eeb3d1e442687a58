"""`etl.sources.data_column`: the data column every source builds its pages with."""

from __future__ import annotations

import pyarrow as pa

from etl.sources import SOURCE_PAGE_SCHEMA, data_column


def test_data_column_keeps_every_value_byte_for_byte() -> None:
    values = [b'{"kind":"PipelineRun"}', b"", b"\xff\xfe not UTF-8", "ünïcode".encode(), b"x" * 100_000]
    column = data_column(values)
    column.validate(full=True)
    assert column.type == SOURCE_PAGE_SCHEMA.field("data").type
    assert column.to_pylist() == values


def test_data_column_of_an_empty_page() -> None:
    column = data_column([])
    column.validate(full=True)
    assert len(column) == 0 and column.type == pa.binary()
