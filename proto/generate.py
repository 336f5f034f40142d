"""Regenerate the checked-in Python code for the wire contract.

Usage: python proto/generate.py [OUT_DIR]   (default: proto/, in place)

Uses grpcio-tools' bundled protoc plus the mypy-protobuf plugins, both
pinned in the ``dev`` extra so that regeneration is byte-for-byte stable;
tests/test_proto_current.py regenerates into a temp dir and compares.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
PROTO = "ratwatch_proto/telemetry.proto"


def generate(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    # The mypy plugins are console scripts installed beside this interpreter.
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    args = [
        "protoc",
        f"-I{HERE}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        str(HERE / PROTO),
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise SystemExit(f"protoc failed with exit code {rc}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
