"""``journal show``: the healing journal (healing.md §4.6) and the order records, read-only
(runtime.md §8): open heals, the last N finished heals and orders, filtered by host or status.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.commands._operator import (
    CommandError,
    command_group,
    emit,
    emit_json,
    existing_state_dir,
    read_journal,
    subcommand,
)
from agent.commands.common import EXIT_FAILURE, EXIT_OK

#: Journal events that are not heals but decisions about an incident (pipeline notes).
NOTE_EVENTS = frozenset({"escalated", "suppressed", "deferred", "dry_run"})


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    jsub = command_group(sub, "journal", help="show the healing journal and order records",
                         description="What the agent healed and which orders it ran, from the "
                         "state directory (read-only; works while the service runs).")
    p = subcommand(jsub, "show", run_show, help="open heals, the last finished heals and orders",
                   description="Open heals (begun, no end: the agent verifies or reports them "
                   "after a restart), the last N finished heals with their outcome and reason, "
                   "the healing decisions that started no heal (escalated, suppressed, "
                   "deferred, dry run) and the last N order records. Exit 0, 1 a journal is "
                   "damaged, 2 unusable input.")
    p.add_argument("--open", action="store_true",
                   help="only open heals and orders still executing or queued")
    p.add_argument("--last", type=_positive, default=20, metavar="N",
                   help="how many finished heals, decisions and orders (default 20)")
    p.add_argument("--host", metavar="HOST", help="only heals of this host")
    p.add_argument("--status", metavar="STATUS",
                   help="only entries with this status (open, healed, failed, interrupted, "
                   "crashed, escalated, deferred, ...; for orders: executing, succeeded, "
                   "failed, queued)")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("expected a positive integer")
    return int(text)


def heals(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Heals (one entry per heal id, in begin order) and the decisions that started none."""
    by_id: dict[str, dict[str, Any]] = {}
    notes: list[dict[str, Any]] = []
    for rec in records:
        hid, ev = rec.get("heal_id"), rec.get("event")
        if not isinstance(hid, str):
            continue
        if ev == "begin":
            by_id[hid] = {
                "heal_id": hid, "status": "open", "started_at": rec.get("ts"),
                "finished_at": None, "host": rec.get("host"), "platform": rec.get("platform"),
                "check_type": rec.get("check_type"), "runbook_id": rec.get("runbook_id"),
                "rule_id": rec.get("rule_id") or None, "level": rec.get("level"),
                "trigger": rec.get("trigger"), "incident_id": rec.get("incident_id"),
                "phase": None, "error_category": None, "error": None}
        elif ev in ("phase_begin", "phase_end") and hid in by_id:
            by_id[hid]["phase"] = rec.get("phase")
        elif ev == "end" and hid in by_id:
            by_id[hid].update(status=str(rec.get("outcome") or "ended"), finished_at=rec.get("ts"),
                              phase=rec.get("phase") or by_id[hid]["phase"],
                              error_category=rec.get("error_category") or None,
                              error=rec.get("error") or None)
        elif ev in NOTE_EVENTS:
            notes.append({"status": ev, "at": rec.get("ts"), "incident_id": rec.get("incident_id"),
                          "check_type": rec.get("check_type"), "rule_id": rec.get("rule_id"),
                          "runbook_id": rec.get("runbook_id") or None,
                          "reason": rec.get("reason")})
    return list(by_id.values()), notes


