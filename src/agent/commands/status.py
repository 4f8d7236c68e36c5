"""``status``: the running daemon's status, or a state-directory summary when it is not running.

Exit 0 healthy, 1 degraded, 3 not running (runtime.md §8).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_OK, EXIT_USAGE, add_global
from agent.commands.keygen import resolve_state_dir
from agent.orders.store import EPOCH_FILE
from agent.site.serverkeys import RESEED_MARKER
from agent.timefmt import parse_rfc3339

STALE_AFTER_S = 60.0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("status", help="show the daemon's status",
                       description="Print the daemon's status from its status file, or a "
                       "state-directory summary if it is not running. Exit 0 healthy, 1 degraded, "
                       "3 not running.")
    add_global(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.proc import pid_alive
    from agent.runtime.status import candidate_status_files, read_status
    from agent.state.lock import LOCK_NAME

    state_dir = resolve_state_dir(args)
    if state_dir is None:
        return EXIT_USAGE
    lock_pid = _lock_pid(state_dir / LOCK_NAME)
    doc: dict[str, Any] | None = None
    for path in candidate_status_files(state_dir):
        cand = read_status(path)
        if cand and cand.get("state_dir") == str(state_dir) and cand.get("pid") == lock_pid:
            doc = cand
            break
    running = lock_pid is not None and pid_alive(lock_pid) and doc is not None \
        and doc.get("state") in ("starting", "running", "stopping")
    if not running:
        summary = {"running": False, "state_dir": str(state_dir),
                   "state_dir_exists": state_dir.is_dir(),
                   "keys_present": (state_dir / "agent.key").exists(),
                   "server_keys_need_reseed": (state_dir / RESEED_MARKER).exists(),
                   "order_records_epoch": _epoch(state_dir / EPOCH_FILE)}
        _out(summary, args.json, "not running")
        return EXIT_NOT_RUNNING
    assert doc is not None
    age = _age(doc.get("written_at"))
    problems = []
    if doc.get("degraded_reason"):
        problems.append(str(doc["degraded_reason"]))
    if age is not None and age > STALE_AFTER_S:
        problems.append(f"status file is {int(age)}s old")
    chk = doc.get("checkin") or {}
    if isinstance(chk, dict):
        if chk.get("breaker") == "open":
            problems.append(f"Central Command unreachable ({chk.get('last_error_kind')}); "
                            "breaker open")
        problems += [f"{a}: {chk[a]}" for a in ("tls_pin_alert", "trust_alert", "clock_alert")
                     if chk.get(a)]
    cfg = doc.get("config") or {}
    if isinstance(cfg, dict) and cfg.get("reload_error"):
        problems.append("last config reload was rejected")
    doc = {**doc, "running": True, "healthy": not problems, "problems": problems}
    _out(doc, args.json, "healthy" if not problems else "degraded: " + "; ".join(problems))
    return EXIT_OK if not problems else EXIT_FAILURE


def _epoch(path: Path) -> str | None:
    try:
        value = json.loads(path.read_bytes()).get("epoch")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _lock_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _age(ts: object) -> float | None:
    if not isinstance(ts, str):
        return None
    try:
        return time.time() - parse_rfc3339(ts).timestamp()
    except ValueError:
        return None


def _out(doc: dict[str, Any], as_json: bool, verdict: str) -> None:
    if as_json:
        print(json.dumps(doc, indent=2, default=str))
        return
    print(f"msp-agent: {verdict}")
    for key in ("pid", "version", "state_dir", "started_at", "written_at", "native_core",
                "event_loop"):
        if key in doc:
            print(f"  {key}: {doc[key]}")
    proc = doc.get("process")
    if isinstance(proc, dict):
        print(f"  rss: {proc.get('rss_bytes', 0) / 1048576:.1f} MiB, tasks: {proc.get('tasks')}, "
              f"uptime: {proc.get('uptime_s')}s")
    chk = doc.get("checkin")
    if isinstance(chk, dict):
        last_ok = chk.get("last_success_s_ago")
        print(f"  checkin: {chk.get('successes')} ok / {chk.get('failures')} failed, last success "
              f"{'never' if last_ok is None else f'{last_ok}s ago'}, last error "
              f"{chk.get('last_error_kind') or 'none'}, breaker {chk.get('breaker')}, "
              f"next in {chk.get('next_delay_s')}s")
        for alert in ("tls_pin_alert", "trust_alert", "clock_alert"):
            if chk.get(alert):
                print(f"  ALERT {alert}: {chk[alert]}")
    orders = doc.get("orders")
    store = orders.get("nonce_store") if isinstance(orders, dict) else None
    if isinstance(store, dict) and store.get("epoch"):
        print(f"  orders: order records were lost; orders created before {store['epoch']} "
              "are refused")
    sup = doc.get("supervisor")
    if isinstance(sup, dict):
        for name, job in (sup.get("jobs") or {}).items():
            print(f"  job {name}: runs={job.get('runs')} failures={job.get('failures')} "
                  f"last_error={job.get('last_error')}")
