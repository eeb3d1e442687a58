"""Incremental, idempotent ingestion from the configured sources into the raw layer.

For each cluster: Tekton Results first (archived runs), asking only for records updated since the watermark minus
`ingest.overlap_seconds`, in `update_time asc` order; then the Kubernetes API (live runs, listed whole: it is
small). The same uid from both is one row (newest version wins). Each batch commits together with the watermark it
justifies, so a crash or `kill -9` at any moment followed by a re-run converges to the same raw layer, and a
re-run with nothing new changes nothing. After a Results pull the server's per-namespace totals are compared with
ours (`reconcile_counts`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from etl.config import ClusterConfig, IngestSettings, ResultsSource, SecretRef, SourcesConfig, WarehousePaths
from etl.errors import ConfigError, WarehouseError
from etl.locking import writer_lock
from etl.warehouse.load import LoadCounts, load_pages
from etl.warehouse.schema import open_warehouse

log = logging.getLogger(__name__)

KINDS = ("PipelineRun", "TaskRun")
ALL_PARENTS = "-/results/-"
WHOLE_SOURCE = "*"


@dataclass(frozen=True)
class NamespaceCount:
    """Server total vs warehouse rows for one namespace (warehouse rows include live runs from Kubernetes)."""

    namespace: str
    server_total: int
    warehouse_rows: int

    @property
    def missing(self) -> int:
        return max(self.server_total - self.warehouse_rows, 0)


@dataclass
class SourceRun:
    """One (cluster, source, kind, scope) pull: what it fetched and where its watermark went."""

    cluster: str
    source: str
    kind: str
    scope: str = WHOLE_SOURCE
    counts: LoadCounts = field(default_factory=LoadCounts)
    watermark_before: datetime | None = None
    watermark_after: datetime | None = None
    status: str = "ok"
    message: str = ""
    reconciliation: list[NamespaceCount] = field(default_factory=list)

    def summary(self) -> str:
        where = "" if self.scope == WHOLE_SOURCE else f" {self.scope}"
        line = f"{self.cluster} {self.source}{where} {self.kind}: fetched {self.counts.fetched}, {self.counts.summary()}"
        if self.status != "ok":
            line += f" — FAILED: {self.message}"
        return line

    def reconciliation_lines(self) -> list[str]:
        return [
            f"{self.cluster} {self.kind} {row.namespace}: server {row.server_total}, warehouse {row.warehouse_rows}"
            + (f" (missing {row.missing})" if row.missing else "")
            for row in self.reconciliation
        ]


@dataclass
class IngestReport:
    run_id: str
    runs: list[SourceRun] = field(default_factory=list)

    @property
    def failed(self) -> list[SourceRun]:
        return [run for run in self.runs if run.status != "ok"]

    @property
    def totals(self) -> LoadCounts:
        total = LoadCounts()
        for run in self.runs:
            total.add(run.counts)
        return total

    def lines(self) -> list[str]:
        lines = [run.summary() for run in self.runs]
        for run in self.runs:
            lines.extend(run.reconciliation_lines())
        return lines

    def raise_for_failures(self) -> None:
        if self.failed:
            first = self.failed[0]
            raise WarehouseError(
                f"{len(self.failed)} source(s) failed, first {first.cluster} {first.source} {first.kind}: "
                f"{first.message} (data committed before the failure is kept; run ingest again)"
            )


def ingest(
    paths: WarehousePaths,
    config: SourcesConfig,
    *,
    clusters: Sequence[str] | None = None,
    full: bool = False,
    wait_s: float = 0,
    on_batch: Callable[[SourceRun], None] | None = None,
) -> IngestReport:
    """Pull every configured source of the chosen clusters (all when None) into `raw`, under the writer lock.

    `full` ignores the watermarks and lists everything again (the upsert still only changes what is newer).
    Failures of one source are recorded and reported; the other sources still run. Call
    `report.raise_for_failures()` to turn them into an error."""
    chosen = _chosen_clusters(config, clusters)
    report = IngestReport(run_id=uuid.uuid4().hex)
    with writer_lock(paths, wait_s, purpose="ingest"), open_warehouse(paths) as con:
        for cluster in chosen:
            if cluster.results is not None:
                report.runs.extend(
                    _ingest_results(con, cluster, config.ingest, full, report.run_id, on_batch)
                )
            if cluster.kubernetes is not None:
                report.runs.extend(_ingest_kubernetes(con, cluster, config.ingest, report.run_id, on_batch))
    return report


def ingest_results_url(
    paths: WarehousePaths,
    *,
    url: str,
    transport: str = "grpc",
    token_file: str | None = None,
    token_env: str | None = None,
    ca_file: str | None = None,
    insecure_skip_tls_verify: bool = False,
    plaintext: bool = False,
    namespaces: Sequence[str] = (),
    cluster_name: str = "default",
    settings: IngestSettings | None = None,
    full: bool = False,
    wait_s: float = 0,
) -> IngestReport:
    """A one-off Results pull without a sources config (the CLI's `--results-url` flags)."""
    token = SecretRef(file=token_file, env=token_env) if (token_file or token_env) else None
    try:
        cluster = ClusterConfig(
            name=cluster_name,
            results=ResultsSource(
                url=url,
                transport=transport,  # type: ignore[arg-type]
                token=token,
                ca_file=ca_file,
                insecure_skip_tls_verify=insecure_skip_tls_verify,
                plaintext=plaintext,
                namespaces=list(namespaces),
            ),
        )
    except ValueError as exc:
        raise ConfigError(f"bad --results-url flags: {exc}") from None
    config = SourcesConfig(clusters=[cluster], ingest=settings or IngestSettings())
    return ingest(paths, config, full=full, wait_s=wait_s)


def _chosen_clusters(config: SourcesConfig, names: Sequence[str] | None) -> list[ClusterConfig]:
    if not config.clusters:
        raise ConfigError(
            "no clusters configured: add them to sources.yaml (or pass --config), or pull once with --results-url"
        )
    if not names:
        return list(config.clusters)
    known = {c.name: c for c in config.clusters}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown cluster {', '.join(unknown)}; configured: {', '.join(known)}")
    return [known[n] for n in names]


# Tekton Results ------------------------------------------------------------------------------------------------


def _ingest_results(
    con: duckdb.DuckDBPyConnection,
    cluster: ClusterConfig,
    settings: IngestSettings,
    full: bool,
    run_id: str,
    on_batch: Callable[[SourceRun], None] | None,
) -> list[SourceRun]:
    from etl.tekton_results.client import ResultsClient, ResultsClientConfig

    source = cluster.results
    assert source is not None
    parents = [f"{ns}/results/-" for ns in source.namespaces] or [ALL_PARENTS]
    runs: list[SourceRun] = []
    with ResultsClient(ResultsClientConfig.from_source(cluster)) as client:
        for kind in KINDS:
            for parent in parents:
                run = SourceRun(cluster.name, "results", kind, parent)
                runs.append(run)
                _run_logged(
                    con,
                    run,
                    run_id,
                    lambda run=run, parent=parent: _pull_results(
                        con, client, run, parent, source.page_size, settings, full, on_batch
                    ),
                )
    return runs


def _pull_results(
    con: duckdb.DuckDBPyConnection,
    client: object,
    run: SourceRun,
    parent: str,
    page_size: int,
    settings: IngestSettings,
    full: bool,
    on_batch: Callable[[SourceRun], None] | None,
) -> None:
    from etl.tekton_results.client import filter_for

    run.watermark_before = read_watermark(con, run.cluster, "results", run.kind, parent)
    since = None
    if run.watermark_before is not None and not full:
        since = run.watermark_before - timedelta(seconds=settings.overlap_seconds)
    pages = client.list_record_pages(  # type: ignore[attr-defined]
        parent=parent,
        filter=filter_for(kinds=(run.kind,), updated_after=since),
        order_by="update_time asc",
        page_size=page_size,
    )
    run.counts = load_pages(
        con,
        pages,
        cluster=run.cluster,
        source="results",
        settings=settings,
        before_commit=lambda c, counts: _move_watermark(c, run, counts),
        on_batch=_progress(run, on_batch),
    )
    run.watermark_after = read_watermark(con, run.cluster, "results", run.kind, parent)
    run.reconciliation = reconcile_counts(con, client, cluster=run.cluster, kind=run.kind, parent=parent)


def reconcile_counts(
    con: duckdb.DuckDBPyConnection, client: object, *, cluster: str, kind: str, parent: str = ALL_PARENTS
) -> list[NamespaceCount]:
    """Per namespace, the Results server's record total for `kind` vs our rows of that kind in `cluster`.

    `client` is an `etl.tekton_results.client.ResultsClient`. Our rows may exceed the server's (live runs from
    Kubernetes not yet stored, or records pruned by retention); fewer rows than the server means we miss some."""
    from etl.tekton_results.client import filter_for

    groups = client.record_list_summary(  # type: ignore[attr-defined]
        parent=parent, summary="total", filter=filter_for(kinds=(kind,)), group_by="namespace"
    )
    server = {str(g.get("group_value", "")): int(float(g.get("total", 0))) for g in groups}
    ours = dict(
        con.execute(
            "SELECT coalesce(namespace, ''), count(*) FROM raw.tekton_objects WHERE cluster = ? AND kind = ? "
            "GROUP BY ALL",
            [cluster, kind],
        ).fetchall()
    )
    namespaces = sorted(server) if parent != ALL_PARENTS else sorted(set(server) | set(ours))
    return [NamespaceCount(ns, server.get(ns, 0), int(ours.get(ns, 0))) for ns in namespaces]


# Kubernetes ----------------------------------------------------------------------------------------------------


def _ingest_kubernetes(
    con: duckdb.DuckDBPyConnection,
    cluster: ClusterConfig,
    settings: IngestSettings,
    run_id: str,
    on_batch: Callable[[SourceRun], None] | None,
) -> list[SourceRun]:
    from etl.kube.source import KubernetesSource

    assert cluster.kubernetes is not None
    runs: list[SourceRun] = []
    with KubernetesSource(cluster.kubernetes, cluster=cluster.name) as source:
        for kind in KINDS:
            run = SourceRun(cluster.name, "kubernetes", kind)
            runs.append(run)

            def pull(run: SourceRun = run, kind: str = kind) -> None:
                run.counts = load_pages(
                    con,
                    _pages(source, kind),
                    cluster=run.cluster,
                    source="kubernetes",
                    settings=settings,
                    on_batch=_progress(run, on_batch),
                )

            _run_logged(con, run, run_id, pull)
    return runs


def _pages(source: object, kind: str) -> Iterator[pa.Table]:
    yield from source.pages(kind)  # type: ignore[attr-defined]


# Watermarks and the log ----------------------------------------------------------------------------------------


def read_watermark(
    con: duckdb.DuckDBPyConnection, cluster: str, source: str, kind: str, scope: str = WHOLE_SOURCE
) -> datetime | None:
    row = con.execute(
        "SELECT watermark FROM raw.watermarks WHERE cluster = ? AND source = ? AND kind = ? AND scope = ?",
        [cluster, source, kind, scope],
    ).fetchone()
    return row[0] if row else None


def _move_watermark(con: duckdb.DuckDBPyConnection, run: SourceRun, counts: LoadCounts) -> None:
    """Inside the batch's transaction: the watermark only ever moves forward, to the newest update committed."""
    if counts.max_source_update_time is None:
        return
    con.execute(
        """
        INSERT INTO raw.watermarks (cluster, source, kind, scope, watermark, updated_at)
        VALUES (?, ?, ?, ?, ?, now())
        ON CONFLICT (cluster, source, kind, scope) DO UPDATE
            SET watermark = excluded.watermark, updated_at = excluded.updated_at
            WHERE excluded.watermark > raw.watermarks.watermark
        """,
        [run.cluster, run.source, run.kind, run.scope, counts.max_source_update_time],
    )


def _progress(run: SourceRun, on_batch: Callable[[SourceRun], None] | None) -> Callable[[LoadCounts], None]:
    def update(counts: LoadCounts) -> None:
        run.counts = counts
        if on_batch is not None:
            on_batch(run)

    return update


def _run_logged(
    con: duckdb.DuckDBPyConnection, run: SourceRun, run_id: str, pull: Callable[[], None]
) -> None:
    """Run one pull and record it in raw.ingestion_log, whether it worked or not."""
    started = con.execute("SELECT now()").fetchone()[0]
    try:
        pull()
    except WarehouseError as exc:
        run.status, run.message = "failed", str(exc)
        log.info("%s", run.summary())
    if run.reconciliation:
        short = [row for row in run.reconciliation if row.missing]
        run.message = run.message or (
            "reconciled: "
            + ("; ".join(f"{r.namespace} missing {r.missing}" for r in short) or "all namespaces complete")
        )
    con.execute(
        """
        INSERT INTO raw.ingestion_log (run_id, cluster, source, kind, scope, started_at, finished_at, fetched,
            loaded, unchanged, rejected, watermark_before, watermark_after, status, message)
        VALUES (?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            run_id,
            run.cluster,
            run.source,
            run.kind,
            run.scope,
            started,
            run.counts.fetched,
            run.counts.loaded,
            run.counts.unchanged,
            run.counts.rejected,
            run.watermark_before,
            run.watermark_after,
            run.status,
            run.message,
        ],
    )
