"""`tekton-warehouse generate`: flags, output summary and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.cli import main


def test_generate_writes_the_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["generate", "--out", str(tmp_path), "--days", "2", "--pipelines", "5", "--seed", "9",
                 "--end-date", "2026-03-02", "--namespaces", "2", "--v1beta1-share", "0.5"])  # fmt: skip
    assert code == 0
    assert "PipelineRuns" in capsys.readouterr().out
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert truth["parameters"]["end_date"] == "2026-03-02" and truth["parameters"]["namespaces"] == 2
    assert truth["parameters"]["history_start"] == "2026-02-28T00:00:00Z"
    first = json.loads((tmp_path / "objects.ndjson").open().readline())
    assert first["metadata"]["creationTimestamp"] >= "2026-02-28T00:00:00Z"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--days", "0"], "--days must be at least 1"),
        (["--pipelines", "0"], "--pipelines must be at least 1"),
        (["--runs-per-day", "0"], "--runs-per-day must be positive"),
        (["--v1beta1-share", "1.5"], "--v1beta1-share must be between 0 and 1"),
        (["--namespaces", "0"], "--namespaces must be at least 1"),
    ],
)
def test_bad_numbers_give_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(["generate", "--out", str(tmp_path / "h"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "h").exists()


def test_bad_end_date_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--out", str(tmp_path), "--end-date", "2026-13-01"])
    assert exc.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_out_that_is_a_file_is_rejected_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "taken"
    target.write_text("keep me")
    assert main(["generate", "--out", str(target), "--days", "1", "--pipelines", "2"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_existing_output_is_replaced_whole_and_other_files_kept(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "objects.ndjson").write_text("old\n")
    assert main(["generate", "--out", str(tmp_path), "--days", "1", "--pipelines", "3"]) == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert "old" not in (tmp_path / "objects.ndjson").read_text()
