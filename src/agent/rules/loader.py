"""Rule sources, precedence and signed bundles (healing.md §1.7–1.8).

``load_all`` builds a fresh, totally ordered rule list from the state directory and the builtin
set; a bad rule is rejected with a reason and the rest still load (:class:`LoadReport`).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.crypto.batch import verify_any_key
from agent.log import get_logger
from agent.rules.model import CheckCatalog, Rule, RuleError, RunbookLookup, parse_rule
from agent.rules.yaml12 import load_yaml12
from agent.state.atomic import atomic_write, ensure_dir
from agent.timefmt import format_rfc3339

log = get_logger("rules")

MAX_FILE = 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
SYNCED_NAME = "synced_rules.json"


class BundleError(ValueError):
    """A signed bundle that must not be loaded; ``deferred`` when no server key is known yet."""

    def __init__(self, reason: str, *, deferred: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.deferred = deferred


def canonical_rules_text(rules: object) -> str:
    """The exact text the server signs: Python ``json.dumps(rules, sort_keys=True)``."""
    return json.dumps(rules, sort_keys=True)


def verify_bundle(bundle: Mapping[str, Any], trusted_keys: Iterable[str]) -> list[Any]:
    """Verify a wrapped bundle ``{rules, signature, server_public_key?}``; return its rules.

    The embedded ``server_public_key`` is never a trust anchor: when present it must be one of
    ``trusted_keys``. Raises :class:`BundleError`.
    """
    keys = [k.lower() for k in trusted_keys if isinstance(k, str)]
    rules = bundle.get("rules")
    if not isinstance(rules, list):
        raise BundleError("bundle without a rules list")
    sig = bundle.get("signature")
    if not isinstance(sig, str) or not sig:
        raise BundleError("unsigned bundle")
    if not keys:
        raise BundleError("no trusted server key known yet", deferred=True)
    embedded = bundle.get("server_public_key")
    if embedded not in (None, "") and (not isinstance(embedded, str) or embedded.lower() not in keys):
        raise BundleError("bundle key is not a trusted server key")
    if len(sig) != 128 or any(c not in "0123456789abcdef" for c in sig):
        raise BundleError("malformed signature")
    message = canonical_rules_text(rules).encode("utf-8")
    candidates = [bytes.fromhex(k) for k in keys if _HEX64.fullmatch(k)]
    if verify_any_key([(message, bytes.fromhex(sig))], candidates)[0] is None:
        raise BundleError("signature does not verify with any trusted server key")
    return rules


@dataclass
class LoadReport:
    loaded: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (rule id, warning)
    replaced: list[tuple[str, str]] = field(default_factory=list)  # (rule id, losing origin)
    deferred_files: list[str] = field(default_factory=list)
    security_events: list[str] = field(default_factory=list)


def _rule_files(directory: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not directory.is_dir():
        return []
    out = []
    for name in sorted(os.listdir(directory), key=lambda n: n.encode("utf-8", "surrogateescape")):
        if name.startswith(".") or not name.endswith(suffixes):
            continue
        p = directory / name
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue  # no symlinks, no directories
        if st.st_size > MAX_FILE:
            log.warning("rules.file_too_large", "rule file over 1 MiB skipped", file=name)
            continue
        out.append(p)
    return out


def _yaml_rules(path: Path) -> list[Any]:
    doc = load_yaml12(path.read_bytes())
    if isinstance(doc, Mapping) and isinstance(doc.get("rules"), list):
        return list(doc["rules"])
    if isinstance(doc, Mapping):
        return [doc]
    raise ValueError("not a rule map")


def _json_rules(
    path: Path, trusted_keys: Sequence[str], require_signed: bool, report: LoadReport
) -> list[Any]:
    doc = json.loads(path.read_bytes())
    if isinstance(doc, list):
        if require_signed:
            raise ValueError("unsigned bare rule array refused (require_signed_rules)")
        log.warning("rules.unsigned", "unsigned rule file loaded", file=path.name)
        return doc
    if not isinstance(doc, Mapping) or not isinstance(doc.get("rules"), list):
        raise ValueError("not a rule bundle")
    if not doc.get("signature"):
        if require_signed:
            raise ValueError("unsigned rule bundle refused (require_signed_rules)")
        log.warning("rules.unsigned", "unsigned rule bundle loaded", file=path.name)
        return list(doc["rules"])
    try:
        return verify_bundle(doc, trusted_keys)
    except BundleError as exc:
        if exc.deferred:
            report.deferred_files.append(path.name)
            return []
        report.security_events.append(f"{path.name}: {exc.reason}")
        log.error(
            "rules.bundle_rejected", "rule bundle failed verification", file=path.name, reason=exc.reason
        )
        raise ValueError(exc.reason) from None


def load_all(
    state_dir: Path | None,
    *,
    builtin: Sequence[Mapping[str, Any]],
    runbooks: RunbookLookup,
    catalog: CheckCatalog | None,
    trusted_keys: Sequence[str] = (),
    require_signed: bool = False,
) -> tuple[list[Rule], LoadReport]:
    """Every source of §1.7, duplicates resolved by rank, sorted by the total order."""
    report = LoadReport()
    candidates: list[Rule] = []
    file_order = 0

    def add(raws: Sequence[Any], source: str, origin: str) -> None:
        nonlocal file_order
        file_order += 1
        for pos, raw in enumerate(raws):
            try:
                rule = parse_rule(
                    raw,
                    source,
                    runbooks=runbooks,
                    catalog=catalog,
                    file_order=file_order,
                    position=pos,
                    origin=origin,
                )
            except RuleError as exc:
                report.errors.append((origin, str(exc)))
                log.warning("rules.rejected", "rule rejected", origin=origin, reason=str(exc))
                continue
            report.warnings.extend((rule.id, w) for w in rule.warnings)
            candidates.append(rule)

    if state_dir is not None:
        rdir = state_dir / "rules"
        for path in _rule_files(rdir, (".yaml", ".yml")):
            try:
                add(_yaml_rules(path), "custom", path.name)
            except Exception as exc:  # noqa: BLE001 - a bad file is skipped, the rest load
                report.errors.append((path.name, f"parse error: {type(exc).__name__}"))
                log.error("rules.file_unparseable", f"rule file skipped: parse error "
                          f"({type(exc).__name__})", file=path.name, reason=type(exc).__name__)
        for path in _rule_files(rdir / "promoted", (".yaml", ".yml")):
            try:
                add(_yaml_rules(path), "promoted", f"promoted/{path.name}")
            except Exception as exc:  # noqa: BLE001
                report.errors.append((f"promoted/{path.name}", f"parse error: {type(exc).__name__}"))
                log.error("rules.file_unparseable", f"rule file skipped: parse error "
                          f"({type(exc).__name__})", file=f"promoted/{path.name}",
                          reason=type(exc).__name__)
        for path in _rule_files(rdir, (".json",)):
            try:
                add(_json_rules(path, trusted_keys, require_signed, report), "synced", path.name)
            except Exception as exc:  # noqa: BLE001
                report.errors.append(
                    (
                        path.name,
                        str(exc) if isinstance(exc, ValueError) else f"parse error: {type(exc).__name__}",
                    )
                )
    add(list(builtin), "builtin", "builtin")

    best: dict[str, Rule] = {}
    for rule in candidates:
        cur = best.get(rule.id)
        if cur is None or (rule.rank, rule.file_order, rule.position) < (
            cur.rank,
            cur.file_order,
            cur.position,
        ):
            if cur is not None:
                report.replaced.append((rule.id, cur.origin))
                log.info(
                    "rules.replaced",
                    "duplicate rule id replaced",
                    rule_id=rule.id,
                    replaced=cur.origin,
                    by=rule.origin,
                )
            best[rule.id] = rule
        else:
            report.replaced.append((rule.id, rule.origin))
    rules = sorted(best.values(), key=lambda r: r.sort_key)
    report.loaded = len(rules)
    return rules, report


def store_bundle(state_dir: Path, bundle: Mapping[str, Any], trusted_keys: Sequence[str]) -> list[Any]:
    """Verify a fetched bundle and write it to ``rules/synced_rules.json`` (never on failure)."""
    rules = verify_bundle(bundle, trusted_keys)
    doc = dict(bundle)
    doc["fetched_at"] = format_rfc3339()
    rdir = ensure_dir(state_dir / "rules")
    atomic_write(rdir / SYNCED_NAME, json.dumps(doc).encode("utf-8"))
    return rules
