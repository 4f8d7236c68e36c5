"""``version``: agent version, Python, platform, and whether the native core is in use."""

from __future__ import annotations

import argparse
import json
import platform
import sys

from agent import __version__
from agent.commands.common import add_global


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("version", help="print version and native-core status",
                       description="Print the agent version, Python version, platform and whether "
                       "the native core is in use (and why not).")
    add_global(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def info() -> dict[str, object]:
    from agent import native

    doc: dict[str, object] = {
        "version": __version__,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "native_core": native.NATIVE,
        "native_reason": native.STATUS.reason,
    }
    # What agent.phi.scanner() picks, without importing the scrubber (its tables are large):
    # the native scanner when the native core is in use (tests/foundation/test_lean.py).
    doc["phi_scrubber"] = "native" if native.NATIVE else "reference"
    in_use, why = native.batch_verifier()
    doc["ed25519_batch_verifier"] = {"in_use": in_use, "reason": why}
    return doc


def run(args: argparse.Namespace) -> int:
    doc = info()
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    native_text = "in use" if doc["native_core"] else f"not in use ({doc['native_reason']})"
    print(f"msp-agent {doc['version']}")
    print(f"python {doc['python']} ({doc['implementation']}) on {doc['platform']}")
    print(f"native core: {native_text}")
    if "phi_scrubber" in doc:
        print(f"phi scrubber: {doc['phi_scrubber']}")
    ed = doc["ed25519_batch_verifier"]
    assert isinstance(ed, dict)
    print(f"ed25519 batch verifier: {'native' if ed['in_use'] else 'PyNaCl one by one'} "
          f"({ed['reason']})")
    return 0
