"""``rules list``, ``rules lint [FILE]``, ``rules test --incident FILE`` (runtime.md §8,
healing.md §1): the L1 rules as the agent loads them, and which rule an incident matches and why.

Read-only: nothing here takes the lock or writes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.commands._operator import (
    CommandError,
    command_group,
    emit,
    emit_json,
    state_dir,
    subcommand,
)
from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from agent.rules import Rule


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rsub = command_group(sub, "rules", help="list, lint and test the L1 rules",
                         description="The L1 rules as the agent loads them: builtin, custom "
                         "(rules/*.yaml), promoted (rules/promoted/) and synced signed bundles "
                         "(rules/*.json) from the state directory. Read-only.")
    lp = subcommand(rsub, "list", run_list, help="the loaded rules in match order",
                    description="The rules in the order they are tried (priority, source rank, "
                    "file, position). Exit 0.")
    add_key_options(lp)
    add_lint_parser(rsub, "lint", help="check every rule source (or FILE)")
    tp = subcommand(rsub, "test", run_test, help="which rule matches an incident, and why",
                    description="Evaluate the rules, in order, against an incident data map (a "
                    "JSON object: check_type, host_id, severity, details, ...; the map healing "
                    "matches, healing.md §2.3) and show every condition's verdict up to the "
                    "first match. Cooldowns are not consulted. Exit 0 a rule matched, 1 none "
                    "did, 2 unusable input.")
    tp.add_argument("--incident", metavar="FILE", required=True,
                    help="the incident data map (JSON; - for stdin)")
    tp.add_argument("--severity", help="severity (default: the map's severity)")
    tp.add_argument("--all", action="store_true", help="explain every rule, not only up to "
                    "the first match")
    add_key_options(tp)


def add_lint_parser(sub: argparse._SubParsersAction, name: str,  # type: ignore[type-arg]
                    help: str) -> None:
    """``rules lint`` and ``verify rules``: the same check."""
    lt = subcommand(sub, name, run_lint, help=help,
                    description="Parse and check every rule source of the state directory (or "
                    "FILE): conditions, runbooks, parameters, check types; verify signed rule "
                    "bundles against the trusted server keys (server_keys.json, or --pubkey). "
                    "Exit 0 clean, 1 a rule or bundle was rejected, 2 unusable input.")
    lt.add_argument("file", metavar="FILE", nargs="?",
                    help="one rule file (YAML rules or a JSON bundle) instead of the state dir")
    add_key_options(lt)


def add_key_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pubkey", action="append", default=[], metavar="HEX",
                   help="trusted server key for signed bundles (repeatable; default: "
                   "server_keys.json in the state directory)")


# --- loading ------------------------------------------------------------------------------------


def trusted_keys(args: argparse.Namespace, path: Path | None) -> tuple[list[str], str]:
    """``--pubkey`` values, else the trusted set of ``server_keys.json``; and where they came
    from. Raises :class:`CommandError` (exit 2) for a malformed ``--pubkey``."""
    from agent.site.serverkeys import FILE_NAME, valid_key

    given = [k.lower() for k in getattr(args, "pubkey", []) or []]
    for key in given:
        if not valid_key(key):
            raise CommandError(f"--pubkey {key[:70]!r}: expected 64 hex characters of an Ed25519 "
                               "public key", EXIT_USAGE)
    if given:
        return given, "--pubkey"
    if path is None:
        return [], "none"
    try:
        doc = json.loads((path / FILE_NAME).read_bytes())
    except FileNotFoundError:
        return [], "none (no server_keys.json)"
    except (OSError, ValueError):
        return [], f"none ({FILE_NAME} unreadable)"
    keys = [doc.get(k) for k in ("current", "previous")] if isinstance(doc, dict) else []
    return [str(k) for k in keys if valid_key(k)], FILE_NAME


@dataclass
class Loaded:
    rules: list[Rule]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (rule id, warning)
    deferred: list[str] = field(default_factory=list)
    security: list[str] = field(default_factory=list)
    keys_from: str = ""
    sources: str = ""

    def ok(self) -> bool:
        return not self.errors and not self.security


def _require_signed(args: argparse.Namespace) -> bool:
    from agent.config import ConfigError, config_path, load_config

    path = config_path(getattr(args, "config", None))
    if not path.exists():
        return False
    try:
        return bool(load_config(path).config.require_signed_rules)
    except (ConfigError, AttributeError):
        return False


def load_state_rules(args: argparse.Namespace) -> Loaded:
    """Every rule source of healing.md §1.7 as the daemon loads them."""
    from agent.rules import load_all
    from agent.rules.builtin import builtin_rules
    from agent.runbooks.registry import default_registry
    from agent.scan.catalog import CATALOG

    path = state_dir(args)
    keys, keys_from = trusted_keys(args, path if path.is_dir() else None)
    registry = default_registry()
    rules, report = load_all(path if path.is_dir() else None, builtin=builtin_rules(registry),
                             runbooks=registry, catalog=CATALOG, trusted_keys=keys,
                             require_signed=_require_signed(args))
    return Loaded(rules, list(report.errors), list(report.warnings), list(report.deferred_files),
                  list(report.security_events), keys_from, f"builtin and {path / 'rules'}")


def load_file_rules(args: argparse.Namespace, file: Path) -> Loaded:
    """One rule file: YAML rules, a bare JSON array, or a signed JSON bundle (verified)."""
    from agent.rules import BundleError, RuleError, parse_rule, verify_bundle
    from agent.rules.yaml12 import load_yaml12
    from agent.runbooks.registry import default_registry
    from agent.scan.catalog import CATALOG

    try:
        raw_bytes = file.read_bytes()
    except OSError as exc:
        raise CommandError(f"{file}: {exc.strerror or exc}", EXIT_USAGE) from None
    out = Loaded([], sources=str(file))
    raws: list[Any]
    source = "custom"
    if file.suffix == ".json":
        try:
            doc = json.loads(raw_bytes)
        except ValueError as exc:
            raise CommandError(f"{file}: not JSON: {exc}", EXIT_USAGE) from None
        source = "synced"
        if isinstance(doc, list):
            raws = doc
            out.warnings.append(("-", "unsigned bare rule array"))
        elif isinstance(doc, Mapping) and isinstance(doc.get("rules"), list):
            if not doc.get("signature"):
                raws = list(doc["rules"])
                out.warnings.append(("-", "unsigned rule bundle"))
            else:
                path = _maybe_state(args)
                keys, out.keys_from = trusted_keys(args, path)
                try:
                    raws = verify_bundle(doc, keys)
                except BundleError as exc:
                    if exc.deferred:
                        raise CommandError(f"{file}: {exc.reason}: pass --pubkey HEX or "
                                           "--state-dir", EXIT_USAGE) from None
                    out.security.append(f"{file.name}: {exc.reason}")
                    return out
        else:
            raise CommandError(f"{file}: not a rule bundle (no rules list)", EXIT_USAGE)
    else:
        try:
            doc = load_yaml12(raw_bytes)
        except Exception as exc:  # noqa: BLE001 - any parse failure is unusable input
            raise CommandError(f"{file}: not YAML: {type(exc).__name__}: {exc}",
                               EXIT_USAGE) from None
        if isinstance(doc, Mapping) and isinstance(doc.get("rules"), list):
            raws = list(doc["rules"])
        elif isinstance(doc, Mapping):
            raws = [doc]
        else:
            raise CommandError(f"{file}: not a rule map", EXIT_USAGE)
    registry = default_registry()
    for pos, raw in enumerate(raws):
        try:
            rule = parse_rule(raw, source, runbooks=registry, catalog=CATALOG, file_order=1,
                              position=pos, origin=file.name)
        except RuleError as exc:
            out.errors.append((f"{file.name}#{pos + 1}", str(exc)))
            continue
        out.rules.append(rule)
        out.warnings.extend((rule.id, w) for w in rule.warnings)
    out.rules.sort(key=lambda r: r.sort_key)
    return out


def _maybe_state(args: argparse.Namespace) -> Path | None:
    try:
        path = state_dir(args)
    except CommandError:
        return None
    return path if path.is_dir() else None


def rule_doc(rule: Rule) -> dict[str, Any]:
    return {"id": rule.id, "name": rule.name, "priority": rule.priority, "source": rule.source,
            "origin": rule.origin, "enabled": rule.enabled, "action": rule.action,
            "runbook_id": rule.runbook_id, "severity_filter": sorted(rule.severity_filter),
            "conditions": [{"field": c.field, "operator": c.operator, "value": c.value}
                           for c in rule.conditions],
            "cooldown_seconds": rule.cooldown_seconds}


# --- list and lint ------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    loaded = load_state_rules(args)
    if args.json:
        emit_json({"rules": [rule_doc(r) for r in loaded.rules],
                   "rejected": [{"origin": o, "reason": r} for o, r in loaded.errors]})
        return EXIT_OK
    lines = [f"{len(loaded.rules)} rules ({loaded.sources}), in match order:"]
    for r in loaded.rules:
        state = "" if r.enabled else "  [disabled]"
        lines.append(f"  {r.priority:>4}  {r.id}  {r.source}  -> {r.action}{state}")
    if loaded.errors:
        lines.append(f"{len(loaded.errors)} rejected (see `msp-agent rules lint`)")
    emit(lines)
    return EXIT_OK


def lint_result(loaded: Loaded) -> dict[str, Any]:
    return {"ok": loaded.ok(), "rules": len(loaded.rules), "sources": loaded.sources,
            "keys_from": loaded.keys_from,
            "rejected": [{"origin": o, "reason": r} for o, r in loaded.errors],
            "bundle_failures": loaded.security, "deferred_bundles": loaded.deferred,
            "warnings": [{"rule": i, "warning": w} for i, w in loaded.warnings]}


def lint_lines(loaded: Loaded) -> list[str]:
    lines = [f"{'OK' if loaded.ok() else 'FAILED'}: {len(loaded.rules)} rules loaded from "
             f"{loaded.sources}"]
    lines += [f"  BAD BUNDLE {s}" for s in loaded.security]
    lines += [f"  REJECTED {o}: {r}" for o, r in loaded.errors]
    lines += [f"  deferred {d}: no trusted server key known yet" for d in loaded.deferred]
    lines += [f"  warning {i}: {w}" for i, w in loaded.warnings]
    if loaded.keys_from:
        lines.append(f"  server keys from {loaded.keys_from}")
    return lines


def run_lint(args: argparse.Namespace) -> int:
    loaded = load_file_rules(args, Path(args.file)) if args.file else load_state_rules(args)
    if args.json:
        emit_json(lint_result(loaded))
    else:
        emit(lint_lines(loaded))
    return EXIT_OK if loaded.ok() else EXIT_FAILURE


# --- test ---------------------------------------------------------------------------------------


def _shown(value: Any) -> Any:
    from agent.rules.values import MISSING

    return "(missing)" if value is MISSING else value


def explain(rule: Rule, data: Mapping[str, Any], severity: str) -> dict[str, Any]:
    """Why ``rule`` does or does not match: its gates and each condition with the actual value."""
    from agent.rules.values import lookup

    why: list[str] = []
    if not rule.enabled:
        why.append("rule disabled")
    if rule.severity_filter and severity.lower() not in rule.severity_filter:
        why.append(f"severity {severity or '(none)'} not in {sorted(rule.severity_filter)}")
    conds = []
    for c in rule.conditions:
        ok = c.evaluate(data)
        conds.append({"field": c.field, "operator": c.operator, "value": c.value,
                      "actual": _shown(lookup(data, c.field)), "ok": ok})
        if not ok:
            why.append(f"{c.field} {c.operator} {json.dumps(c.value, default=str)} is false "
                       f"(actual {json.dumps(_shown(lookup(data, c.field)), default=str)})")
    matched = rule.matches(data, severity)
    return {"rule": rule.id, "source": rule.source, "priority": rule.priority,
            "matched": matched, "action": rule.action, "runbook_id": rule.runbook_id,
            "why_not": why, "conditions": conds}


def read_incident(name: str) -> dict[str, Any]:
    import sys

    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{name}: {getattr(exc, 'strerror', None) or exc}", EXIT_USAGE) from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{name}: not JSON: {exc}", EXIT_USAGE) from None
    if not isinstance(doc, dict):
        raise CommandError(f"{name}: the incident must be a JSON object (a data map)", EXIT_USAGE)
    # Incident.data_map copies the details' keys to the top level (healing.md §2.3).
    details = doc.get("details")
    if isinstance(details, dict):
        doc = {**{k: v for k, v in details.items() if k not in doc}, **doc}
    return doc


def run_test(args: argparse.Namespace) -> int:
    data = read_incident(args.incident)
    severity = str(args.severity or data.get("severity") or "")
    loaded = load_state_rules(args)
    results: list[dict[str, Any]] = []
    match: dict[str, Any] | None = None
    for rule in loaded.rules:
        res = explain(rule, data, severity)
        results.append(res)
        if res["matched"] and match is None:
            match = res
            if not args.all:
                break
    note = runbook_note(match, data) if match else ""
    if args.json:
        emit_json({"matched": match is not None, "rule": match["rule"] if match else None,
                   "action": match["action"] if match else None, "severity": severity,
                   "note": note or None, "evaluated": results})
        return EXIT_OK if match else EXIT_FAILURE
    lines = [f"incident check_type={data.get('check_type', '-')} host={data.get('host_id', '-')} "
             f"severity={severity or '-'}"]
    lines += _test_lines(results, match)
    if note:
        lines.append(f"note: {note}")
    emit(lines)
    return EXIT_OK if match else EXIT_FAILURE


def runbook_note(match: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """What healing would do with the matched rule's runbook beyond the match: a runbook for
    another platform or check type is escalated (``runbook_mismatch``, healing.md §1)."""
    from agent.runbooks.registry import default_registry

    rb_id = match.get("runbook_id")
    rb = default_registry().get(str(rb_id)) if rb_id else None
    if rb is None:
        return ""
    platform, check_type = data.get("platform"), data.get("check_type")
    if platform and rb.platform != platform:
        return (f"healing escalates it (runbook_mismatch): runbook {rb.id} is for {rb.platform}, "
                f"the incident's platform is {platform}")
    if rb.check_types and check_type not in rb.check_types:
        return (f"healing escalates it (runbook_mismatch): runbook {rb.id} does not handle "
                f"{check_type}")
    return ""


def _test_lines(results: Sequence[dict[str, Any]], match: dict[str, Any] | None) -> list[str]:
    lines = []
    skipped = 0
    for res in results:
        if res["matched"]:
            lines.append(f"MATCH {res['rule']} ({res['source']}, priority {res['priority']}) -> "
                         f"{res['action']}")
            lines += [f"    {c['field']} {c['operator']} {json.dumps(c['value'], default=str)}: "
                      f"actual {json.dumps(c['actual'], default=str)}" for c in res["conditions"]]
            continue
        tested = [c for c in res["conditions"] if c["field"] in ("check_type", "incident_type")]
        if tested and not all(c["ok"] for c in tested):
            skipped += 1  # another check type: not worth a line each
            continue
        lines.append(f"no    {res['rule']}: {'; '.join(res['why_not']) or 'no match'}")
    if skipped:
        lines.append(f"({skipped} rules for other check types not shown)")
    lines.append(f"result: {match['rule'] + ' -> ' + match['action'] if match else 'no rule matches'}")
    return lines
