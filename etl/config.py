"""Where the warehouse lives and what it pulls from.

Every file the product writes is under one warehouse folder (``--home``, env ``TEKTON_WAREHOUSE_HOME``, default
``.warehouse/``). The sources config (``<home>/sources.yaml`` unless ``--config``/``TEKTON_WAREHOUSE_CONFIG`` says
otherwise) lists the clusters to pull from and where reports go. Secrets are never written in it: it names an env var
or a file that holds them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from etl.errors import ConfigError

HOME_ENV = "TEKTON_WAREHOUSE_HOME"
CONFIG_ENV = "TEKTON_WAREHOUSE_CONFIG"
DEFAULT_HOME = ".warehouse"


@dataclass(frozen=True)
class WarehousePaths:
    """The layout of a warehouse folder. Nothing outside `home` is ever written."""

    home: Path

    @property
    def warehouse_db(self) -> Path:
        """The working file: raw layer and dbt models. Only the ETL opens it, one writer at a time."""
        return self.home / "warehouse.duckdb"

    @property
    def serving_db(self) -> Path:
        """The published, read-only snapshot for Streamlit, the summary and analysts."""
        return self.home / "tekton.duckdb"

    @property
    def lock_file(self) -> Path:
        return self.home / "warehouse.lock"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def daily_reports_dir(self) -> Path:
        return self.reports_dir / "daily"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def dbt_target_dir(self) -> Path:
        return self.home / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.home / "dbt" / "logs"

    @property
    def demo_history_dir(self) -> Path:
        return self.home / "demo-history"

    @property
    def default_config_file(self) -> Path:
        return self.home / "sources.yaml"

    def ensure(self) -> WarehousePaths:
        self.home.mkdir(parents=True, exist_ok=True)
        return self


def resolve_home(home: str | os.PathLike[str] | None = None) -> WarehousePaths:
    """`--home` wins, then `TEKTON_WAREHOUSE_HOME`, then `.warehouse/` in the current folder."""
    chosen = home or os.environ.get(HOME_ENV) or DEFAULT_HOME
    return WarehousePaths(Path(chosen).expanduser().resolve())


# ----------------------------------------------------------------------------------------------------------------
# Sources config
# ----------------------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecretRef(_Strict):
    """A secret given by env var name or by file path (re-read on every use, so rotated tokens work)."""

    env: str | None = None
    file: str | None = None

    def read(self) -> str | None:
        if self.file:
            try:
                return Path(self.file).expanduser().read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {self.file}: {exc.strerror}") from None
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(f"env var {self.env} is not set (the sources config names it as a secret)")
            return value.strip()
        return None


class ResultsSource(_Strict):
    """A Tekton Results API. `url` is host:port for gRPC, or an http(s) URL for REST."""

    url: str
    transport: Literal["grpc", "rest"] = "grpc"
    token: SecretRef | None = None
    use_kubeconfig_token: bool = False
    ca_file: str | None = None
    insecure_skip_tls_verify: bool = False
    plaintext: bool = False
    api_path: str = ""
    namespaces: list[str] = Field(default_factory=list)
    page_size: int = 1000
    timeout_s: float = 60.0


class KubernetesSource(_Strict):
    """The Kubernetes API of a cluster: in-cluster config, or a kubeconfig context."""

    in_cluster: bool = False
    kubeconfig: str | None = None
    context: str | None = None
    namespaces: list[str] = Field(default_factory=list)
    page_size: int = 500
    timeout_s: float = 60.0


class ClusterConfig(_Strict):
    name: str = "default"
    results: ResultsSource | None = None
    kubernetes: KubernetesSource | None = None

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str) -> str:
        if not value or any(c.isspace() or c == "/" for c in value):
            raise ValueError("cluster name must be non-empty without spaces or '/'")
        return value


class WebhookTarget(_Strict):
    url: SecretRef
    timeout_s: float = 10.0
    retries: int = 3


class DeliveryConfig(_Strict):
    slack: WebhookTarget | None = None
    discord: WebhookTarget | None = None
    webhook: WebhookTarget | None = None
    cloudevent: WebhookTarget | None = None


class IngestSettings(_Strict):
    overlap_seconds: int = 300
    keep_full_objects: bool = False
    max_object_bytes: int = 8 * 1024 * 1024
    # Objects per batch: one stage (parse, strip, hash) and one upsert each. Bigger batches spread each batch's fixed
    # costs (statements, the lookup of stored uids, which scans the table's key columns) over more objects; peak
    # memory grows with them, since about five batches are in flight (being read, queued, staged, queued, written):
    # a 1M-object import peaked at 909 MB at 10,000 and 1,043 MB at 20,000 for 5% less wall time (measured).
    batch_size: int = 10_000
    # Objects per transaction. A crash loses at most this much work, which the re-run loads again. A transaction that
    # appends whole row groups (32,768 rows, etl/warehouse/schema.py) writes them straight into the file instead of
    # through the write-ahead log and a later checkpoint (200,000 objects: 8.3 s CPU at 40,000 per batch and 130,000
    # per transaction against 12.4 s at 10,000 for both; measured).
    commit_rows: int = Field(default=120_000, ge=1)


class SourcesConfig(_Strict):
    clusters: list[ClusterConfig] = Field(default_factory=list)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    slo_success_rate: float = 0.99
    summary_time_utc: str = "06:00"
    ingest_cron: str = "*/15 * * * *"

    @field_validator("clusters")
    @classmethod
    def _unique_cluster_names(cls, clusters: list[ClusterConfig]) -> list[ClusterConfig]:
        names = [c.name for c in clusters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"cluster names must be unique, repeated: {', '.join(duplicates)}")
        return clusters


def config_file_for(paths: WarehousePaths, config: str | os.PathLike[str] | None = None) -> Path:
    chosen = config or os.environ.get(CONFIG_ENV)
    return Path(chosen).expanduser().resolve() if chosen else paths.default_config_file


def load_sources_config(path: Path) -> SourcesConfig:
    """Read and validate the sources config; a missing file is an empty config (files can still be imported)."""
    if not path.exists():
        return SourcesConfig()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    try:
        return SourcesConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
