"""``release build`` and ``release keygen``: the provider's side of agent updates (README,
"Updating the agent"). Imports nothing of the daemon: only :mod:`agent.release`, when run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_global, error


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("release", help="build and sign msp-agent release bundles (provider side)",
                       description="Build signed msp-agent release bundles, the artifact of an "
                       "update_daemon order, and make the release signing key.")
    add_global(p)
    rsub = p.add_subparsers(dest="release_command", metavar="SUBCOMMAND")
    rsub.required = True
    b = rsub.add_parser(
        "build", help="write a signed release bundle from our wheel and its dependencies' wheels",
        description="Write a release bundle (a tar: manifest.json signed with the release key, "
        "wheels/*.whl) from exactly one msp-agent wheel and a wheel of every dependency it needs "
        "on the target (Requires-Dist, followed through the dependencies; markers evaluated for "
        "Linux on the wheels' machine and this Python or --python), all for one machine and "
        "installable on that Python. The manifest's "
        "version is the msp-agent wheel's, its machine the wheels'. The bundle is written "
        "atomically and verified with the privileged helper's own code before it is kept; the "
        "same inputs give the same bytes. Prints the bundle's SHA-256 (the order's "
        "binary_sha256). Exit 0 built, 1 failed to write, 2 usage or unusable input (an "
        "incomplete or mixed wheel set, an unreadable wheel, a key file open to others).")
    add_global(b)
    b.add_argument("--wheel", action="append", required=True, type=Path, metavar="PATH",
                   help="a wheel file, or a directory whose *.whl are taken (repeatable)")
    b.add_argument("--key-file", required=True, type=Path, metavar="FILE",
                   help="the release signing key: a 32-byte Ed25519 seed (64 hex digits or raw), "
                   "mode 0600 (`release keygen` makes one)")
    b.add_argument("--out", required=True, type=Path, metavar="FILE",
                   help="the bundle to write (replaced atomically)")
    b.add_argument("--machine", metavar="MACHINE",
                   help="the appliance architecture (x86_64, aarch64); needed only when every "
                   "wheel is pure, else it must match the wheels")
    b.add_argument("--python", type=_python, metavar="X.Y",
                   help="the appliances' CPython version: every wheel must install on it and "
                   "markers are read for it (default: this interpreter's)")
    b.add_argument("--allow-downgrade", action="store_true",
                   help="let appliances on a newer release install this one")
    b.add_argument("--state-format", type=int, default=1, metavar="N",
                   help="the state-directory format the release writes (default 1)")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.set_defaults(func=run_build)
    k = rsub.add_parser(
        "keygen", help="make a release signing key; print its public key",
        description="Write a new Ed25519 release signing key to FILE (64 hex digits, mode 0600; "
        "an existing file is never replaced) and print its public key: the appliances' "
        "release_public_key and the helper's MSP_AGENT_RELEASE_KEY. Exit 0 written, 1 FILE "
        "exists or cannot be written.")
    add_global(k)
    k.add_argument("--out", required=True, type=Path, metavar="FILE", help="the key file to create")
    k.add_argument("--json", action="store_true", help="machine-readable output")
    k.set_defaults(func=run_keygen)


def _python(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit()) or int(major) != 3:
        raise argparse.ArgumentTypeError(f"not a Python 3 version like 3.11: {text!r}")
    return int(major), int(minor)


def run_build(args: argparse.Namespace) -> int:
    try:
        from agent.release.wheelset import check, collect, read
    except ImportError as exc:
        error(f"release build needs the packaging library ({exc.name} is missing): "
              "pip install 'msp-agent[release]'")
        return EXIT_USAGE
    from agent.release import ReleaseError
    from agent.release.build import BuildFailed, build
    from agent.release.keyfile import read_seed

    try:
        seed = read_seed(args.key_file)
        release = check([read(p) for p in collect(args.wheel)], args.machine, args.python)
        built = build(release, seed, args.out, allow_downgrade=args.allow_downgrade,
                      state_format=args.state_format)
    except ReleaseError as exc:
        error(f"release build refused: {exc}")
        return EXIT_USAGE
    except BuildFailed as exc:
        error(str(exc))
        return EXIT_FAILURE
    doc = {"bundle": str(built.path), "version": built.version, "machine": built.machine,
           "wheels": built.wheels, "size": built.size, "sha256": built.sha256,
           "release_public_key": built.public_key, "allow_downgrade": args.allow_downgrade,
           "state_format": args.state_format, "unused_wheels": list(release.unused)}
    if args.json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    print(f"built {built.path}: msp-agent {built.version} for {built.machine}, "
          f"{built.wheels} wheels, {built.size} bytes")
    print(f"sha256 {built.sha256}  (the order's binary_sha256)")
    print(f"signed by release key {built.public_key}")
    for name in release.unused:
        print(f"note: {name} is required by nothing in the release")
    return EXIT_OK


def run_keygen(args: argparse.Namespace) -> int:
    from agent.release import ReleaseError
    from agent.release.keyfile import create

    try:
        public = create(args.out)
    except ReleaseError as exc:
        error(str(exc))
        return EXIT_FAILURE
    if args.json:
        print(json.dumps({"key_file": str(args.out), "release_public_key": public}, indent=2))
    else:
        print(f"release key written to {args.out} (mode 0600; keep it off the appliances)")
        print(f"release_public_key: {public}")
    return EXIT_OK
