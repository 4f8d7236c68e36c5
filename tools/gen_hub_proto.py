#!/usr/bin/env python3
"""Generate the workstation hub's protobuf messages from ``src/agent/hub/proto/compliance.proto``.

    python tools/gen_hub_proto.py                 # rewrite the checked-in modules
    python tools/gen_hub_proto.py --out DIR       # write them into DIR instead
    python tools/gen_hub_proto.py --check         # exit 1 when the checked-in ones are stale

The generator is grpcio-tools' bundled ``protoc`` (the version pinned in the ``test`` extra,
so the output is byte-for-byte reproducible): ``compliance_pb2.py`` and its typing stub
``compliance_pb2.pyi``. The service itself is not generated: ``agent/hub/service.py`` maps
the five methods by hand (grpclib's ``__mapping__``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "src" / "agent" / "hub" / "proto"
PROTO = "compliance.proto"
OUTPUTS = ("compliance_pb2.py", "compliance_pb2.pyi")


def generate(out: Path) -> None:
    """Run protoc for our .proto into ``out`` (raises ``RuntimeError`` when protoc fails)."""
    from grpc_tools import protoc  # the generator; only needed here

    args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", f"--pyi_out={out}",
            str(PROTO_DIR / PROTO)]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for {PROTO}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_DIR)
    parser.add_argument("--check", action="store_true")
    ns = parser.parse_args(argv)
    if not ns.check:
        generate(ns.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = [name for name in OUTPUTS
                 if (Path(tmp) / name).read_bytes() != (PROTO_DIR / name).read_bytes()]
    for name in stale:
        sys.stderr.write(f"{PROTO_DIR / name} is out of date: run tools/gen_hub_proto.py\n")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
