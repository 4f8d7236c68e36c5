"""``evidence verify [DIR|EXPORT]``, ``evidence export DEST``, ``evidence purge-exported``
(evidence.md §5.3, §7, runtime.md §8)."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.commands.common import EXIT_FAILURE, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, add_global, error

STATE_SUBDIRS = ("evidence_cache", "evidence_dead_letter", "evidence_chain")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("evidence", help="evidence bundle tools (evidence.md §5.3, §7)",
                       description="Operator tools for the local evidence chain.")
    add_global(p)
    esub = p.add_subparsers(dest="evidence_command", metavar="SUBCOMMAND")
    esub.required = True
    e = esub.add_parser(
        "export", help="write every dead-letter and spool entry plus the journal to DEST",
        description="Write one JSON Lines file with every dead-letter and spool entry and a copy "
        "of the chain journal; journal `exported`. Takes the state-directory lock (stop the "
        "service first). Exit 0 written, 1 failed, 2 usage, 3 lock held.")
    add_global(e)
    e.add_argument("dest", metavar="DEST", help="the export file to write")
    e.set_defaults(func=run_export)
    pe = esub.add_parser(
        "purge-exported", help="delete the dead-letter entries included in the last export",
        description="Delete the dead-letter entries included in the last `evidence export` (only "
        "those unchanged since); journal `purged` with their seqs. Spool entries are never "
        "deleted. Takes the state-directory lock. Exit 0 done, 1 refused, 2 usage, 3 lock held.")
    add_global(pe)
    pe.set_defaults(func=run_purge)
    v = esub.add_parser(
        "verify", help="verify a directory of bundles or an export offline",
        description="Verify bundles (spool files, dead letters, JSON Lines exports, Central "
        "Command's copies): every signature, bundle hash and chain link, and the journal when "
        "present. Without an argument the state directory is verified (its evidence_cache/, "
        "evidence_dead_letter/ and evidence_chain/ are read); with an EXPORT file (written by "
        "`evidence export`), the local data and the export together; with a DIR, the bundles "
        "under DIR. Prints one verdict per bundle and the chain verdict. A chain the agent restarted "
        "explicitly (it lost both its journal and its head record; a signed chain_restart record "
        "in the journal names the last head known) is reported as RESTARTED: each part verified "
        "on its own, neither a valid unbroken chain nor corruption. Exit 0 valid, 1 invalid or "
        "restarted, 2 unusable input.")
    add_global(v)
    v.add_argument("dir", metavar="EXPORT|DIR", nargs="?", help="an export file or a directory "
                   "(default: the state directory)")
    v.add_argument("--pubkey", action="append", default=[], metavar="HEX",
                   help="evidence public key (repeatable); default: the journal's keys, else each "
                   "bundle's own agent_public_key")
    v.add_argument("--json", action="store_true", help="print JSON")
    v.add_argument("-q", "--quiet", action="store_true", help="print bad bundles only")
    v.set_defaults(func=run_verify)


def _state_dir(args: argparse.Namespace) -> Path | None:
    from agent.commands.keygen import resolve_state_dir

    return resolve_state_dir(args)


def _locked(args: argparse.Namespace, what: str) -> tuple[int, object | None, Path | None]:
    """Open the state directory with its lock: ``(exit code, StateDir, path)``."""
    from agent.state import LockHeld, StateDir

    path = _state_dir(args)
    if path is None:
        return EXIT_USAGE, None, None
    if not path.is_dir():
        error(f"state directory {path}: no such directory")
        return EXIT_USAGE, None, None
    state = StateDir(path)
    try:
        state.open()
    except LockHeld as exc:
        error(f"{exc}; stop the service before `evidence {what}`")
        return EXIT_LOCKED, None, None
    except OSError as exc:
        error(f"cannot open state directory {path}: {exc.strerror}")
        return EXIT_FAILURE, None, None
    return EXIT_OK, state, path


def run_export(args: argparse.Namespace) -> int:
    from agent.evidence.export import ExportError, export
    from agent.state import StateDir

    code, state, path = _locked(args, "export")
    if state is None or path is None:
        return code
    assert isinstance(state, StateDir)
    try:
        res = export(path, Path(args.dest))
    except ExportError as exc:
        error(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        error(f"export failed: {exc}")
        return EXIT_FAILURE
    finally:
        state.close()
    print(f"exported {res.bundles} bundles ({res.dead_letter} dead-letter, {res.spool} spool) and "
          f"{res.journal_lines} journal lines to {res.destination}")
    return EXIT_OK


def run_purge(args: argparse.Namespace) -> int:
    from agent.evidence.export import ExportError, purge_exported
    from agent.state import StateDir

    code, state, path = _locked(args, "purge-exported")
    if state is None or path is None:
        return code
    assert isinstance(state, StateDir)
    try:
        res = purge_exported(path)
    except ExportError as exc:
        error(str(exc))
        return EXIT_FAILURE
    except OSError as exc:
        error(f"purge failed: {exc}")
        return EXIT_FAILURE
    finally:
        state.close()
    if res.export_missing:
        print("note: the export file is no longer at its destination; purging by the record of "
              "the last export")
    for name in res.skipped:
        print(f"kept {name}: changed since the export")
    print(f"purged {len(res.purged)} dead-letter entries"
          + (f" (seqs {', '.join(map(str, res.seqs))})" if res.seqs else ""))
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    import json

    from agent.evidence.verify import BundleRecord, load_dir, verify_chain

    arg = Path(args.dir) if args.dir else None
    if arg is not None and not arg.exists():
        error(f"{arg}: no such file or directory")
        return EXIT_USAGE
    if arg is None or arg.is_file():
        local = _state_dir(args)
        if local is None and arg is None:
            return EXIT_USAGE
        if arg is None and local is not None and not local.exists():
            error(f"{local}: no such file or directory")
            return EXIT_USAGE
        sources = [local / d for d in STATE_SUBDIRS if local is not None and (local / d).is_dir()]
        if arg is not None:
            sources.append(arg)  # an export: verified together with the local data
        elif not sources and local is not None:
            sources = [local]
    else:
        sources = [arg / d for d in STATE_SUBDIRS if (arg / d).is_dir()] or [arg]
    records: list[BundleRecord] = []
    local_journal: list[dict[str, object]] | None = None
    export_journal: list[dict[str, object]] | None = None
    unreadable: list[str] = []
    for src in sources:
        recs, jl, bad = load_dir(src)
        records += recs
        unreadable += bad
        if jl is not None and src.is_dir():
            local_journal = (local_journal or []) + jl
        elif jl is not None:
            export_journal = (export_journal or []) + jl
    # The local journal is append-only, so it holds every line an export copied from it; the
    # export's copy is used when no local journal was read (verifying on another machine).
    journal = local_journal if local_journal is not None else export_journal
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
        for r in result.restarts:
            last = r["last_known_head"]
            known = (f"seq {last.get('seq')} hash {last.get('bundle_hash')}"
                     if isinstance(last, dict) else "unknown")
            print(f"RESTART before seq {r['first_seq']} at {r['at']}: signed chain_restart "
                  f"({r['reason']}); last known head: {known}")
        if result.valid:
            print(f"chain valid: {len(result.verdicts)} bundles, head seq {result.head_seq}, "
                  f"head hash {result.head_hash}")
        elif result.error == "chain_restart":
            print(f"chain RESTARTED ({len(result.restarts)} restart(s); not one unbroken chain, "
                  f"no corruption found): {len(result.verdicts)} bundles, head seq "
                  f"{result.head_seq}, head hash {result.head_hash}")
        else:
            print(f"chain INVALID: first bad seq {result.first_bad_seq}: {result.error}")
    return EXIT_OK if result.valid and not unreadable else EXIT_FAILURE
