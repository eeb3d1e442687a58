"""One full materialization through Dagster, recorded in the warehouse's own Dagster instance.

`materialize_all(paths)` runs the same jobs the schedules run (ingest → dbt → publish, then the daily summary for
the newest complete day in the data) against the instance in `<home>/dagster`, so a Dagster UI started afterwards
with `DAGSTER_HOME=<home>/dagster` and `TEKTON_WAREHOUSE_HOME=<home>` shows green assets, checks and the summary.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from etl.config import CONFIG_ENV, HOME_ENV, WarehousePaths
from etl.errors import WarehouseError

log = logging.getLogger(__name__)

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"
INGEST_JOB = "ingest_and_build_job"
SUMMARY_JOB = "daily_summary_job"


@dataclass(frozen=True)
class MaterializeOutcome:
    """What `materialize_runs` did: the Dagster run ids, and the summary day (None when the build failed)."""

    success: bool
    run_ids: tuple[str, ...]
    summary_day: date | None


def prepare_dagster_home(paths: WarehousePaths) -> Path:
    """`<home>/dagster` with the repo's dagster.yaml (pools, run limits), as DAGSTER_HOME for this process."""
    home = paths.ensure().dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_DAGSTER_YAML, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


# Every event still goes to the instance's event log (the UI shows it); only the terminal is spared the DEBUG stream.
QUIET_CONSOLE = {"console": {"config": {"log_level": "WARNING"}}}


def materialize_runs(
    paths: WarehousePaths, *, config_path: Path | None = None, deliver: bool = False
) -> MaterializeOutcome:
    """Run the ingest-and-build job, then the summary partition of the newest complete day; stop at a failure."""
    from etl.summary.report import newest_complete_day, open_serving

    os.environ[HOME_ENV] = str(paths.home)
    if config_path is not None:
        os.environ[CONFIG_ENV] = str(config_path)
    dagster_home = prepare_dagster_home(paths)
    from etl.definitions import defs

    definitions = defs()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        build = definitions.resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance, run_config=dg.RunConfig(loggers=QUIET_CONSOLE), raise_on_error=False
        )
        if not build.success:
            log.error("the %s run %s failed; see the Dagster UI", INGEST_JOB, build.run_id)
            return MaterializeOutcome(False, (build.run_id,), None)
        with open_serving(paths) as con:
            day = newest_complete_day(con)
        summary_job = definitions.resolve_job_def(SUMMARY_JOB)
        _require_partition(summary_job, day)
        summary = summary_job.execute_in_process(
            instance=instance,
            partition_key=day.isoformat(),
            run_config=dg.RunConfig(
                ops={"reports__daily_summary": {"config": {"deliver": deliver}}}, loggers=QUIET_CONSOLE
            ),
            raise_on_error=False,
        )
        return MaterializeOutcome(summary.success, (build.run_id, summary.run_id), day)


def _require_partition(job: dg.JobDefinition, day: date) -> None:
    partitions = job.partitions_def
    if partitions is not None and not partitions.has_partition_key(day.isoformat()):
        raise WarehouseError(
            f"the newest complete day in the data ({day}) is outside the summary partitions; "
            "set TEKTON_WAREHOUSE_SUMMARY_START to a date before it"
        )


def materialize_all(paths: WarehousePaths) -> bool:
    """Ingest → dbt → publish → summary for the newest complete day, recorded in `<home>/dagster`; True on success."""
    return materialize_runs(paths).success
