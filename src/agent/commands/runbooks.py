"""``runbooks list``, ``runbooks lint [DIR]``, ``runbooks show ID`` (runtime.md §8, healing.md §3).

Read-only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.commands._operator import CommandError, command_group, emit, emit_json, subcommand
from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from agent.runbooks.model import Runbook


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rsub = command_group(sub, "runbooks", help="list, lint and show the runbooks",
                         description="The runbooks the agent ships (detect, remediate, verify "
                         "scripts with their metadata). Read-only.")
    subcommand(rsub, "list", run_list, help="every runbook: id, platform, check types",
               description="Every packaged runbook. Exit 0.")
    lt = subcommand(rsub, "lint", run_lint, help="check every runbook (or those under DIR)",
                    description="Load every runbook directory on its own (metadata, scripts, "
                    "parameters, verify assertions) and check that its check types are known to "
                    "the scanners and every builtin rule's runbook exists. Exit 0 clean, 1 a "
                    "runbook is invalid, 2 unusable input.")
    lt.add_argument("dir", metavar="DIR", nargs="?", help="a directory of runbook directories "
                    "(default: the packaged runbooks)")
    sp = subcommand(rsub, "show", run_show, help="one runbook's metadata and scripts",
                    description="One runbook: metadata, parameters, verify assertions and the "
                    "SHA-256 of each script (--scripts prints them). Exit 0, 1 unknown id.")
    sp.add_argument("id", metavar="ID", help="runbook id (e.g. LIN-FW-001)")
    sp.add_argument("--scripts", action="store_true", help="print the scripts too")


def summary(rb: Runbook) -> dict[str, Any]:
    return {"id": rb.id, "name": rb.name, "version": rb.version, "platform": rb.platform,
            "check_types": list(rb.check_types), "privilege": rb.privilege,
            "disruptive": rb.disruptive, "phases": sorted(rb.scripts)}


def run_list(args: argparse.Namespace) -> int:
    from agent.runbooks.registry import default_registry

    books = sorted(default_registry(), key=lambda r: r.id)
    if args.json:
        emit_json({"runbooks": [summary(rb) for rb in books]})
        return EXIT_OK
    lines = [f"{len(books)} runbooks:"]
    lines += [f"  {rb.id:<16} {rb.platform:<8} {rb.name}"
              + (" [disruptive]" if rb.disruptive else "") for rb in books]
    emit(lines)
    return EXIT_OK


def run_lint(args: argparse.Namespace) -> int:
    from agent.rules.builtin import omitted_rules
    from agent.runbooks.registry import DATA_DIR, RunbookRegistry, load_runbook, runbook_dirs
    from agent.scan.catalog import CATALOG

    directory = Path(args.dir) if args.dir else DATA_DIR
    if not directory.is_dir():
        raise CommandError(f"{directory}: no such directory", EXIT_USAGE)
    errors: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    good: dict[str, Runbook] = {}
    for d in runbook_dirs(directory):
        try:
            rb = load_runbook(d)
        except Exception as exc:  # noqa: BLE001 - every failure is a lint finding
            errors.append((d.name, str(exc) if isinstance(exc, ValueError) else
                           f"{type(exc).__name__}: {exc}"))
            continue
        good[rb.id] = rb
        warnings += [(rb.id, f"check type {ct} is not produced by any scanner")
                     for ct in rb.check_types if not CATALOG.known(ct)]
    if not args.dir:
        # The builtin rules that name a runbook this build does not ship.
        warnings += [(rid, f"builtin rule left out: runbook {rb_id} is not shipped")
                     for rid, rb_id in omitted_rules(RunbookRegistry(good))]
    ok = not errors
    if args.json:
        emit_json({"ok": ok, "directory": str(directory), "runbooks": len(good),
                   "errors": [{"runbook": i, "error": e} for i, e in errors],
                   "warnings": [{"runbook": i, "warning": w} for i, w in warnings]})
    else:
        lines = [f"{'OK' if ok else 'FAILED'}: {len(good)} runbooks valid, {len(errors)} invalid "
                 f"({directory})"]
        lines += [f"  INVALID {i}: {e}" for i, e in errors]
        lines += [f"  warning {i}: {w}" for i, w in warnings]
        emit(lines)
    return EXIT_OK if ok else EXIT_FAILURE


def run_show(args: argparse.Namespace) -> int:
    from agent.runbooks.registry import default_registry

    rb = default_registry().get(args.id)
    if rb is None:
        raise CommandError(f"no runbook {args.id!r} (see `msp-agent runbooks list`)", EXIT_FAILURE)
    doc: dict[str, Any] = {
        **summary(rb), "description": rb.description, "hipaa_controls": list(rb.hipaa_controls),
        "severity": rb.severity or None, "timeout_seconds": rb.timeout_seconds,
        "timeouts": dict(rb.timeouts),
        "params": [{"name": p.name, "type": p.type, "required": p.required, "default": p.default}
                   for p in rb.params],
        "verify_assert": [dict(c) for c in rb.verify_assert],
        "script_sha256": {ph: rb.script_sha256(ph) for ph in sorted(rb.scripts)}}
    if args.scripts:
        doc["scripts"] = dict(rb.scripts)
    if args.json:
        emit_json(doc)
        return EXIT_OK
    lines = [f"{rb.id}  {rb.name}  (version {rb.version})", f"  {rb.description}",
             f"  platform {rb.platform}, privilege {rb.privilege}, timeout "
             f"{rb.timeout_seconds}s{', disruptive' if rb.disruptive else ''}",
             f"  check types: {', '.join(rb.check_types) or '-'}",
             f"  HIPAA controls: {', '.join(rb.hipaa_controls) or '-'}"]
    lines += [f"  param {p['name']}: {p['type']}{' (required)' if p['required'] else ''}"
              f"{'' if p['default'] is None else ' default ' + json.dumps(p['default'])}"
              for p in doc["params"]]
    lines += [f"  verify: {c.get('field')} {c.get('operator')} "
              f"{json.dumps(c.get('value'), default=str)}"
              for c in rb.verify_assert]
    lines += [f"  {ph}: sha256 {sha}" for ph, sha in doc["script_sha256"].items()]
    emit(lines)
    if args.scripts:
        for ph in sorted(rb.scripts):
            print(f"--- {ph} ---")
            print(rb.scripts[ph].rstrip("\n"))
    return EXIT_OK
