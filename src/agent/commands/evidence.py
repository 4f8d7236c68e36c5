"""``evidence verify [DIR|EXPORT]``, ``evidence export DEST``, ``evidence purge-exported``
(evidence.md §5.3, §7, runtime.md §8)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.commands.common import EXIT_FAILURE, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, add_global, error

if TYPE_CHECKING:
    from collections.abc import Iterable

    from agent.evidence.verify import Body

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
        "verify", help="verify the evidence chain offline (journal, spool, exports, copies)",
        description="Verify the evidence chain. The chain journal is verified on its own first, "
        "with or without the bundle bodies: every created line's seq follows the previous one, "
        "its prev_bundle_hash is the previous line's bundle_hash, a new signing key appears only "
        "after a key_changed line, every chain_restart record's signature verifies, and the head "
        "record agrees. Then every body found (spool, dead letters, an export, or a directory of "
        "bundles such as Central Command's copies given as PATH) is checked against its journal "
        "entry: signature with the key in effect, hash, link, bundle id. Without a journal the "
        "bodies are verified as a chain of their own. PATH may also be a state directory. A chain "
        "the agent restarted explicitly (signed chain_restart) is reported as RESTARTED. The last "
        "line says how many journal entries were linked, how many bodies were checked, and what "
        "could not be checked. Exit 0 valid, 1 invalid (first bad seq and why) or restarted, "
        "2 nothing to verify or unusable input.")
    add_global(v)
    v.add_argument("dir", metavar="PATH", nargs="?", help="an export file, a directory of "
                   "bundles (checked with the local state), or a state directory (default: the "
                   "state directory)")
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


def _is_state_dir(path: Path) -> bool:
    return any((path / d).is_dir() for d in STATE_SUBDIRS)


def run_verify(args: argparse.Namespace) -> int:
    """``evidence verify [PATH]``: the journal's chain, then every body found against it."""
    import itertools
    import json

    from agent.evidence.head import HEAD_FILE, parse_head
    from agent.evidence.journal import read_lines
    from agent.evidence.verify import (
        iter_bodies,
        journal_under,
        verify_evidence,
    )

    for key in args.pubkey:
        if len(key) != 64:
            error(f"--pubkey {key!r}: expected 64 hex characters")
            return EXIT_USAGE
    arg = Path(args.dir) if args.dir else None
    if arg is not None and not arg.exists():
        error(f"{arg}: no such file or directory")
        return EXIT_USAGE
    extra: Path | None = None
    state: Path | None
    if arg is not None and arg.is_dir() and _is_state_dir(arg):
        state = arg
    else:
        state = _state_dir(args)
        if arg is None:
            if state is None:
                return EXIT_USAGE
            if not state.is_dir():
                error(f"state directory {state}: no such directory")
                return EXIT_USAGE
        else:
            extra = arg  # an export or a directory of bundles (e.g. Central Command's copies)
            if state is not None and not _is_state_dir(state):
                state = None  # verifying elsewhere: no local evidence
    # Bodies are read lazily, one file at a time, as verify_evidence consumes them.
    sources: list[Iterable[Body]] = []
    unreadable: list[str] = []
    journal: Iterable[dict[str, object]] | None = None
    head_record = None
    bad_lines: list[str] = []
    if state is not None:
        for sub, kind in (("evidence_cache", "spool"), ("evidence_dead_letter", "dead_letter")):
            if (state / sub).is_dir():
                sources.append(iter_bodies(state / sub, kind, unreadable))
        chain_dir = state / "evidence_chain"
        if chain_dir.is_dir():
            # Read as it is checked (a year of lines is hundreds of MB as objects): [] when empty.
            lines = read_lines(chain_dir, unreadable=bad_lines)
            first = next(lines, None)
            journal = [] if first is None else itertools.chain([first], lines)
            try:
                head_record = parse_head((chain_dir / HEAD_FILE).read_bytes())
            except OSError:
                head_record = None
    if extra is not None:
        sources.append(iter_bodies(extra, "export" if extra.is_file() else "path", unreadable))
        if not journal:
            copied = journal_under(extra)
            if copied is not None:
                journal = copied  # the export's copy (verifying on another machine)
    rep = verify_evidence(itertools.chain.from_iterable(sources), journal,
                          head_record=head_record, public_keys=args.pubkey, unreadable=unreadable)
    if bad_lines:
        rep.not_checked.append(f"{len(bad_lines)} unreadable journal line(s)")
    if args.json:
        print(json.dumps({**rep.summary(), "bundles": [
            {"seq": v.seq, "bundle_id": v.bundle_id, "source": v.source, "status": v.status}
            for v in rep.verdicts], "body_not_available": rep.body_missing,
            "journal_entries_linked": rep.linked if rep.journal else None,
            "bodies_checked": rep.bodies_checked, "bodies_by_source": rep.bodies_by_kind,
            "not_checked": rep.not_checked, "notes": rep.notes, "unreadable": unreadable,
            "skipped": rep.skipped}, indent=2))
    else:
        _print_report(rep, args.quiet)
    return {"valid": EXIT_OK, "nothing": EXIT_USAGE}.get(rep.verdict, EXIT_FAILURE)


def _print_report(rep: Any, quiet: bool) -> None:
    from agent.evidence.verify import Report, seq_ranges

    assert isinstance(rep, Report)
    for v in rep.verdicts:
        if quiet and v.status == "ok":
            continue
        print(f"{'OK ' if v.status == 'ok' else 'BAD'} seq {v.seq if v.seq is not None else '-'}"
              f"  {v.bundle_id}  {v.status}  ({v.source})")
    if rep.body_missing and not quiet:
        print(f"--  seq {seq_ranges(rep.body_missing)}  body not available (journal entry only)")
    for r in rep.restarts:
        last = r["last_known_head"]
        known = (f"seq {last.get('seq')} hash {last.get('bundle_hash')}"
                 if isinstance(last, dict) else "unknown")
        print(f"RESTART before seq {r['first_seq']} at {r['at']}: signed chain_restart "
              f"({r['reason']}); last known head: {known}")
    for note in rep.notes:
        print(f"note: {note}")
    entries = rep.linked if rep.journal else rep.bodies_checked
    if rep.verdict == "valid":
        print(f"chain valid: {entries} bundles, head seq {rep.head_seq}, "
              f"head hash {rep.head_hash}")
    elif rep.verdict == "restarted":
        print(f"chain RESTARTED ({len(rep.restarts)} restart(s); not one unbroken chain, no "
              f"corruption found): {entries} bundles, head seq {rep.head_seq}, head hash "
              f"{rep.head_hash}")
    elif rep.verdict == "invalid":
        where = f"first bad seq {rep.first_bad_seq}" if rep.first_bad_seq is not None \
            else "first problem"
        print(f"chain INVALID: {where}: {rep.error}: {rep.why}")
    else:
        print(f"nothing to verify: {rep.why}")
    print(f"checked: {rep.summary_line()}")
