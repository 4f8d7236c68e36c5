"""``status``: the running daemon's status, or a state-directory summary when it is not running.

Exit 0 healthy, 1 degraded, 3 not running (runtime.md §8).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from agent.commands.common import (
    EXIT_FAILURE,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    add_global,
    flags_from,
    state_dir_without_config,
)
from agent.timefmt import parse_rfc3339


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("status", help="show the daemon's status",
                       description="Print the daemon's status from its status file, or a "
                       "state-directory summary if it is not running. Degraded (with the reasons "
                       "on the first line): no successful checkin since the start, the Central "
                       "Command breaker open or half-open, an outbound queue over its high-water "
                       "mark, evidence undelivered for longer than evidence_undelivered_alert_s, "
                       "an alert, a rejected reload, a stale status file. A config file on disk "
                       "that does not load is reported, not fatal. Exit 0 healthy, 1 degraded, "
                       "3 not running.")
    add_global(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def locate(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """The state directory, and the problems of the config file on disk. A broken config does
    not stop ``status``: the state directory then comes from ``--state-dir`` / ``$STATE_DIR``,
    the file's own ``state_dir`` line if it can be read, or the default."""
    from agent.config import ConfigError, config_path, load_config
    from agent.config.schema import DEFAULT_STATE_DIR

    direct = state_dir_without_config(args)
    path = config_path(getattr(args, "config", None))
    if not path.exists():
        return direct or Path(DEFAULT_STATE_DIR), []
    try:
        loaded = load_config(path, flags=flags_from(args))
    except ConfigError as exc:
        return direct or _raw_state_dir(path) or Path(DEFAULT_STATE_DIR), list(exc.problems)
    return direct or Path(loaded.config.state_dir), []


def _raw_state_dir(path: Path) -> Path | None:
    import yaml

    try:
        doc = yaml.safe_load(path.read_bytes())
    except (OSError, yaml.YAMLError, ValueError):
        return None
    value = doc.get("state_dir") if isinstance(doc, dict) else None
    return Path(value) if isinstance(value, str) and value.startswith("/") else None


def run(args: argparse.Namespace) -> int:
    from agent.proc import pid_alive
    from agent.runtime.status import candidate_status_files, problems, read_status
    from agent.state.lock import LOCK_NAME

    state_dir, config_problems = locate(args)
    config_note = (f"the config file on disk is invalid ({config_problems[0]}"
                   + (f"; and {len(config_problems) - 1} more" if len(config_problems) > 1 else "")
                   + "): the running daemon keeps its configuration, a restart would fail"
                   ) if config_problems else ""
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
        from agent.orders.store import EPOCH_FILE
        from agent.site.serverkeys import RESEED_MARKER

        summary = {"running": False, "state_dir": str(state_dir),
                   "state_dir_exists": state_dir.is_dir(),
                   "keys_present": (state_dir / "agent.key").exists(),
                   "server_keys_need_reseed": (state_dir / RESEED_MARKER).exists(),
                   "order_records_epoch": _epoch(state_dir / EPOCH_FILE),
                   "config_problems": config_problems}
        from agent.provision import status_line

        first_boot = status_line(state_dir)
        if first_boot is not None and not first_boot.startswith("provisioning: done"):
            summary["provisioning"] = first_boot
        verdict = "not running" + (f" ({summary['provisioning']})" if "provisioning" in summary
                                   else "")
        _out(summary, args.json, verdict, config_note)
        return EXIT_NOT_RUNNING
    assert doc is not None
    found = problems(doc, _age(doc.get("written_at")))
    doc = {**doc, "running": True, "healthy": not found, "problems": found,
           "config_problems": config_problems}
    _out(doc, args.json, "healthy" if not found else "degraded: " + "; ".join(found), config_note)
    return EXIT_OK if not found else EXIT_FAILURE


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


def _out(doc: dict[str, Any], as_json: bool, verdict: str, config_note: str) -> None:
    if as_json:
        print(json.dumps(doc, indent=2, default=str))
        return
    print(f"msp-agent: {verdict}")
    if config_note:
        print(f"  WARNING {config_note}")
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
