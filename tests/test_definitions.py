"""The Dagster definitions load (the full asset graph is snapshotted in tests/defs/)."""

from etl.definitions import defs


def test_definitions_load() -> None:
    loaded = defs()
    loaded.resolve_asset_graph()
