"""The bulk loader against a real DuckDB file: rejects, newest-version rules, idempotency, stripping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from etl.config import IngestSettings
from etl.errors import WarehouseError
from etl.warehouse import load as load_module
from etl.warehouse import schema as schema_module
from etl.warehouse.load import LoadCounts, load_pages
from etl.warehouse.schema import SCHEMA_VERSION, ensure_schema

from .objects import page, tekton_object

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def load(con: duckdb.DuckDBPyConnection, *pages, source: str = "file", **settings) -> LoadCounts:
    return load_pages(con, list(pages), cluster="default", source=source, settings=IngestSettings(**settings))


def stored(con: duckdb.DuckDBPyConnection, uid: str) -> dict:
    row = con.execute(
        "SELECT resource_version, source_update_time, source, source_ref, object FROM raw.tekton_objects "
        "WHERE cluster = 'default' AND uid = ?",
        [uid],
    ).fetchone()
    assert row is not None, f"{uid} not stored"
    return {"rv": row[0], "sut": row[1], "source": row[2], "ref": row[3], "object": json.loads(row[4])}


def table_contents(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    return {
        table: con.execute(f"SELECT * EXCLUDE ({exclude}) FROM raw.{table} ORDER BY ALL").fetchall()
        for table, exclude in (("tekton_objects", "ingested_at"), ("rejects", "rejected_at"))
    } | {"ingested_at": con.execute("SELECT uid, ingested_at FROM raw.tekton_objects ORDER BY 1").fetchall()}


def test_keys_are_extracted_into_columns(con):
    counts = load(con, page([tekton_object("a", kind="TaskRun", rv=42, namespace="team", name="build-1")]))
    assert (counts.fetched, counts.loaded, counts.unchanged, counts.rejected) == (1, 1, 0, 0)
    row = con.execute(
        "SELECT cluster, uid, kind, api_version, namespace, name, creation_timestamp, resource_version, source, "
        "source_ref, length(object_hash) FROM raw.tekton_objects"
    ).fetchone()
    assert row == (
        "default", "a", "TaskRun", "tekton.dev/v1", "team", "build-1", datetime(2024, 5, 1, 10, tzinfo=UTC), 42,
        "file", "test:1", 16,
    )  # fmt: skip


BAD_RECORDS = [
    (b"{not json", "invalid JSON"),
    (b"\xff\xfe{}", "invalid UTF-8"),
    (b"[1, 2]", "not a JSON object (top level is array)"),
    (b'{"apiVersion": "tekton.dev/v1", "kind": "TaskRun"}', "no metadata"),
    (
        b'{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": "x"}',
        "metadata is not an object (varchar)",
    ),
    (
        b'{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"uid": "s"}, "status": [1]}',
        "status is not an object (array)",
    ),
    (b'{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "x"}}', "no metadata.uid"),
    (b'{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"uid": ""}}', "no metadata.uid"),
    (
        b'{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"uid": 7}}',
        "metadata.uid is not a string",
    ),
    (b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"uid": "p"}}', "apiVersion v1 is not tekton.dev/*"),
    (b'{"kind": "TaskRun", "metadata": {"uid": "p"}}', "no apiVersion"),
    (b'{"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"uid": "k"}}', "unknown kind Task"),
    (b'{"apiVersion": "tekton.dev/v1", "metadata": {"uid": "k"}}', "no kind"),
    (
        b'{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"uid": "c", "creationTimestamp": "soon"}}',
        "metadata.creationTimestamp is not a timestamp: soon",
    ),
    (b"", "empty payload"),
]


def test_every_kind_of_bad_record_is_rejected_with_its_reason_while_good_ones_load(con):
    good = [tekton_object("good-1"), tekton_object("good-2", kind="TaskRun")]
    records = [good[0], *[data for data, _ in BAD_RECORDS], good[1]]
    counts = load(con, page(records))
    assert (counts.fetched, counts.loaded, counts.rejected) == (len(records), 2, len(BAD_RECORDS))
    assert con.execute("SELECT uid FROM raw.tekton_objects ORDER BY uid").fetchall() == [
        ("good-1",),
        ("good-2",),
    ]
    rejects = dict(con.execute("SELECT source_ref, reason FROM raw.rejects").fetchall())
    expected = {f"test:{i + 2}": reason for i, (_, reason) in enumerate(BAD_RECORDS)}
    assert rejects == expected
    payload = con.execute("SELECT payload FROM raw.rejects WHERE source_ref = 'test:2'").fetchone()[0]
    assert payload == "{not json", "the payload is the text as received"


def test_oversize_objects_are_rejected_without_parsing(con):
    big = tekton_object("big")
    big["spec"]["padding"] = "x" * 5000
    counts = load(con, page([big, tekton_object("small")]), max_object_bytes=4000)
    assert (counts.loaded, counts.rejected) == (1, 1)
    reason, payload = con.execute("SELECT reason, payload FROM raw.rejects").fetchone()
    assert reason.startswith("oversize: ") and "max_object_bytes (4000)" in reason
    assert json.loads(payload)["metadata"]["uid"] == "big"


def test_loading_twice_changes_nothing(con):
    batch = page([tekton_object(f"u{i}", rv=i) for i in range(20)] + [b"garbage"])
    first = load(con, batch)
    before = table_contents(con)
    second = load(con, batch)
    assert (first.loaded, second.loaded, second.unchanged, second.rejected) == (20, 0, 20, 1)
    assert table_contents(con) == before, "a re-run must leave every row (and the rejects) as they were"


@pytest.mark.parametrize("bulky", [True, False], ids=["stripped", "nothing to strip"])
def test_higher_resource_version_wins_in_either_arrival_order(con, bulky):
    # Both paths of the stored hash: objects the strip rewrites, and objects stored as they came.
    def version(rv: int, reason: str) -> dict:
        return tekton_object("a", rv=rv, reason=reason, managed_fields=bulky, embedded_spec=bulky)

    load(con, page([version(5, "Running")]))
    assert load(con, page([version(7, "Succeeded")])).loaded == 1
    older = load(con, page([version(6, "Failed")]))
    assert (older.loaded, older.unchanged) == (0, 1)
    assert stored(con, "a")["rv"] == 7
    assert stored(con, "a")["object"]["status"]["conditions"][0]["reason"] == "Succeeded"


def test_later_update_time_wins_when_resource_versions_are_missing(con):
    load(con, page([tekton_object("a", rv=None, reason="Running")], update_times=[T0]), source="results")
    older = load(con, page([tekton_object("a", rv=None, reason="Failed")], update_times=[T0 - timedelta(1)]))
    assert older.loaded == 0
    newer = load(
        con, page([tekton_object("a", rv=None, reason="Succeeded")], update_times=[T0 + timedelta(1)])
    )
    assert newer.loaded == 1
    assert stored(con, "a")["sut"] == T0 + timedelta(1)


def test_later_ingestion_wins_when_neither_rule_applies(con):
    load(con, page([tekton_object("a", rv=9, reason="Running")]))
    # No update time on either side and only one side has a resourceVersion: the later arrival wins.
    assert load(con, page([tekton_object("a", rv=None, reason="Succeeded")])).loaded == 1
    assert stored(con, "a")["rv"] is None


def test_same_version_with_other_content_is_unchanged(con):
    load(con, page([tekton_object("a", rv=3, reason="Running")]))
    same_version = load(con, page([tekton_object("a", rv=3, reason="Failed")]))
    assert (same_version.loaded, same_version.unchanged) == (0, 1)


def test_newest_version_wins_inside_one_batch(con):
    versions = [
        tekton_object("a", rv=2, reason="Running"),
        tekton_object("a", rv=4, reason="Succeeded"),
        tekton_object("a", rv=3, reason="Failed"),
        tekton_object("b", rv=None, reason="Running"),
        tekton_object("b", rv=None, reason="Succeeded"),
    ]
    counts = load(con, page(versions))
    assert (counts.loaded, counts.unchanged) == (2, 3)
    assert stored(con, "a")["rv"] == 4
    assert stored(con, "a")["ref"] == "test:2"
    assert stored(con, "b")["object"]["status"]["conditions"][0]["reason"] == "Succeeded"


@pytest.mark.parametrize("known_uids", ["kept", "over the limit"])
def test_batch_size_and_commit_size_do_not_change_the_result(
    warehouse_home, tmp_path, monkeypatch, known_uids
):
    """In-batch dedupe applies the same pairwise rule as loading the versions one batch at a time, and batches
    sharing a transaction see each other's uncommitted rows exactly as committed ones: whether the load keeps the
    stored uids' hashes to skip lookups, or (over its limit) looks every batch up in the table."""
    if known_uids == "over the limit":
        monkeypatch.setattr(load_module, "KNOWN_UIDS_LIMIT", -1)
    versions = [
        tekton_object("x", rv=None, reason="Pending"),
        tekton_object("x", rv=8, reason="Running"),
        tekton_object("x", rv=5, reason="Failed"),
        tekton_object("y", rv=3, reason="Running"),
        tekton_object("y", rv=None, reason="Succeeded"),
        tekton_object("y", rv=1, reason="Failed"),
    ]
    results = []
    for batch_size, commit_rows in ((1, 1), (2, 2), (100, 100), (1, 4), (2, 100)):
        con = duckdb.connect(str(tmp_path / f"b{batch_size}-{commit_rows}.duckdb"))
        ensure_schema(con)
        load_pages(
            con,
            [page(versions)],
            cluster="default",
            source="file",
            settings=IngestSettings(batch_size=batch_size, commit_rows=commit_rows),
        )
        results.append(
            con.execute(
                "SELECT uid, resource_version, object FROM raw.tekton_objects ORDER BY uid"
            ).fetchall()
        )
        con.close()
    assert all(result == results[0] for result in results)
    # x: rv 8 beats the unversioned one (later arrival), then 5 < 8. y: the unversioned one replaces 3 (later
    # arrival), then 1 replaces it (later arrival again): the rule is pairwise, applied in arrival order.
    assert [row[1] for row in results[0]] == [8, 1]


