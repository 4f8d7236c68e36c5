"""``preview``: what the next checkin and each outbox would send to Central Command, after the
same scrubbing the Uplink applies (:mod:`agent.uplink.preview`). Nothing is sent.

The next checkin is asked of the running daemon over its local control socket
(:mod:`agent.runtime.control`): its in-memory state (directives, witness attestations, health
figures) is in it. When no daemon answers, the checkin is built by the checkin component itself
over a private copy of the state directory's small files (nothing of the real one is written),
and the output says so. The queued items are read where they lie either way (no queue is opened,
so this is safe beside a running daemon).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.commands._operator import (
    CommandError,
    emit,
    emit_json,
    existing_state_dir,
    subcommand,
)
from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, load

if TYPE_CHECKING:
    from agent.config import Config
    from agent.uplink import Route

FROM_DAEMON = "the next checkin asked of the running daemon (control socket)"
FROM_STATE = ("built from the state directory: no daemon answered on the control socket ({why}), "
              "so its in-memory directives, witness attestations and health figures are not shown")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subcommand(sub, "preview", run, help="what the next checkin and the outboxes would send",
                   description="Show what the agent would send to Central Command: the next "
                   "checkin request and every queued item (order completions, evidence bundles, "
                   "executions, incident reports, log batches, security events), after the PHI "
                   "and secret scrubbing the Uplink applies. Nothing is sent and nothing in the "
                   "state directory is written. Built from the state directory (and the config "
                   "for the checkin). Exit 0, 1 an item would be refused (it cannot be "
                   "scrubbed), 2 unusable input.")
    p.add_argument("--limit", type=int, default=3, metavar="N",
                   help="items shown per queue (default 3; 0: all)")
    p.add_argument("--no-checkin", action="store_true", help="only the outboxes")
    p.add_argument("--bodies", action="store_true",
                   help="print the scrubbed bodies in the text output too")


@dataclass(frozen=True)
class Queue:
    label: str
    directory: str
    naming: Any
    #: ``(file bytes, item key) -> (route, request path, payload Struct)``
    read: Callable[[bytes, str], tuple[Route, str, Any]]


def _decode(route: Route, data: bytes) -> Any:
    import msgspec

    assert route.request is not None
    return msgspec.json.decode(data, type=route.request)


def _completion(data: bytes, key: str) -> tuple[Route, str, Any]:
    import msgspec

    from agent.protocol.orders import OrderCompletion, order_complete_path
    from agent.uplink import routes

    doc = json.loads(data)
    return (routes.ORDER_COMPLETE, order_complete_path(str(doc["order_id"])),
            msgspec.convert(doc["body"], OrderCompletion))


def _simple(route_name: str) -> Callable[[bytes, str], tuple[Route, str, Any]]:
    def read(data: bytes, key: str) -> tuple[Route, str, Any]:
        from agent.uplink import routes

        route: Route = getattr(routes, route_name)
        return route, route.path, _decode(route, data)

    return read


def _evidence(data: bytes, key: str) -> tuple[Route, str, Any]:
    from agent.uplink import routes

    route = routes.EVIDENCE_SUBMIT
    payload = _decode(route, data)
    return route, route.path.format(site_id=payload.site_id), payload


def _report(data: bytes, key: str) -> tuple[Route, str, Any]:
    from agent.uplink import routes

    route = routes.RESOLVE if key == "resolve" else routes.INCIDENTS
    return route, route.path, _decode(route, data)


def _logs(data: bytes, key: str) -> tuple[Route, str, Any]:
    import msgspec

    from agent.uplink import routes

    doc = json.loads(data)
    assert routes.LOGS.request is not None
    return routes.LOGS, routes.LOGS.path, msgspec.convert(doc["body"], routes.LOGS.request)


def queues() -> list[Queue]:
    from agent.outbox import kinds
    from agent.outbox.naming import NsNaming
    from agent.scan.threats import ARCHIVE_DIR

    return [Queue("order completions", kinds.COMPLETION_DIR, NsNaming(), _completion),
            Queue("evidence bundles", kinds.EVIDENCE_DIR, kinds.EVIDENCE_NAMING, _evidence),
            Queue("executions", kinds.TELEMETRY_DIR, kinds.TELEMETRY_NAMING, _simple("EXECUTIONS")),
            Queue("incident reports", kinds.REPORT_DIR, NsNaming(), _report),
            Queue("log batches", kinds.LOG_DIR, NsNaming(), _logs),
            Queue("security events", ARCHIVE_DIR, NsNaming(), _simple("SECURITY_EVENTS"))]


def preview_queue(path: Path, q: Queue, limit: int) -> dict[str, Any]:
    from agent.outbox.queue import list_items
    from agent.uplink.preview import would_send

    items = list_items(path / q.directory, q.naming)
    shown = []
    for item in items[: limit or None]:
        entry: dict[str, Any] = {"file": item.path.name, "bytes": item.size}
        try:
            route, req_path, payload = q.read(item.path.read_bytes(), item.key)
        except FileNotFoundError:
            continue  # delivered meanwhile
        except (OSError, ValueError, KeyError, TypeError) as exc:
            entry.update(status="undecodable", detail=f"{type(exc).__name__}: not sent as it is")
            shown.append(entry)
            continue
        entry.update(would_send(route, payload, req_path))
        if entry["status"] == "refused":
            entry["detail"] = "cannot be scrubbed: it stays queued and is dead-lettered after 3 tries"
        shown.append(entry)
    return {"queue": q.label, "directory": q.directory, "pending": len(items), "items": shown}


# --- the checkin ------------------------------------------------------------------------------


def _private_copy(src: Path, dest: Path) -> None:
    """The small state files the checkin reads (keys, server keys, credentials, pins, state)."""
    for p in src.iterdir():
        if p.is_file() and not p.is_symlink() and p.name != "agent.lock" \
                and p.stat().st_size <= 1024 * 1024:
            shutil.copy2(p, dest / p.name)
    if (src / "keys").is_dir():
        shutil.copytree(src / "keys", dest / "keys")


def preview_checkin(config: Config, config_path: Path, path: Path) -> dict[str, Any]:
    import asyncio

    import msgspec

    from agent.checkin import CheckinComponent
    from agent.state import KeyFileError, load_or_create

    with tempfile.TemporaryDirectory(prefix="msp-preview-") as tmp:
        copy = Path(tmp) / "state"
        copy.mkdir(mode=0o700)
        _private_copy(path, copy)
        cfg = msgspec.structs.replace(config, state_dir=str(copy))
        try:
            keys = load_or_create(copy, create=False)
        except KeyFileError as exc:
            return {"status": "unavailable", "detail": f"{exc}"}
        comp = CheckinComponent(cfg, config_path, keys)

        async def build() -> dict[str, Any]:
            try:
                return await comp.preview()
            finally:
                await comp.close()

        return asyncio.run(build())


def _scrubber_for(args: argparse.Namespace, path: Path) -> Config | None:
    """Configure the process-wide scrubber as the daemon does (config key, else the appliance's
    phi_hash.key) and register the config's secrets; returns the config when one loads."""
    from agent import phi
    from agent.config import config_path
    from agent.log import register_secret

    site_key = None
    try:
        data = (path / "phi_hash.key").read_bytes()
        site_key = data if len(data) == 32 else None
    except OSError:
        pass
    cfg: Config | None = None
    if config_path(getattr(args, "config", None)).exists():
        loaded = load(args)
        if loaded is None:
            raise CommandError("the config does not load (see above)", EXIT_USAGE)
        cfg = loaded.config
        register_secret(cfg.api_key)
        phi.configure(hash_key_hex=cfg.phi_hash_key, hash_mode=cfg.phi_hash_mode,
                      site_key=site_key)
    else:
        phi.configure(site_key=site_key)
    return cfg


