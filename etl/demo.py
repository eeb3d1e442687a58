"""`tekton-warehouse demo`: the whole product on the embedded default, in one command.

Synthetic history → local Tekton Results server → ingest → dbt → published tekton.duckdb → daily summary →
Streamlit and the Dagster UI. Each step is the same code a real deployment runs; only the source is local.
"""

from __future__ import annotations

import argparse

from etl.cli import add_home_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a generated history and open the UIs",
        description="Generate a synthetic Tekton history, serve it from a local Tekton Results server, ingest it, "
        "build the marts, publish tekton.duckdb, write a daily summary, then start Streamlit and the Dagster UI.",
    )
    add_home_argument(parser)
    parser.add_argument("--days", type=int, default=30, help="days of history to generate (default 30)")
    parser.add_argument(
        "--pipelines", type=int, default=40, help="pipelines in the generated org (default 40)"
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--no-serve", action="store_true", help="build everything, then exit without starting UIs"
    )
    parser.add_argument("--streamlit-port", type=int, default=8501)
    parser.add_argument("--dagster-port", type=int, default=3000)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("wired up once the parts land (see docs/internals.md)")