def test_managed_fields_and_embedded_specs_are_dropped_by_default(con):
    load(
        con, page([tekton_object("p"), tekton_object("t", kind="TaskRun"), tekton_object("n", status=False)])
    )
    pipeline_run, task_run, no_status = (
        stored(con, "p")["object"],
        stored(con, "t")["object"],
        stored(con, "n")["object"],
    )
    assert "managedFields" not in pipeline_run["metadata"] and "pipelineSpec" not in pipeline_run["status"]
    assert "taskSpec" not in task_run["status"]
    assert pipeline_run["status"]["conditions"][0]["reason"] == "Succeeded", "the rest of status is kept"
    assert pipeline_run["metadata"]["labels"] == {"tekton.dev/pipeline": "build"}
    assert "status" not in no_status and "managedFields" not in no_status["metadata"], (
        "no empty status is invented"
    )


def test_keep_full_objects_keeps_them(con):
    original = tekton_object("p")
    load(con, page([original]), keep_full_objects=True)
    assert stored(con, "p")["object"] == original


def test_max_source_update_time_covers_the_whole_load(con):
    times = [T0, T0 + timedelta(hours=2), T0 + timedelta(hours=1)]
    counts = load(
        con, page([tekton_object("a"), b"bad", tekton_object("c")], update_times=times), batch_size=2
    )
    assert counts.max_source_update_time == T0 + timedelta(hours=2)
    assert counts.batches == 2


