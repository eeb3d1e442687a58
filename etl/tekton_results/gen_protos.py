"""Regenerate the Python stubs in `etl/tekton_results/gen/` from our .proto files (`make protos`).

The generated modules import each other as top-level `tekton.results...` packages; we rewrite those imports to
`etl.tekton_results.gen.tekton.results...` so the stubs work from inside our package without touching `sys.path`.
A test regenerates into a temp dir and compares, so committed stubs never drift from the .proto files.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROTO_ROOT = PACKAGE_DIR / "proto"
GEN_DIR = PACKAGE_DIR / "gen"
GEN_PACKAGE = "etl.tekton_results.gen"

_IMPORT_RE = re.compile(r"^(from|import) tekton\.", re.M)


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def _include_dirs() -> list[str]:
    """Our proto root, googleapis-common-protos (google/api/*.proto), and grpc_tools' google/protobuf."""
    import google.api
    import grpc_tools

    googleapis_root = Path(google.api.__path__[0]).parent.parent
    well_known = Path(grpc_tools.__path__[0]) / "_proto"
    return [str(PROTO_ROOT), str(googleapis_root), str(well_known)]


def generate(out_dir: Path) -> None:
    """Write the stubs (with fixed imports and package `__init__.py` files) into `out_dir`."""
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["grpc_tools.protoc", *(f"-I{d}" for d in _include_dirs())]
    args += [f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}"]
    args += [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed: {' '.join(args)}")
    for path in sorted(out_dir.rglob("*.py*")):
        if path.suffix in {".py", ".pyi"}:
            path.write_text(_IMPORT_RE.sub(rf"\1 {GEN_PACKAGE}.tekton.", path.read_text()))
    for folder in [out_dir, *sorted(p for p in out_dir.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=GEN_DIR, help="output folder (default: the committed stubs)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(tmp, args.out)
    print(f"wrote stubs for {len(proto_files())} .proto files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
