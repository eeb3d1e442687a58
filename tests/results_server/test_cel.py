"""The CEL subset real clients send, translated to SQL and run against a real DuckDB table."""

from __future__ import annotations

import json
import re

import duckdb
import pytest

from etl.results_server.cel import CelError, to_sql

ROWS = [
    # parent, record_name, type, update_time, namespace, name, pipeline label, reason, startTime
    (
        "team-a",
        "r1",
        "tekton.dev/v1.PipelineRun",
        "2026-03-01T10:00:00Z",
        "team-a",
        "hello-1",
        "build",
        "Succeeded",
        "2026-03-01T09:00:00Z",
    ),
    (
        "team-a",
        "r2",
        "tekton.dev/v1.TaskRun",
        "2026-03-02T10:00:00Z",
        "team-a",
        "hello-2",
        "build",
        "Failed",
        "2026-03-02T09:00:00Z",
    ),
    (
        "team-b",
        "r3",
        "tekton.dev/v1beta1.PipelineRun",
        "2026-03-03T10:00:00Z",
        "team-b",
        "bye-3",
        "deploy",
        "Running",
        None,
    ),
    (
        "team-b",
        "r4",
        "tekton.dev/v1beta1.TaskRun",
        "2026-03-04T10:00:00Z",
        "team-b",
        "o'neil",
        "it's",
        None,
        "2026-03-04T09:00:00Z",
    ),
]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE records (parent VARCHAR, result_name VARCHAR, record_name VARCHAR, uid VARCHAR, type VARCHAR,"
        " data JSON, create_time TIMESTAMPTZ, update_time TIMESTAMPTZ)"
    )
    for parent, record, type_, updated, namespace, name, pipeline, reason, started in ROWS:
        status = {"conditions": [{"status": "True", "reason": reason}]} if reason else {}
        if started:
            status["startTime"] = started
        data = {
            "metadata": {"namespace": namespace, "name": name, "labels": {"tekton.dev/pipeline": pipeline}}
        }
        data["status"] = status
        con.execute(
            "INSERT INTO records VALUES (?, 'res', ?, ?, ?, ?::JSON, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ)",
            [parent, record, f"uid-{record}", type_, json.dumps(data), updated, updated],
        )
    return con


def matching(con: duckdb.DuckDBPyConnection, cel: str) -> list[str]:
    sql = to_sql(cel)
    return [
        row[0] for row in con.execute(f"SELECT record_name FROM records WHERE {sql} ORDER BY 1").fetchall()
    ]


@pytest.mark.parametrize(
    ("cel", "expected"),
    [
        ("", ["r1", "r2", "r3", "r4"]),
        ("data_type == PIPELINE_RUN", ["r1"]),  # the constants only match v1 rows, like the real server
        ("data_type == TASK_RUN || data_type == 'tekton.dev/v1beta1.TaskRun'", ["r2", "r4"]),
        ('data_type in ["tekton.dev/v1.PipelineRun", "tekton.dev/v1beta1.PipelineRun"]', ["r1", "r3"]),
        ('data.metadata.labels["tekton.dev/pipeline"] == "build"', ["r1", "r2"]),
        ("data.metadata.labels['tekton.dev/pipeline'] == 'it\\'s'", ["r4"]),
        ('data.metadata.namespace == "team-b" && data.metadata.name.startsWith("bye")', ["r3"]),
        ('data.metadata.name.endsWith("-2")', ["r2"]),
        ('data.metadata.name.contains("ell")', ["r1", "r2"]),
        ('data.metadata.labels.contains("deploy")', ["r3"]),  # over the map's JSON text, like Postgres
        ('!(data.status.conditions[0].reason == "Succeeded")', ["r2", "r3"]),
        ('data.status.conditions[0].reason != "Succeeded"', ["r2", "r3"]),
        ('update_time > timestamp("2026-03-02T10:00:00Z")', ["r3", "r4"]),
        (
            'update_time >= timestamp("2026-03-02T10:00:00Z") && update_time < timestamp("2026-03-04T00:00:00Z")',
            ["r2", "r3"],
        ),
        ('create_time <= timestamp("2026-03-01T10:00:00Z")', ["r1"]),
        ('data.status.startTime < timestamp("2026-03-03T00:00:00Z")', ["r1", "r2"]),
        ('parent == "team-a" && !(name == "r1")', ["r2"]),
        ("data.status.conditions == null", ["r4"]),
        (
            '(data_type == PIPELINE_RUN || data_type == TASK_RUN) && data.metadata.namespace == "team-a"',
            ["r1", "r2"],
        ),
    ],
)
def test_filter_selects_the_same_rows_as_the_real_server(
    con: duckdb.DuckDBPyConnection, cel: str, expected: list[str]
) -> None:
    assert matching(con, cel) == expected


@pytest.mark.parametrize(
    ("cel", "message"),
    [
        ("size(data.metadata.labels) > 1", "unsupported CEL function size()"),
        ("data_type", "expected boolean expression"),
        ("dat_type == PIPELINE_RUN", "undeclared reference to 'dat_type'"),
        ('data_type == "x" &&', "end of filter"),
        ('create_time > "2026-01-01"', "cannot compare"),
        ("data.status.completionTime - data.status.startTime > duration('5m')", "unexpected character '-'"),
        ('timestamp("yesterday") < create_time', "not an RFC 3339 time"),
        ("data.metadata.name.matches()", "takes one string literal"),
        ('data_type == "x" ; drop table records', "unexpected character ';'"),
    ],
)
def test_unsupported_or_invalid_filters_are_rejected(cel: str, message: str) -> None:
    with pytest.raises(CelError, match=re.escape(message)):
        to_sql(cel)


def test_literals_cannot_break_out_of_sql_strings(con: duckdb.DuckDBPyConnection) -> None:
    assert matching(con, "data.metadata.name == \"x' OR '1'='1\"") == []
    assert matching(con, 'data.metadata.name == "o\'neil"') == ["r4"]