def test_a_failing_batch_hook_rolls_the_batch_back(con):
    def fail(_con, _counts):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        load_pages(
            con, [page([tekton_object("a"), b"bad"])], cluster="default", source="file",
            settings=IngestSettings(), before_commit=fail,
        )  # fmt: skip
    assert con.execute("SELECT count(*) FROM raw.tekton_objects").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM raw.rejects").fetchone()[0] == 0


def test_clusters_are_separate_keys(con):
    batch = page([tekton_object("same-uid")])
    settings = IngestSettings()
    load_pages(con, [batch], cluster="east", source="file", settings=settings)
    load_pages(con, [batch], cluster="west", source="file", settings=settings)
    assert con.execute("SELECT cluster FROM raw.tekton_objects ORDER BY 1").fetchall() == [
        ("east",),
        ("west",),
    ]


def test_unknown_source_and_wrong_page_schema_are_clear_errors(con):
    with pytest.raises(WarehouseError, match="unknown source"):
        load(con, page([tekton_object("a")]), source="ftp")
    with pytest.raises(WarehouseError, match="SOURCE_PAGE_SCHEMA"):
        load(con, page([tekton_object("a")]).drop_columns(["data"]))


def test_schema_is_versioned_and_reopening_is_a_no_op(con):
    assert ensure_schema(con) == SCHEMA_VERSION
    assert con.execute("SELECT count(*) FROM raw.schema_version").fetchone()[0] == SCHEMA_VERSION
    con.execute("INSERT INTO raw.schema_version VALUES (?, now())", [SCHEMA_VERSION + 1])
    with pytest.raises(WarehouseError, match="newer release"):
        ensure_schema(con)


