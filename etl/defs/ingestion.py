"""Raw-layer assets, one per source (`raw/tekton_results`, `raw/kubernetes`), shared by the source folders.

Why one asset per source with every cluster inside, rather than a cluster partition: the cluster list lives in
`sources.yaml`, which is re-read at each run, so adding a cluster needs no code reload and no partition
registration; all clusters write the one DuckDB file whose single-writer rule would serialise per-cluster
partitions anyway; and watermarks are already per (cluster, source, kind), so an incremental pull costs only what
changed in each cluster. Per-cluster detail is not lost: each cluster gets its own lines in the materialization
metadata and its own rows in every check, one cluster failing does not stop the others, and the asset then fails
naming the failed clusters.

The checks run inside the asset's op (declared as `check_specs`): they read `warehouse.duckdb`, which only one
process may open while a writer holds it, and the op already owns the `duckdb` pool. It also means a source that is
down still gets its freshness check evaluated (and failed) before the run fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import dagster as dg
import duckdb

from etl.config import SourcesConfig, WarehousePaths
from etl.defs.resources import WarehouseResource
from etl.errors import AuthError, ConfigError, WarehouseError
from etl.locking import writer_lock

SourceName = Literal["results", "kubernetes"]
LOCK_WAIT_S = 600.0

# Dagster-level retries for a source that stays down after the client's own retries (network blips, restarts).
SOURCE_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

# Failures the next attempt cannot fix: bad credentials, RBAC, config. The ingest log keeps only the message, so
# these are recognised by the wording of etl.tekton_results / etl.kube's AuthError and ConfigError messages.
_PERMANENT_MARKERS = (
    "rejected the",
    "denied",
    "token",
    "not set",
    "must be",
    "kubeconfig",
    "unknown cluster",
)


class IngestConfig(dg.Config):
    full: bool = False


@dataclass(frozen=True)
class ClusterOutcome:
    cluster: str
    lines: list[str]
    failure: str | None
    permanent: bool
    fetched: int
    loaded: int
    rejected: int
    missing: int
    server_total: int


def config_for_source(config: SourcesConfig, source: SourceName) -> SourcesConfig:
    """The sources config reduced to one source: clusters without it are dropped, the other source removed."""
    other = "kubernetes" if source == "results" else "results"
    clusters = [c.model_copy(update={other: None}) for c in config.clusters if getattr(c, source) is not None]
    return config.model_copy(update={"clusters": clusters})


def _is_permanent(message: str) -> bool:
    return any(marker in message for marker in _PERMANENT_MARKERS)


def _ingest_cluster(paths: WarehousePaths, config: SourcesConfig, cluster: str, full: bool) -> ClusterOutcome:
    from etl.warehouse.ingest import ingest

    try:
        report = ingest(paths, config, clusters=[cluster], full=full, wait_s=LOCK_WAIT_S)
    except (AuthError, ConfigError) as exc:
        return ClusterOutcome(cluster, [f"{cluster}: {exc}"], str(exc), True, 0, 0, 0, 0, 0)
    except WarehouseError as exc:
        return ClusterOutcome(cluster, [f"{cluster}: {exc}"], str(exc), False, 0, 0, 0, 0, 0)
    failed = report.failed
    totals = report.totals
    reconciliation = [row for run in report.runs for row in run.reconciliation]
    return ClusterOutcome(
        cluster=cluster,
        lines=report.lines(),
        failure="; ".join(f"{run.kind}: {run.message}" for run in failed) or None,
        permanent=bool(failed) and all(_is_permanent(run.message) for run in failed),
        fetched=totals.fetched,
        loaded=totals.loaded,
        rejected=totals.rejected,
        missing=sum(row.missing for row in reconciliation),
        server_total=sum(row.server_total for row in reconciliation),
    )


# ================================================================================================================
# Checks
# ================================================================================================================


def _last_success_by_cluster(
    con: duckdb.DuckDBPyConnection, source: SourceName
) -> dict[str, datetime | None]:
    """Per cluster, the oldest of the newest successful pulls of each kind (a cluster is as fresh as its stalest
    kind)."""
    rows = con.execute(
        """
        select cluster, min(last_ok) from (
            select cluster, kind, max(finished_at) filter (where status = 'ok') as last_ok
            from raw.ingestion_log where source = ? group by cluster, kind
        ) group by cluster
        """,
        [source],
    ).fetchall()
    return dict(rows)


def freshness_check(
    con: duckdb.DuckDBPyConnection | None, source: SourceName, clusters: Sequence[str], max_age: timedelta
) -> dg.AssetCheckResult:
    last = _last_success_by_cluster(con, source) if con is not None else {}
    now = datetime.now(UTC)
    stale = {c: last.get(c) for c in clusters if last.get(c) is None or now - last[c] > max_age}
    return dg.AssetCheckResult(
        check_name="fresh",
        passed=not stale,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "stale: "
            + ", ".join(f"{c} (last success {t.isoformat() if t else 'never'})" for c, t in stale.items())
            if stale
            else f"every cluster ingested within {max_age}"
        ),
        metadata={c: (t.isoformat() if t else "never") for c, t in sorted(last.items()) if c in clusters},
    )


def uid_uniqueness_check(con: duckdb.DuckDBPyConnection | None) -> dg.AssetCheckResult:
    if con is None:
        return dg.AssetCheckResult(check_name="uids_unique", passed=True, metadata={"rows": 0})
    # Over every source's rows: the loader alone keeps one row per (cluster, uid) (there is no key index), and a
    # duplicate could pair this source's row with another source's.
    rows, distinct = con.execute(
        "select count(*), count(distinct (cluster, uid)) from raw.tekton_objects"
    ).fetchone()
    return dg.AssetCheckResult(
        check_name="uids_unique",
        passed=rows == distinct,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows": rows, "duplicates": rows - distinct},
    )


def rejects_ratio_check(outcomes: Sequence[ClusterOutcome], max_ratio: float) -> dg.AssetCheckResult:
    fetched = sum(o.fetched for o in outcomes)
    rejected = sum(o.rejected for o in outcomes)
    ratio = rejected / fetched if fetched else 0.0
    return dg.AssetCheckResult(
        check_name="rejects_ratio",
        passed=ratio <= max_ratio,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{rejected} of {fetched} objects rejected in this run (limit {max_ratio:.2%}); see raw.rejects",
        metadata={"fetched": fetched, "rejected": rejected, "ratio": ratio, "max_ratio": max_ratio},
    )


def reconciliation_check(outcomes: Sequence[ClusterOutcome], tolerance: float) -> dg.AssetCheckResult:
    """Records the Results Summary endpoint counts against rows in the warehouse, per cluster."""
    short = {o.cluster: o.missing for o in outcomes if o.missing > tolerance * max(o.server_total, 1)}
    unchecked = [o.cluster for o in outcomes if o.failure]
    return dg.AssetCheckResult(
        check_name="reconciled",
        passed=not short and not unchecked,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "; ".join(
                [f"{c}: {n} record(s) on the server missing from the warehouse" for c, n in short.items()]
                + [f"{c}: not reconciled (ingest failed)" for c in unchecked]
            )
            or "the server's totals per namespace are all in the warehouse"
        ),
        metadata={o.cluster: f"server {o.server_total}, missing {o.missing}" for o in outcomes},
    )


def _open_read_only(paths: WarehousePaths) -> duckdb.DuckDBPyConnection | None:
    if not paths.warehouse_db.exists():
        return None
    return duckdb.connect(str(paths.warehouse_db), read_only=True)


# ================================================================================================================
# The asset body
# ================================================================================================================


def check_names(source: SourceName) -> list[str]:
    return ["fresh", "uids_unique", "rejects_ratio", *(["reconciled"] if source == "results" else [])]


def raw_check_specs(key: dg.AssetKey, source: SourceName) -> list[dg.AssetCheckSpec]:
    descriptions = {
        "fresh": "every configured cluster had a successful pull within the freshness threshold",
        "uids_unique": "one row per (cluster, uid) in raw.tekton_objects",
        "rejects_ratio": "share of fetched objects rejected in this run stays under the threshold",
        "reconciled": "the Results Summary endpoint's totals per namespace are all in the warehouse",
    }
    return [
        dg.AssetCheckSpec(name, asset=key, description=descriptions[name]) for name in check_names(source)
    ]


def ingest_source(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: IngestConfig, source: SourceName
) -> Iterator[Any]:
    """Pull `source` for every configured cluster, evaluate the checks, then materialize or fail."""
    paths = warehouse.paths()
    try:
        sources = config_for_source(warehouse.sources_config(), source)
    except ConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    clusters = [c.name for c in sources.clusters]
    started = time.perf_counter()
    outcomes = [_ingest_cluster(paths, sources, cluster, config.full) for cluster in clusters]
    for outcome in outcomes:
        for line in outcome.lines:
            context.log.info(line)
    with writer_lock(paths, wait_s=LOCK_WAIT_S, purpose="check"):
        con = _open_read_only(paths)
        try:
            uniqueness = uid_uniqueness_check(con)
            checks = [
                freshness_check(con, source, clusters, timedelta(minutes=warehouse.freshness_minutes)),
                uniqueness,
                rejects_ratio_check(outcomes, warehouse.max_rejects_ratio),
            ]
        finally:
            if con is not None:
                con.close()
    if source == "results":
        checks.append(reconciliation_check(outcomes, warehouse.reconcile_tolerance))
    failed = [o for o in outcomes if o.failure]
    if failed:
        yield from checks
        raise dg.Failure(
            description="; ".join(f"{o.cluster}: {o.failure}" for o in failed),
            allow_retries=not all(o.permanent for o in failed),
        )
    yield dg.MaterializeResult(
        metadata={
            "clusters": ", ".join(clusters) or "none configured for this source",
            "fetched": sum(o.fetched for o in outcomes),
            "loaded": sum(o.loaded for o in outcomes),
            "rejected": sum(o.rejected for o in outcomes),
            "dagster/row_count": uniqueness.metadata["rows"].value,
            "seconds": round(time.perf_counter() - started, 2),
            "pulls": dg.MetadataValue.md("\n".join(f"- {line}" for o in outcomes for line in o.lines) or "-"),
        }
    )
    yield from checks
