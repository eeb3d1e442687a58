"""`tekton-warehouse import` of every supported format into a real warehouse file, through the real CLI."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from etl.cli import main
from etl.config import WarehousePaths
from etl.errors import SourceError
from etl.files.importer import import_files
from tests.warehouse.objects import tekton_object

OBJECTS = [
    tekton_object("pr-1"),
    tekton_object("tr-1", kind="TaskRun", rv=2),
    tekton_object("pr-2", api_version="tekton.dev/v1beta1", rv=3),
]


def rows(paths: WarehousePaths) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_db), read_only=True) as con:
        return con.execute(
            "SELECT uid, kind, source, source_ref FROM raw.tekton_objects ORDER BY uid"
        ).fetchall()


def rejects(paths: WarehousePaths) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_db), read_only=True) as con:
        return con.execute(
            "SELECT source_ref, reason, payload FROM raw.rejects ORDER BY source_ref"
        ).fetchall()


def run_import(paths: WarehousePaths, *files: Path, capsys=None) -> str:
    assert main(["import", "--home", str(paths.home), *map(str, files)]) == 0
    return capsys.readouterr().out if capsys else ""


def kubectl_list(kind: str = "List") -> dict:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": ""}, "items": OBJECTS}


def results_response(casing: str) -> dict:
    records = [
        {
            "name": f"ci/results/r/records/{o['metadata']['uid']}",
            "data": {
                "type": f"{o['apiVersion']}.{o['kind']}",
                "value": base64.b64encode(json.dumps(o).encode()).decode(),
            },
            ("update_time" if casing == "snake" else "updateTime"): "2024-05-01T12:00:00Z",
        }
        for o in OBJECTS
    ]
    token = "next_page_token" if casing == "snake" else "nextPageToken"
    return {"records": records, token: ""}


def write(path: Path, text: str | bytes, gz: bool = False) -> Path:
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


FORMATS = {
    "kubectl_list": lambda: json.dumps(kubectl_list(), indent=2),
    "pipelinerun_list": lambda: json.dumps(kubectl_list("PipelineRunList"), indent=4),
    "ndjson": lambda: "\n".join(json.dumps(o) for o in OBJECTS) + "\n",
    "json_array": lambda: json.dumps(OBJECTS, indent=1),
    "yaml_multi_doc": lambda: "---\n" + "---\n".join(yaml.safe_dump(o) for o in OBJECTS),
    "yaml_list": lambda: yaml.safe_dump(kubectl_list()),
    "results_rest_snake": lambda: json.dumps(results_response("snake")),
    "results_rest_camel": lambda: json.dumps(results_response("camel"), indent=2),
    "results_ndjson_pages": lambda: json.dumps(results_response("snake")) + "\n",
    "generator_records": lambda: "\n".join(
        json.dumps(
            {
                "name": f"ci/results/r/records/{o['metadata']['uid']}",
                "uid": "u",
                "type": "t",
                "update_time": "2024-05-01T12:00:00Z",
                "data": o,
            }
        )
        for o in OBJECTS
    ),
}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_loads_the_same_objects(warehouse_home, tmp_path, fmt, gz, capsys):
    # The extension says nothing: the format (and the compression) is sniffed from the content.
    path = write(tmp_path / "export.data", FORMATS[fmt](), gz=gz)
    out = run_import(warehouse_home, path, capsys=capsys)
    assert out.strip() == "loaded 3, unchanged 0, rejected 0 (see raw.rejects)"
    loaded = rows(warehouse_home)
    assert [(uid, kind, source) for uid, kind, source, _ in loaded] == [
        ("pr-1", "PipelineRun", "file"),
        ("pr-2", "PipelineRun", "file"),
        ("tr-1", "TaskRun", "file"),
    ]
    assert all(ref.startswith(f"{path}:") for *_, ref in loaded)
    with duckdb.connect(str(warehouse_home.warehouse_db), read_only=True) as con:
        stored = json.loads(
            con.execute("SELECT object FROM raw.tekton_objects WHERE uid = 'tr-1'").fetchone()[0]
        )
    assert stored["metadata"]["creationTimestamp"] == "2024-05-01T10:00:00Z", (
        "timestamps stay strings (YAML too)"
    )
    assert stored["status"]["conditions"][0]["reason"] == "Succeeded"


def test_source_refs_name_line_or_position(warehouse_home, tmp_path):
    ndjson = write(tmp_path / "runs.ndjson", "\n".join(json.dumps(o) for o in OBJECTS) + "\n")
    listing = write(tmp_path / "list.json", json.dumps(kubectl_list()))
    import_files(warehouse_home, [ndjson, listing])
    refs = {uid: ref for uid, _, _, ref in rows(warehouse_home)}
    # The list was imported second and has the same uids at the same versions: the NDJSON rows stay.
    assert refs == {"pr-1": f"{ndjson}:1", "tr-1": f"{ndjson}:2", "pr-2": f"{ndjson}:3"}
    import_files(warehouse_home, [listing], cluster="other")
    with duckdb.connect(str(warehouse_home.warehouse_db), read_only=True) as con:
        other = dict(
            con.execute("SELECT uid, source_ref FROM raw.tekton_objects WHERE cluster = 'other'").fetchall()
        )
    assert other["tr-1"] == f"{listing}:1#1"


@pytest.mark.parametrize(
    "line_end, indent",
    [("\r\n", ""), ("\n", "  "), ("\n", "\t"), ("\n\n", "")],
    ids=["crlf", "spaces", "tab", "blank"],
)
def test_blanks_around_ndjson_lines_are_not_stored(tmp_path, line_end, indent):
    """Plain NDJSON takes the reader's fast path (cut each line's newline); any other blank around a line takes the
    general trim. Both store the same text, line numbers aside."""

    def stored_objects(text: str, home: str) -> list[tuple]:
        paths = WarehousePaths(tmp_path / home)
        run_import(paths, write(tmp_path / f"{home}.ndjson", text))
        with duckdb.connect(str(paths.warehouse_db), read_only=True) as con:
            return con.execute(
                "SELECT uid, object_hash, object FROM raw.tekton_objects ORDER BY uid"
            ).fetchall()

    # Without bulky fields the strip leaves the text as it came: a blank left over would be stored.
    objects = [
        tekton_object(uid, managed_fields=False, embedded_spec=False) for uid in ("pr-1", "pr-2", "tr-1")
    ]
    lines = [json.dumps(o, separators=(",", ":")) for o in objects]
    plain = stored_objects("\n".join(lines) + "\n", "plain")
    assert [uid for uid, *_ in plain] == ["pr-1", "pr-2", "tr-1"]
    assert all(not text[0].isspace() and not text[-1].isspace() for *_, text in plain)
    assert stored_objects("".join(indent + line + line_end for line in lines), "padded") == plain


def test_bad_lines_are_rejected_and_good_lines_load(warehouse_home, tmp_path, capsys):
    lines = [
        json.dumps(OBJECTS[0]),
        "{broken",
        "",
        json.dumps(OBJECTS[1]),
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"uid": "p"}}',
    ]
    path = write(tmp_path / "mixed.ndjson", "\n".join(lines) + "\n")
    out = run_import(warehouse_home, path, capsys=capsys)
    assert out.strip() == "loaded 2, unchanged 0, rejected 2 (see raw.rejects)"
    assert [(ref, reason) for ref, reason, _ in rejects(warehouse_home)] == [
        (f"{path}:2", "invalid JSON"),
        (f"{path}:5", "apiVersion v1 is not tekton.dev/*"),
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"kind": "List", "items": [', "not valid JSON, NDJSON or YAML"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "invalid YAML"),
        ("", "empty file"),
        ("just a sentence", "not JSON, NDJSON or YAML objects"),
    ],
)
def test_unparseable_files_become_rejects_not_tracebacks(warehouse_home, tmp_path, content, reason, capsys):
    path = write(tmp_path / "broken.json", content)
    out = run_import(warehouse_home, path, capsys=capsys)
    assert out.strip() == "loaded 0, unchanged 0, rejected 1 (see raw.rejects)"
    [(ref, recorded_reason, payload)] = rejects(warehouse_home)
    assert recorded_reason.startswith(reason)
    assert ref.startswith(str(path))
    if content and isinstance(content, str):
        assert payload == content, "the file's text is kept"


def test_one_broken_yaml_document_does_not_hide_the_others(warehouse_home, tmp_path):
    docs = [yaml.safe_dump(OBJECTS[0]), "metadata: [unclosed\n", yaml.safe_dump(OBJECTS[1])]
    path = write(tmp_path / "runs.yaml", "---\n".join(docs))
    report = import_files(warehouse_home, [path])
    assert (report.counts.loaded, report.counts.rejected) == (2, 1)
    [(ref, reason, payload)] = rejects(warehouse_home)
    assert ref == f"{path}:2" and reason.startswith("invalid YAML") and payload == "metadata: [unclosed\n"


def test_importing_again_changes_nothing(warehouse_home, tmp_path, capsys):
    path = write(tmp_path / "runs.ndjson", "\n".join(json.dumps(o) for o in OBJECTS) + "\n{bad\n")
    run_import(warehouse_home, path)
    first = (rows(warehouse_home), rejects(warehouse_home))
    capsys.readouterr()
    out = run_import(warehouse_home, path, capsys=capsys)
    assert out.strip() == "loaded 0, unchanged 3, rejected 1 (see raw.rejects)"
    assert (rows(warehouse_home), rejects(warehouse_home)) == first


def test_missing_file_is_a_clear_error_and_writes_nothing(warehouse_home, tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        import_files(warehouse_home, [tmp_path / "nope.json"])
    assert not warehouse_home.warehouse_db.exists()


def test_cli_reports_missing_file_in_one_line(warehouse_home, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "etl.cli", "import", "--home", str(warehouse_home.home), str(tmp_path / "nope")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"tekton-warehouse import: error: no such file: {tmp_path / 'nope'}; pass paths to exported JSON, YAML or NDJSON files"
    )


def test_progress_lines_on_request(warehouse_home, tmp_path):
    path = write(tmp_path / "runs.ndjson", "\n".join(json.dumps(tekton_object(f"u{i}")) for i in range(30)))
    config = write(tmp_path / "sources.yaml", "ingest:\n  batch_size: 10\n")
    result = subprocess.run(
        [sys.executable, "-m", "etl.cli", "import", "--home", str(warehouse_home.home), "--config", str(config),
         "--progress", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    progress = result.stderr.strip().splitlines()
    assert len(progress) == 3 and progress[-1].startswith(f"{path}: 100.0%  30 objects")
    assert result.stdout.strip() == "loaded 30, unchanged 0, rejected 0 (see raw.rejects)"


def test_ndjson_with_long_lines_is_still_read_line_by_line(warehouse_home, tmp_path):
    big = tekton_object("big")
    big["spec"]["padding"] = "x" * 300_000  # longer than any read buffer's peek
    path = write(
        tmp_path / "long.ndjson", "\n\n" + json.dumps(big) + "\n{broken\n" + json.dumps(OBJECTS[0]) + "\n"
    )
    report = import_files(warehouse_home, [path])
    assert (report.counts.loaded, report.counts.rejected) == (2, 1)
    assert [(ref, reason) for ref, reason, _ in rejects(warehouse_home)] == [(f"{path}:4", "invalid JSON")]