def test_a_path_with_a_quote_opens_and_reopens(tmp_path):
    # The file is ATTACHed by its path as SQL text (ATTACH takes no bound parameter).
    path = tmp_path / "o'brien's home" / "warehouse.duckdb"
    path.parent.mkdir()
    con = schema_module.connect(path)
    try:
        assert load(con, page([tekton_object("a")])).loaded == 1
    finally:
        con.close()
    con = schema_module.connect(path)
    try:
        assert con.execute("SELECT uid FROM raw.tekton_objects").fetchall() == [("a",)]
        assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == f"{path}.tmp"
    finally:
        con.close()


def test_a_v1_warehouse_is_migrated_in_place_keeping_its_objects(tmp_path):
    """v2 drops the primary-key index of raw.tekton_objects (the loader keeps uids unique): a file written by v1
    keeps every row and column, and loads into it go on following the newest-version rule."""
    path = tmp_path / "v1.duckdb"
    v1 = duckdb.connect(str(path))
    v1.execute("CREATE SCHEMA raw")
    v1.execute("CREATE TABLE raw.schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
    v1.execute(schema_module._MIGRATIONS[0])
    v1.execute("INSERT INTO raw.schema_version VALUES (1, now())")
    load(v1, page([tekton_object("a", rv=1), tekton_object("b", rv=1)]))
    before = table_contents(v1)
    v1.close()

    con = duckdb.connect(str(path))
    assert ensure_schema(con) == SCHEMA_VERSION == 2
    assert table_contents(con) == before
    kinds = con.execute(
        "SELECT DISTINCT constraint_type FROM duckdb_constraints() WHERE table_name = 'tekton_objects'"
    ).fetchall()
    assert kinds == [("NOT NULL",)]
    counts = load(con, page([tekton_object("a", rv=2), tekton_object("b", rv=1), tekton_object("c", rv=1)]))
    assert (counts.loaded, counts.unchanged) == (2, 1)
    assert con.execute("SELECT uid, resource_version FROM raw.tekton_objects ORDER BY uid").fetchall() == [
        ("a", 2),
        ("b", 1),
        ("c", 1),
    ]


@pytest.mark.parametrize("commit_rows", [1, 1000])
def test_a_source_failing_mid_stream_keeps_the_batches_already_loaded(con, commit_rows):
    """Whether or not the loaded batches were committed yet, a source error commits them before it surfaces."""
    from etl.errors import SourceError

    def pages():
        yield page([tekton_object("first")])
        yield page([tekton_object("second")])
        raise SourceError("server went away")

    settings = IngestSettings(batch_size=1, commit_rows=commit_rows)
    with pytest.raises(SourceError, match="server went away"):
        load_pages(con, pages(), cluster="default", source="results", settings=settings)
    assert con.execute("SELECT uid FROM raw.tekton_objects ORDER BY uid").fetchall() == [
        ("first",),
        ("second",),
    ]


def test_staged_rows_are_put_back_in_arrival_order_if_they_come_out_of_it():
    # DuckDB keeps the order on one thread; should a later version not, the stage must still line its rows up.
    shuffled = pa.table({"seq": [2, 0, 1], "uid": ["c", "a", "b"]})
    assert load_module._in_arrival_order(shuffled).to_pydict() == {"uid": ["a", "b", "c"]}
    in_order = pa.table({"seq": [0, 1], "uid": ["a", "b"]})
    assert load_module._in_arrival_order(in_order).to_pydict() == {"uid": ["a", "b"]}
