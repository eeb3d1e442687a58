"""Incremental builds of an existing marts file. Data tests: a uniqueness test of a model recomputed at the affected
runs checks only those runs' rows (macros/incremental_runs.sql `keyed_test_scope`), still fails on a duplicate there,
and a failing test makes the next build recompute and test everything. Docs: an incremental mart's stored comments
are rewritten only where the YAML changed (macros/persist_docs.sql)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from etl.build import DBT_PROJECT_DIR, PROJECT_DIR_ENV, BuildError, run_build
from etl.config import WarehousePaths
from tests.dbt.hand_made import all_objects
from tests.helpers.tekton_objects import pipeline_run
from tests.helpers.warehouse import make_raw_warehouse, query

pytestmark = pytest.mark.slow

RUN_VALUES = Path("models/marts/core/fct_run_values.sql")
RUN_VALUES_YAML = Path("models/marts/core/_core__run_values.yml")
LINEAGE_MODELS = Path("models/marts/supply_chain")
STAGING_MODELS = Path("models/staging/tekton")


def _late_run() -> dict[str, Any]:
    """A new run with params: fct_run_values gets rows for it in the next (incremental) build."""
    return pipeline_run(
        "uid-late",
        "build-late",
        pipeline_ref="build",
        created="2024-05-06T10:00:00Z",
        started="2024-05-06T10:00:01Z",
        completed="2024-05-06T10:01:01Z",
        condition=("True", "Succeeded"),
        params={"REPO_URL": "https://github.com/org/app", "revision": "abc1234"},
    )


def _compiled_test_sql(paths: WarehousePaths, prefix: str) -> str:
    found = sorted((paths.dbt_target_dir / "run").rglob(f"{prefix}*.sql"))
    assert found, f"no compiled {prefix} test"
    return found[0].read_text()


def _watermark(paths: WarehousePaths) -> tuple:
    return query(paths.warehouse_db, "select ingested_through, keyed from intermediate.build_watermark")[0]


def _built_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, WarehousePaths]:
    """A copy of the dbt project built once over the hand-made history: every incremental model built, so the
    watermark is set."""
    project = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setenv(PROJECT_DIR_ENV, str(project))
    paths = WarehousePaths(tmp_path / "home").ensure()
    make_raw_warehouse(paths.warehouse_db, all_objects())
    run_build(paths)
    assert _watermark(paths)[0] is not None
    return project, paths


def _break_model(model: Path, pattern: str, broken: str) -> str:
    """Replace the one occurrence of `pattern` in the copy's model with `broken`; returns the original model."""
    original = model.read_text()
    assert original.count(pattern) == 1
    model.write_text(original.replace(pattern, broken))
    return original


def _break_run_values(project: Path, broken_source: str) -> str:
    """Have the copy's fct_run_values read `broken_source` instead of `run_values`; returns the original model."""
    return _break_model(project / RUN_VALUES, "from run_values\n", f"from {broken_source}\n")


def test_scoped_uniqueness_test_fails_on_a_duplicate_of_an_affected_run_and_clears_the_watermark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, paths = _built_copy(tmp_path, monkeypatch)
    assert "build_keyed_models" not in _compiled_test_sql(paths, "unique_columns_fct_run_values")

    # A broken model: every row it recomputes comes out twice (in an incremental build: the affected runs' rows).
    original = _break_run_values(
        project, "(select * from run_values union all select * from run_values) as doubled"
    )
    make_raw_warehouse(paths.warehouse_db, [_late_run()])
    with pytest.raises(BuildError) as failure:
        run_build(paths)
    assert "unique_columns_fct_run_values" in str(failure.value)
    scoped = _compiled_test_sql(paths, "unique_columns_fct_run_values")
    assert "build_keyed_models" in scoped and "int_build__affected_runs" in scoped
    keyed = query(paths.warehouse_db, "select model from marts_db.intermediate.build_keyed_models")
    assert ("fct_run_values",) in keyed
    # Not a finished build: the next one must not key on it.
    assert _watermark(paths) == (None, False)

    # Fixed model: the next build recomputes everything in place and tests the whole tables again.
    (project / RUN_VALUES).write_text(original)
    run_build(paths)
    assert query(paths.warehouse_db, "select count(*) from intermediate.int_build__affected_runs") == [(0,)]
    assert "build_keyed_models" not in _compiled_test_sql(paths, "unique_columns_fct_run_values")
    duplicates = query(
        paths.warehouse_db,
        "select count(*) from (select cluster, run_uid, value_kind, name from marts.fct_run_values "
        "group by all having count(*) > 1)",
    )
    assert duplicates == [(0,)]
    assert _watermark(paths)[0] is not None


