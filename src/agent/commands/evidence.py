"""``evidence verify [DIR]``: verify evidence bundles offline (evidence.md §7, runtime.md §8)."""

from __future__ import annotations

import argparse

from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, error

STATE_SUBDIRS = ("evidence_cache", "evidence_dead_letter", "evidence_chain")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("evidence", help="evidence bundle tools (evidence.md §5.3, §7)",
                       description="Operator tools for the local evidence chain.")
    esub = p.add_subparsers(dest="evidence_command", metavar="SUBCOMMAND")
    esub.required = True
    v = esub.add_parser(
        "verify", help="verify a directory of bundles offline",
        description="Verify bundles (spool files, dead letters, JSON Lines exports, Central "
        "Command's copies) under DIR: every signature, bundle hash and chain link, and the "
        "journal when present. DIR may be a state directory (its evidence_cache/, "
        "evidence_dead_letter/ and evidence_chain/ are read). Prints one verdict per bundle and "
        "the chain verdict. Exit 0 valid, 1 invalid, 2 unusable input.")
    v.add_argument("dir", metavar="DIR", nargs="?", help="directory or file (default: the state "
                   "directory)")
    v.add_argument("--pubkey", action="append", default=[], metavar="HEX",
                   help="evidence public key (repeatable); default: the journal's keys, else each "
                   "bundle's own agent_public_key")
    v.add_argument("--json", action="store_true", help="print JSON")
    v.add_argument("-q", "--quiet", action="store_true", help="print bad bundles only")
    v.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from agent.evidence.verify import BundleRecord, load_dir, verify_chain

    root = Path(args.dir or args.state_dir or "/var/lib/msp")
    if not root.exists():
        error(f"{root}: no such file or directory")
        return EXIT_USAGE
    sources = [root / d for d in STATE_SUBDIRS if (root / d).is_dir()] or [root]
    records: list[BundleRecord] = []
    journal: list[dict[str, object]] | None = None
    unreadable: list[str] = []
    for src in sources:
        recs, jl, bad = load_dir(src)
        records += recs
        unreadable += bad
        if jl is not None:
            journal = (journal or []) + jl
    for key in args.pubkey:
        if len(key) != 64:
            error(f"--pubkey {key!r}: expected 64 hex characters")
            return EXIT_USAGE
    result = verify_chain(records, public_keys=args.pubkey, journal=journal)
    if args.json:
        print(json.dumps({**result.summary(), "bundles": [
            {"seq": v.seq, "bundle_id": v.bundle_id, "source": v.source, "status": v.status}
            for v in result.verdicts], "body_not_available": result.body_missing,
            "unreadable": unreadable, "skipped": result.skipped}, indent=2))
    else:
        for v in result.verdicts:
            if args.quiet and v.status == "ok":
                continue
            print(f"{'OK ' if v.status == 'ok' else 'BAD'} seq {v.seq if v.seq is not None else '-'}"
                  f"  {v.bundle_id}  {v.status}  ({v.source})")
        for seq in result.body_missing:
            print(f"--  seq {seq}  body not available (journal only)")
        for name in unreadable:
            print(f"??  {name}  unreadable")
        if result.valid:
            print(f"chain valid: {len(result.verdicts)} bundles, head seq {result.head_seq}, "
                  f"head hash {result.head_hash}")
        else:
            print(f"chain INVALID: first bad seq {result.first_bad_seq}: {result.error}")
    return EXIT_OK if result.valid and not unreadable else EXIT_FAILURE
