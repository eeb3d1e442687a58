from pathlib import Path

import pytest

from etl.config import SecretRef, load_sources_config, resolve_home
from etl.errors import ConfigError


def test_home_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TEKTON_WAREHOUSE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_home().home == tmp_path / ".warehouse"
    monkeypatch.setenv("TEKTON_WAREHOUSE_HOME", str(tmp_path / "env-home"))
    assert resolve_home().home == tmp_path / "env-home"
    assert resolve_home(tmp_path / "flag-home").home == tmp_path / "flag-home"


def test_missing_config_is_empty(tmp_path: Path) -> None:
    config = load_sources_config(tmp_path / "absent.yaml")
    assert config.clusters == []
    assert config.ingest.overlap_seconds == 300


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("clusters:\n  - name: a\n    results: {url: x, transport: carrier-pigeon}\n")
    with pytest.raises(ConfigError, match=r"clusters\.0\.results\.transport"):
        load_sources_config(path)
    path.write_text("clusters:\n  - name: a\n  - name: a\n")
    with pytest.raises(ConfigError, match="repeated: a"):
        load_sources_config(path)
    path.write_text("clusters: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_sources_config(path)


def test_secret_ref_reads_file_each_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    ref = SecretRef(file=str(token))
    assert ref.read() == "first"
    token.write_text("rotated\n")
    assert ref.read() == "rotated"
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="NOPE_TOKEN is not set"):
        SecretRef(env="NOPE_TOKEN").read()
