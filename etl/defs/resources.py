"""The warehouse resource every asset uses: where the warehouse folder is, and what the sources config says.

Nothing is resolved at import: the home folder and config path come from the resource fields or, when empty, from
`TEKTON_WAREHOUSE_HOME` / `TEKTON_WAREHOUSE_CONFIG` in the process that runs the step, and the sources config is
re-read on every use so an edited `sources.yaml` (a new cluster, a rotated webhook) applies to the next run.
"""

from __future__ import annotations

import os

import dagster as dg

from etl.config import SourcesConfig, WarehousePaths, config_file_for, load_sources_config, resolve_home

FRESHNESS_ENV = "TEKTON_WAREHOUSE_FRESHNESS_MINUTES"
REJECTS_RATIO_ENV = "TEKTON_WAREHOUSE_MAX_REJECTS_RATIO"
RECONCILE_TOLERANCE_ENV = "TEKTON_WAREHOUSE_RECONCILE_TOLERANCE"


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse folder and the thresholds the raw-layer checks hold it to."""

    home: str = ""
    config_path: str = ""
    freshness_minutes: int = 120
    max_rejects_ratio: float = 0.01
    reconcile_tolerance: float = 0.0

    def paths(self) -> WarehousePaths:
        return resolve_home(self.home or None).ensure()

    def sources_config(self) -> SourcesConfig:
        return load_sources_config(config_file_for(self.paths(), self.config_path or None))


def warehouse_from_env() -> WarehouseResource:
    """Thresholds from env vars (documented in .env.example); home and config stay lazy (see module docstring)."""
    return WarehouseResource(
        freshness_minutes=int(os.environ.get(FRESHNESS_ENV, "120")),
        max_rejects_ratio=float(os.environ.get(REJECTS_RATIO_ENV, "0.01")),
        reconcile_tolerance=float(os.environ.get(RECONCILE_TOLERANCE_ENV, "0")),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"warehouse": warehouse_from_env()})
