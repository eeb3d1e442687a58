"""`tekton-warehouse generate`: write a synthetic Tekton history (objects, Results records, ground truth)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from etl.synth import DEFAULT_END_DATE, FORMATS, GenerateError, generate


def _end_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--end-date wants YYYY-MM-DD, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="write a synthetic Tekton history with known injected truths",
        description="Generate a deterministic, realistic Tekton history into DIR: objects.ndjson (Kubernetes "
        "objects), records.ndjson (the same as Tekton Results records) and ground_truth.json (what the marts must "
        "find). About 1,000,000 objects (~200,000 PipelineRuns and their TaskRuns): --days 30 --pipelines 1042 "
        "--namespaces 20 --runs-per-day 6.",
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="output folder (created if missing)"
    )
    parser.add_argument("--days", type=int, default=30, help="whole UTC days of history (default 30)")
    parser.add_argument(
        "--pipelines", type=int, default=40, help="pipelines in the organisation (default 40)"
    )
    parser.add_argument(
        "--runs-per-day", type=float, default=3.0, help="pushes per build/ci pipeline per weekday (default 3)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed; same seed, same bytes (default 1)")
    parser.add_argument(
        "--end-date",
        type=_end_date,
        default=DEFAULT_END_DATE,
        help=f"history ends at this date's midnight UTC (default {DEFAULT_END_DATE.isoformat()})",
    )
    parser.add_argument("--namespaces", type=int, default=4, help="namespaces (teams) (default 4)")
    parser.add_argument(
        "--v1beta1-share",
        type=float,
        default=0.2,
        help="share of runs written as tekton.dev/v1beta1 (default 0.2)",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="both", help="which run files to write (default both)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = generate(
            args.out,
            days=args.days,
            pipelines=args.pipelines,
            runs_per_day=args.runs_per_day,
            seed=args.seed,
            end_date=args.end_date,
            namespaces=args.namespaces,
            v1beta1_share=args.v1beta1_share,
            fmt=args.format,
        )
    except OSError as exc:
        raise GenerateError(f"cannot write to {args.out}: {exc.strerror or exc}") from exc
    print(
        f"wrote {report.objects} objects ({report.pipeline_runs} PipelineRuns, {report.task_runs} TaskRuns) "
        f"to {report.out_dir} in {report.seconds:.1f}s"
    )
    return 0
