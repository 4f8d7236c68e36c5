#!/usr/bin/env python3
"""Install a release bundle through the real privileged helper and run the installed release.

    python tools/release_smoke.py BUNDLE --release-key HEX --version V [--native] [--root DIR]

The helper program (``python -m agent.priv agent-install``, this interpreter's agent) is started
by the played service manager of the update tests (:mod:`agent.central.servicemanager`: a stand-in
``systemctl`` on ``PATH``, never the system's systemd) with its releases root, state and key in a
scratch directory. The bundle is unpacked as the agent stages it, installed side by side
(``pip --isolated install --no-index --no-deps`` into a new venv), and
``<release>/bin/msp-agent version --json`` is run from the installed release, outside the tree:
its version must be V, its agent package its own (not this tree's) and, with ``--native``, the
native core in use. Prints one summary line;
exit 0 ok, 1 a check failed. CI runs it on a bundle of the repaired wheel and its dependencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.central.servicemanager import install, install_initial_release
from agent.priv.client import PrivClient

#: Where the installed release's interpreter finds the agent (must be inside the release).
WHERE = "import agent, os; print(os.path.realpath(agent.__file__))"


async def install_release(root: Path, data: bytes, key: str, version: str) -> Path:
    """The bundle installed by the helper under ``root``; the release's directory."""
    h = install(root, release_key=key)
    client = PrivClient(h.priv_root, systemctl=h.systemctl, trial_file=h.priv_state / "trial.json")
    await install_initial_release(h, client, version, data)
    return h.releases / "releases" / version


def smoke(bundle: Path, key: str, version: str, root: Path) -> dict[str, object]:
    release = asyncio.run(install_release(root, bundle.read_bytes(), key, version))
    exe = release / "bin" / "msp-agent"
    proc = subprocess.run([str(exe), "version", "--json"], capture_output=True, text=True,
                          timeout=120, cwd=root, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{exe} version --json exited {proc.returncode}: {proc.stderr[-2000:]}")
    doc: dict[str, object] = json.loads(proc.stdout)
    where = subprocess.run([str(release / "bin" / "python"), "-c", WHERE], capture_output=True,
                           text=True, timeout=60, cwd=root, check=False)
    doc["agent_from"] = where.stdout.strip()
    doc["release_dir"] = str(release)
    doc["installed_wheels"] = len(list(release.glob("lib/python3*/site-packages/*.dist-info")))
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--release-key", required=True, help="the release public key (64 hex)")
    p.add_argument("--version", required=True, help="the release version the bundle must install")
    p.add_argument("--native", action="store_true", help="the native core must be in use")
    p.add_argument("--root", type=Path, help="scratch directory (default: a new temporary one)")
    args = p.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="msp-release-smoke-") as scratch:
        root = args.root or Path(scratch)
        try:
            doc = smoke(args.bundle.resolve(), args.release_key, args.version, root)
        except (RuntimeError, OSError, ValueError) as exc:
            print(f"release smoke: FAILED: {exc}", file=sys.stderr)
            return 1
    problems = []
    if doc.get("version") != args.version:
        problems.append(f"the installed release says version {doc.get('version')!r}")
    if not str(doc.get("agent_from")).startswith(str(Path(str(doc["release_dir"])).resolve())):
        problems.append(f"the release runs the agent from {doc.get('agent_from')!r}, not its own")
    if args.native and doc.get("native_core") is not True:
        problems.append(f"the native core is not in use ({doc.get('native_reason')})")
    if problems:
        print("release smoke: FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"release smoke: {args.bundle.name} installed by the helper "
          f"({doc['installed_wheels']} distributions), releases/{args.version}/bin/msp-agent "
          f"version {doc['version']}, native core "
          f"{'in use' if doc.get('native_core') else 'not in use'} "
          f"({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