def orders(records: list[dict[str, Any]], inbox: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order records (the last line of each nonce wins) and the orders still queued."""
    from agent.timefmt import format_rfc3339

    by_nonce: dict[str, dict[str, Any]] = {}
    for rec in records:
        if "header" in rec or not isinstance(rec.get("nonce"), str):
            continue
        by_nonce[rec["nonce"]] = rec
    out = []
    for rec in by_nonce.values():
        raw = rec.get("completion")
        completion: dict[str, Any] = raw if isinstance(raw, dict) else {}
        first = rec.get("first_seen")
        out.append({"order_id": rec.get("order_id"), "order_type": rec.get("order_type"),
                    "status": rec.get("state"),
                    "received_at": format_rfc3339(first) if isinstance(first, int | float) else None,
                    "executions": rec.get("executions"), "acknowledged": rec.get("acked"),
                    "error": completion.get("error_message")})
    queued: dict[str, dict[str, Any]] = {}
    for doc in inbox:
        key = doc.get("key")
        if not isinstance(key, str):
            continue
        if doc.get("done"):
            queued.pop(key, None)
        elif isinstance(doc.get("order"), dict):
            queued[key] = doc["order"]
    out += [{"order_id": o.get("order_id"), "order_type": o.get("order_type"), "status": "queued",
             "received_at": None, "executions": 0, "acknowledged": False, "error": None}
            for o in queued.values()]
    out.sort(key=lambda o: (o["status"] == "queued", str(o["received_at"] or "")))
    return out


def _read(path: Path) -> tuple[dict[str, Any], list[str]]:
    from agent.healing.journal import JOURNAL_NAME
    from agent.orders.inbox import FILE_NAME as INBOX
    from agent.orders.store import FILE_NAME as RECORDS

    problems: list[str] = []
    read = {}
    for key, name, crc in (("heal", JOURNAL_NAME, False), ("orders", RECORDS, True),
                           ("inbox", INBOX, True)):
        try:
            j = read_journal([path / name], checksummed=crc)
        except OSError as exc:
            raise CommandError(f"{name}: {exc.strerror}", EXIT_FAILURE) from None
        if j.damaged:
            problems.append(f"{name}: {j.damaged} damaged line(s) skipped")
        read[key] = j.records
    return read, problems


def run_show(args: argparse.Namespace) -> int:
    path = existing_state_dir(args)
    read, problems = _read(path)
    all_heals, notes = heals(read["heal"])
    all_orders = orders(read["orders"], read["inbox"])
    if args.host:
        all_heals = [h for h in all_heals if h["host"] == args.host]
        notes = []  # decisions carry the incident id, not the host
    if args.status:
        all_heals = [h for h in all_heals if h["status"] == args.status]
        notes = [n for n in notes if n["status"] == args.status]
        all_orders = [o for o in all_orders if o["status"] == args.status]
    open_heals = [h for h in all_heals if h["status"] == "open"]
    finished = [h for h in all_heals if h["status"] != "open"]
    finished.sort(key=lambda h: str(h["finished_at"] or ""))
    active = [o for o in all_orders if o["status"] in ("executing", "queued")]
    if args.open:
        doc = {"open_heals": open_heals, "orders": active, "problems": problems}
    else:
        done = [o for o in all_orders if o not in active]
        doc = {"open_heals": open_heals, "finished_heals": finished[-args.last:],
               "decisions": notes[-args.last:], "orders": [*done[-args.last:], *active],
               "problems": problems}
    if args.json:
        emit_json(doc)
    else:
        emit(_lines(doc, args))
    return EXIT_FAILURE if problems else EXIT_OK


def _heal_line(h: dict[str, Any]) -> str:
    when = h["finished_at"] or h["started_at"] or "-"
    line = (f"  {when}  {h['host'] or '-'}  {h['check_type'] or '-'}  {h['runbook_id'] or '-'}  "
            f"{h['status']}")
    if h["status"] == "open":
        line += f" (started {h['started_at']}, phase {h['phase'] or 'not started'})"
    elif h["error"] or h["error_category"]:
        line += f" in {h['phase'] or '-'}: {h['error_category'] or ''} {h['error'] or ''}".rstrip()
    return line


def _lines(doc: dict[str, Any], args: argparse.Namespace) -> list[str]:
    lines = [f"Open heals: {len(doc['open_heals'])}"]
    lines += [_heal_line(h) for h in doc["open_heals"]]
    if "finished_heals" in doc:
        lines.append(f"Finished heals (last {args.last}): {len(doc['finished_heals'])}")
        lines += [_heal_line(h) for h in doc["finished_heals"]]
        lines.append(f"Decisions without a heal (last {args.last}): {len(doc['decisions'])}")
        lines += [f"  {n['at']}  {n['check_type'] or '-'}  {n['status']}: {n['reason'] or '-'}"
                  for n in doc["decisions"]]
    lines.append(f"Orders{'' if args.open else f' (last {args.last})'}: {len(doc['orders'])}")
    lines += [f"  {o['received_at'] or '-'}  {o['order_type'] or '-'}  {o['order_id'] or '-'}  "
              f"{o['status']}" + (f": {o['error']}" if o["error"] else "") for o in doc["orders"]]
    lines += [f"problem: {p}" for p in doc["problems"]]
    return lines


