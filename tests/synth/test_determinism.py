"""Same seed, same bytes; another seed, another history; the wall clock never leaks in."""

from __future__ import annotations

from pathlib import Path

from etl.synth import generate

SMALL = {"days": 3, "pipelines": 8, "runs_per_day": 2.0}
FILES = ("objects.ndjson", "records.ndjson", "ground_truth.json")


def _bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in FILES}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=3, **SMALL)
    generate(tmp_path / "b", seed=3, **SMALL)
    first, second = _bytes(tmp_path / "a"), _bytes(tmp_path / "b")
    assert all(first[name] for name in FILES)
    assert first == second


def test_different_seed_gives_different_history(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=3, **SMALL)
    generate(tmp_path / "b", seed=4, **SMALL)
    first, second = _bytes(tmp_path / "a"), _bytes(tmp_path / "b")
    assert first["objects.ndjson"] != second["objects.ndjson"]
    assert first["records.ndjson"] != second["records.ndjson"]


def test_format_option_limits_the_run_files(tmp_path: Path) -> None:
    report = generate(tmp_path / "o", seed=3, fmt="ndjson", **SMALL)
    assert (tmp_path / "o" / "objects.ndjson").exists()
    assert not (tmp_path / "o" / "records.ndjson").exists()
    assert (tmp_path / "o" / "ground_truth.json").exists()
    assert report.files == (tmp_path / "o" / "objects.ndjson", tmp_path / "o" / "ground_truth.json")
    generate(tmp_path / "r", seed=3, fmt="records", **SMALL)
    assert not (tmp_path / "r" / "objects.ndjson").exists()
    both = generate(tmp_path / "b", seed=3, **SMALL)
    # The records file carries exactly the objects of the objects file, whichever files were asked for.
    assert (tmp_path / "r" / "records.ndjson").read_bytes() == (
        tmp_path / "b" / "records.ndjson"
    ).read_bytes()
    assert both.objects == report.objects


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    generate(tmp_path, seed=3, **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
