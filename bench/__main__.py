"""`python -m bench [NAME ...]`: run every benchmark module `bench/bench_*.py` (or the named ones).

Each module exposes `main() -> None`, runs its measured steps against a baseline in the same run, and records its
figures with `bench.common.write_section`.
"""

from __future__ import annotations

import importlib
import sys

from bench.common import BENCH_DIR


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))
    for name in names:
        print(f"== bench {name}", flush=True)
        importlib.import_module(f"bench.bench_{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