# model -> (its file in the project, the pattern to break, the broken text, its key test's file prefix, a text of the
# scope). dbt shortens long test names: fct_lineage_edges' key test file is unique_columns_fct_lineage_edg_<hash>.
SCOPED_BREAKS = {
    # In an incremental build, every changed lineage node comes out twice.
    "fct_lineage_nodes": (
        LINEAGE_MODELS / "fct_lineage_nodes.sql",
        "from {{ ref('int_lineage__node_changes') }}\nwhere node_key is not null",
        "from (select * from {{ ref('int_lineage__node_changes') }} union all "
        "select * from {{ ref('int_lineage__node_changes') }}) as doubled\nwhere node_key is not null",
        "unique_columns_fct_lineage_nodes_node_id",
        "int_lineage__node_changes",
    ),
    # The affected runs' commit edges come out twice; consumed_by edges, rebuilt always, are in scope too.
    "fct_lineage_edges": (
        LINEAGE_MODELS / "fct_lineage_edges.sql",
        "select * from commit_triggers\n",
        "select * from commit_triggers\nunion all\nselect * from commit_triggers\n",
        "unique_columns_fct_lineage_edg_",
        "consumed_by",
    ),
    # A staging model: the PipelineRuns whose raw object is new come out twice (the late run).
    "stg_tekton__pipeline_runs": (
        STAGING_MODELS / "stg_tekton__pipeline_runs.sql",
        "from resolved\n",
        "from (select * from resolved union all select * from resolved) as doubled\n",
        "unique_columns_stg_tekton__pip",
        "ingested_at >=",
    ),
}


@pytest.mark.parametrize("model_name", sorted(SCOPED_BREAKS))
def test_scoped_key_test_of_a_model_keyed_otherwise_fails_on_a_duplicate_and_clears_the_watermark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_name: str
) -> None:
    """Models keyed on something else than the affected runs: the lineage read models by the second of their nodes
    (macros/lineage.sql), fct_lineage_edges by each edge's run plus its consumed_by edges, the staging models by
    the raw objects ingested since the watermark. In an incremental build their key tests read only those rows, and
    still catch a duplicate among them."""
    project, paths = _built_copy(tmp_path, monkeypatch)
    model_file, pattern, broken, test_prefix, scope_marker = SCOPED_BREAKS[model_name]
    assert "build_keyed_models" not in _compiled_test_sql(paths, test_prefix)

    model = project / model_file
    original = _break_model(model, pattern, broken)
    make_raw_warehouse(paths.warehouse_db, [_late_run()])
    with pytest.raises(BuildError) as failure:
        run_build(paths)
    assert f"unique_columns_{model_name}" in str(failure.value)
    scoped = _compiled_test_sql(paths, test_prefix)
    assert "build_keyed_models" in scoped and scope_marker in scoped
    assert _watermark(paths) == (None, False)

    # Fixed model: the next build rebuilds everything in place and tests the whole tables again.
    model.write_text(original)
    run_build(paths)
    assert "build_keyed_models" not in _compiled_test_sql(paths, test_prefix)
    assert _watermark(paths)[0] is not None


def test_key_test_fails_on_a_null_key_column_of_an_affected_run_and_names_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key test also holds the key columns' not-null checks (one test node per key, not one per rule). A null
    key column matches no affected run, so the null checks read the whole table even in a scoped build; each
    failing row says which rule it breaks."""
    project, paths = _built_copy(tmp_path, monkeypatch)

    # A broken model: the rows it recomputes (in an incremental build: the affected runs') lose their name.
    _break_run_values(
        project, "(select * replace (cast(null as varchar) as name) from run_values) as nameless"
    )
    make_raw_warehouse(paths.warehouse_db, [_late_run()])
    with pytest.raises(BuildError) as failure:
        run_build(paths)
    assert "unique_columns_fct_run_values" in str(failure.value)
    # The test's own query (target/compiled; target/run holds dbt's count wrapper around it).
    compiled = sorted((paths.dbt_target_dir / "compiled").rglob("unique_columns_fct_run_values*.sql"))
    assert compiled, "no compiled unique_columns_fct_run_values test"
    test_sql = compiled[0].read_text()
    assert "build_keyed_models" in test_sql, "the build was keyed: the duplicate check is scoped"
    failing = query(paths.warehouse_db, f"select broken_rule, occurrences from ({test_sql}) as failing")
    # The late run's two params lost their name: two null names, which also collide on the key.
    assert sorted(failing) == [
        ("duplicate (cluster, run_uid, value_kind, name)", 2),
        ("name is null", 2),
    ], "each failing row names the rule it breaks"
    assert _watermark(paths) == (None, False)


def test_an_edited_column_description_reaches_an_incremental_mart_and_the_others_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, paths = _built_copy(tmp_path, monkeypatch)

    def comments() -> dict[str, str]:
        rows = query(
            paths.warehouse_db,
            "select column_name, comment from duckdb_columns() where database_name = 'marts_db' "
            "and schema_name = 'marts' and table_name = 'fct_run_values'",
        )
        return dict(rows)

    before = comments()
    assert before["run_kind"] == "Always PipelineRun (the kind the comparisons cover)."
    yaml_file = project / RUN_VALUES_YAML
    original = yaml_file.read_text()
    described = "description: Always PipelineRun (the kind the comparisons cover)."
    assert original.count(described) == 1
    yaml_file.write_text(original.replace(described, "description: The run's kind."))
    make_raw_warehouse(paths.warehouse_db, [_late_run()])
    run_build(paths)
    assert _watermark(paths)[0] is not None, "an incremental build, not a full refresh"
    after = comments()
    assert after["run_kind"] == "The run's kind."
    del after["run_kind"], before["run_kind"]
    assert after == before, "the other columns keep their comments"
