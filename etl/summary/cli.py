"""`tekton-warehouse summary`: write the daily reliability summary and optionally deliver it."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta

from etl.cli import add_home_argument
from etl.config import config_file_for, load_sources_config, resolve_home
from etl.errors import ConfigError
from etl.summary.delivery import configured_channels, deliver, summary_message
from etl.summary.report import DEFAULT_FLAKY_WINDOW_DAYS, build_summary


def parse_day(text: str) -> date:
    """`YYYY-MM-DD`, or `yesterday` (UTC wall clock: only when explicitly asked, the default comes from the data)."""
    if text == "yesterday":
        return datetime.now(UTC).date() - timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD or 'yesterday')") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "summary",
        help="write the daily reliability summary (JSON, Markdown, HTML) and optionally deliver it",
        description="Write <home>/reports/daily/D.{json,md,html} from the published marts. D defaults to the newest "
        "complete UTC day in the data (not the wall clock).",
    )
    add_home_argument(parser)
    parser.add_argument("--config", default=None, help="sources config (default <home>/sources.yaml)")
    parser.add_argument("--date", type=parse_day, default=None, help="UTC day YYYY-MM-DD, or 'yesterday'")
    parser.add_argument(
        "--deliver",
        action="store_true",
        help="send it to the channels configured under delivery: in the config",
    )
    parser.add_argument(
        "--flaky-window-days",
        type=int,
        default=DEFAULT_FLAKY_WINDOW_DAYS,
        help=f"'newly flaky' means no evidence in this many days before (default {DEFAULT_FLAKY_WINDOW_DAYS})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.flaky_window_days < 1:
        raise ConfigError(f"--flaky-window-days must be at least 1 (got {args.flaky_window_days})")
    paths = resolve_home(args.home)
    config = load_sources_config(config_file_for(paths, args.config)) if args.deliver else None
    if config is not None and not configured_channels(config.delivery):
        raise ConfigError(
            "--deliver given but the sources config has no delivery: channel (slack, discord, ...)"
        )
    files = build_summary(paths, args.date, flaky_window_days=args.flaky_window_days)
    for path in (files.json_path, files.markdown_path, files.html_path):
        print(path)
    if config is not None:
        results = deliver(config.delivery, summary_message(files.summary))
        print("delivered to " + ", ".join(result.channel for result in results))
    return 0
