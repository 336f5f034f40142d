"""The checked-in generated wire code matches telemetry.proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GENERATED = (
    "telemetry_pb2.py",
    "telemetry_pb2.pyi",
    "telemetry_pb2_grpc.py",
    "telemetry_pb2_grpc.pyi",
)


def test_generated_code_is_current(repo: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(repo / "proto" / "generate.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in GENERATED:
        fresh = (tmp_path / "ratwatch_proto" / name).read_text()
        checked_in = (repo / "proto" / "ratwatch_proto" / name).read_text()
        assert fresh == checked_in, (
            f"proto/ratwatch_proto/{name} is stale: run `python proto/generate.py`"
        )


def test_installed_wire_package_is_the_checked_in_one(repo: Path) -> None:
    import ratwatch_proto.telemetry_pb2 as pb

    installed = Path(pb.__file__).read_text()
    assert installed == (repo / "proto" / "ratwatch_proto" / "telemetry_pb2.py").read_text()