def run(args: argparse.Namespace) -> int:
    from agent.config import config_path

    path = existing_state_dir(args)
    if args.limit < 0:
        raise CommandError("--limit must be 0 or more", EXIT_USAGE)
    from agent.runtime.control import ControlUnavailable, ask

    cfg = _scrubber_for(args, path)
    doc: dict[str, Any] = {"source": "", "state_dir": str(path)}
    try:
        if args.no_checkin:
            raise ControlUnavailable("not asked: --no-checkin")
        doc["checkin"] = ask(path, "preview_checkin")
        doc["source"] = FROM_DAEMON
    except ControlUnavailable as exc:
        doc["source"] = FROM_STATE.format(why=exc)
        if not args.no_checkin:
            doc["checkin"] = (preview_checkin(cfg, config_path(getattr(args, "config", None)),
                                              path)
                              if cfg is not None else
                              {"status": "unavailable", "detail": "no config: the checkin needs "
                               "site_id, api_endpoint and api_key (pass --config)"})
    doc["outboxes"] = [preview_queue(path, q, args.limit) for q in queues()]
    refused = [i for q in doc["outboxes"] for i in q["items"] if i["status"] != "would_send"]
    if doc.get("checkin", {}).get("status") == "refused":
        refused.append(doc["checkin"])
    if args.json:
        emit_json(doc)
    else:
        emit(_lines(doc, args.bodies))
    return EXIT_FAILURE if refused else EXIT_OK


def _lines(doc: dict[str, Any], bodies: bool) -> list[str]:
    lines = [f"preview: {doc['source']}", "nothing is sent"]
    chk = doc.get("checkin")
    if chk is not None:
        if chk["status"] == "would_send":
            lines.append(f"next checkin: POST {chk['path']}"
                         + (" (scrubbing changed it)" if chk["scrubbed"] else ""))
            lines += _body_lines(chk["body"], bodies, summary=True)
        else:
            lines.append(f"next checkin: {chk['status']}: {chk['detail']}")
    for q in doc["outboxes"]:
        lines.append(f"{q['queue']} ({q['directory']}/): {q['pending']} pending")
        for it in q["items"]:
            if it["status"] == "would_send":
                lines.append(f"  {it['file']}  {it['method']} {it['path']}  {it['bytes']} bytes"
                             + ("  scrubbed" if it["scrubbed"] else ""))
                lines += _body_lines(it["body"], bodies)
            else:
                lines.append(f"  {it['file']}  {it['status'].upper()}: {it['detail']}")
        if q["pending"] > len(q["items"]):
            lines.append(f"  ... {q['pending'] - len(q['items'])} more (--limit)")
    return lines


def _body_lines(body: Any, bodies: bool, summary: bool = False) -> list[str]:
    if bodies:
        return ["    " + line for line in json.dumps(body, indent=2).splitlines()]
    if summary and isinstance(body, dict):
        keys = ("site_id", "hostname", "agent_version", "mac_address")
        return ["    " + ", ".join(f"{k}={body[k]}" for k in keys if k in body)]
    return []
