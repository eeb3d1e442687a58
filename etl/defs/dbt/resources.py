"""The dbt project and CLI resource, with a manifest that is always there and current when definitions load.

`DbtProject.prepare_if_dev()` only parses under `dagster dev`; a deployed code server, `materialize_all`, or a test
would otherwise load a missing or stale manifest. So at load time we run `dbt parse` ourselves when
`<home>/dbt/target/manifest.json` is missing or older than any file of the dbt project. A file lock keeps the step
processes of one run (each loads the definitions) from parsing at the same time.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject
from filelock import FileLock

from etl.build import dbt_project_dir, invoke_dbt
from etl.config import WarehousePaths, resolve_home

# Files whose change can change the manifest; dbt's own outputs are not among them.
_PROJECT_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}
_IGNORED_DIRS = {"target", "logs", "dbt_packages"}


def newest_project_change(project_dir: Path) -> float:
    newest = 0.0
    for path in project_dir.rglob("*"):
        if path.suffix in _PROJECT_SUFFIXES and not _IGNORED_DIRS.intersection(
            path.relative_to(project_dir).parts
        ):
            newest = max(newest, path.stat().st_mtime)
    return newest


def manifest_is_current(manifest: Path, project_dir: Path) -> bool:
    return manifest.exists() and manifest.stat().st_mtime >= newest_project_change(project_dir)


def ensure_manifest(paths: WarehousePaths, project_dir: Path) -> Path:
    """`dbt parse` into `<home>/dbt/target` unless the manifest there is current; returns the manifest path."""
    manifest = paths.dbt_target_dir / "manifest.json"
    if manifest_is_current(manifest, project_dir):
        return manifest
    paths.dbt_target_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(paths.dbt_target_dir / ".parse.lock")):
        if not manifest_is_current(manifest, project_dir):
            invoke_dbt(
                paths.warehouse_db, ["parse"], target_dir=paths.dbt_target_dir, log_dir=paths.dbt_log_dir
            )
    return manifest


def require_unchanged_project(project: DbtProject, loaded_stamp: float) -> None:
    """Fail clearly when the dbt files changed after these definitions were loaded: dbt would run nodes the loaded
    manifest does not know, and dagster-dbt would stop on them half-way."""
    if newest_project_change(project.project_dir) > loaded_stamp:
        raise dg.Failure(
            description=f"the dbt project in {project.project_dir} changed after the Dagster definitions were "
            "loaded; reload the code location (or restart the process) and run again",
            allow_retries=False,
        )


@cache
def tekton_dbt_project() -> DbtProject:
    """The repo's dbt project with its manifest under the warehouse folder (nothing written into the repo)."""
    paths = resolve_home().ensure()
    project_dir = dbt_project_dir()
    ensure_manifest(paths, project_dir)
    return DbtProject(project_dir=project_dir, target_path=paths.dbt_target_dir)


def dbt_executable() -> str:
    """dbt from this interpreter's environment, so a UI started without the venv on PATH still finds it."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={"dbt": DbtCliResource(project_dir=tekton_dbt_project(), dbt_executable=dbt_executable())}
    )
