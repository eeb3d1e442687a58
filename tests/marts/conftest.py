"""Shared helpers for the flakiness, failure-cause and supply-chain mart tests: which dbt nodes are ours."""

from __future__ import annotations

from pathlib import Path

import yaml

from etl.build import DBT_PROJECT_DIR

# The dbt folders of these marts (models and their unit tests live under them).
MART_FOLDERS = tuple(
    f"models/{layer}/{area}"
    for layer in ("intermediate", "marts")
    for area in ("flakiness", "failures", "supply_chain")
)
MARTS = (
    "fct_flaky_evidence",
    "fct_flaky_pipelines",
    "fct_flaky_tasks",
    "fct_failures",
    "fct_artifacts",
    "fct_lineage_edges",
    "fct_supply_chains",
)


def declared_unit_tests() -> set[str]:
    """Names of every dbt unit test declared in our folders, read from the YAML itself."""
    names: set[str] = set()
    for folder in MART_FOLDERS:
        for path in sorted((DBT_PROJECT_DIR / folder).glob("*.yml")):
            document = yaml.safe_load(Path(path).read_text()) or {}
            names.update(test["name"] for test in document.get("unit_tests", []))
    return names


def path_selectors(prefix: str = "") -> list[str]:
    """dbt `--select` arguments for our folders, each optionally prefixed (e.g. '+' for their parents)."""
    return [f"{prefix}path:{folder}" for folder in MART_FOLDERS]
