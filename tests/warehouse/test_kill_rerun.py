"""`kill -9` at several points of a real `tekton-warehouse ingest` process, then a re-run: the raw layer converges
to exactly what one uninterrupted ingest produces."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from etl.config import WarehousePaths
from etl.results_server.server import start_server

from .objects import tekton_object
from .test_ingest import write_records

RECORDS = 400
BATCH = 20
# A commit every three batches: kills after batches 9 and 3 land right after a commit, after 5 and 1 inside an open
# transaction. Later runs resume from the watermark and have fewer batches left, so the kill points shrink.
COMMIT_ROWS = 3 * BATCH
KILL_AFTER_BATCHES = (9, 5, 3, 1)


def config_file(path: Path, target: str) -> Path:
    path.write_text(
        f"clusters:\n- results:\n    url: {target}\n    plaintext: true\n    page_size: {BATCH}\n"
        f"ingest:\n  batch_size: {BATCH}\n  commit_rows: {COMMIT_ROWS}\n"
    )
    return path


def ingest_process(home: Path, config: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "etl.cli", "-v", "ingest", "--home", str(home), "--config", str(config)]
    return subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)


def kill_after(process: subprocess.Popen, batches: int) -> bool:
    """SIGKILL the process right after it loaded its `batches`-th batch; False if it finished first."""
    seen = 0
    assert process.stderr is not None
    for line in process.stderr:
        if "batch of" in line:
            seen += 1
            if seen == batches:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
    process.wait()
    return False


def state(home: Path) -> dict[str, list]:
    with duckdb.connect(str(WarehousePaths(home).warehouse_db), read_only=True) as con:
        return {
            "objects": con.execute(
                "SELECT * EXCLUDE (ingested_at) FROM raw.tekton_objects ORDER BY uid"
            ).fetchall(),
            "rejects": con.execute(
                "SELECT cluster, source, source_ref, reason, payload FROM raw.rejects ORDER BY ALL"
            ).fetchall(),
            "watermarks": con.execute(
                "SELECT cluster, source, kind, scope, watermark FROM raw.watermarks ORDER BY ALL"
            ).fetchall(),
        }


@pytest.mark.slow
def test_kill_at_several_points_then_rerun_converges(tmp_path):
    objects = [
        tekton_object(f"uid-{i:04d}", kind="PipelineRun" if i % 4 == 0 else "TaskRun", rv=10 + i)
        for i in range(RECORDS)
    ]
    # A record whose object the raw layer must reject: it has to end up in raw.rejects exactly once.
    objects[7]["metadata"]["uid"] = 12345
    data_dir = write_records(tmp_path / "history", objects)

    with start_server(data_dir) as server:
        config = config_file(tmp_path / "sources.yaml", server.grpc_target)
        reference_home, killed_home = tmp_path / "reference", tmp_path / "killed"
        reference = ingest_process(reference_home, config)
        assert kill_after(reference, batches=10**9) is False and reference.returncode == 0

        kills = 0
        for batches in KILL_AFTER_BATCHES:
            kills += kill_after(ingest_process(killed_home, config), batches)
        assert kills == len(KILL_AFTER_BATCHES), "every kill landed while the ingest was still running"
        final = ingest_process(killed_home, config)
        assert kill_after(final, batches=10**9) is False and final.returncode == 0

    expected, actual = state(reference_home), state(killed_home)
    assert len(expected["objects"]) == RECORDS - 1
    assert [(r[3], json.loads(r[4])["metadata"]["uid"]) for r in expected["rejects"]] == [
        ("metadata.uid is not a string", 12345)
    ]
    assert actual == expected
