"""The `tekton-warehouse` command.

Each subcommand lives next to the code it drives and exposes ``register(subparsers)``; this module only wires them
together, resolves the warehouse folder, and turns `WarehouseError` into one readable line (exit 2) instead of a
traceback. Modules are imported lazily so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from etl.config import DEFAULT_HOME, HOME_ENV
from etl.errors import WarehouseError

PROG = "tekton-warehouse"

# Modules that each add one or more subcommands through `register(subparsers)`.
COMMAND_MODULES: tuple[str, ...] = (
    "etl.demo",
    "etl.synth.cli",
    "etl.summary.cli",
    "etl.build",
    "etl.results_server.cli",
    "etl.warehouse.cli",
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a wrong flag as one line naming the subcommand's --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def add_home_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        default=None,
        help=f"warehouse folder that holds every file we write (env {HOME_ENV}, default {DEFAULT_HOME}/)",
    )


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Batch ETL and data warehouse for Tekton pipeline history.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except WarehouseError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
