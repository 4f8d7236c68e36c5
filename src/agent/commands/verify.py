"""``verify rules [FILE]``, ``verify order FILE``, ``verify evidence FILE``, ``verify state``
(runtime.md §8): non-destructive checks. Nothing here writes, repairs or takes the lock.

Exit 0 ok, 1 a check failed, 2 unusable input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.commands._operator import (
    CommandError,
    command_group,
    emit,
    emit_json,
    existing_state_dir,
    read_journal,
    state_dir,
    subcommand,
)
from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from agent.commands.rules import add_key_options, add_lint_parser, trusted_keys


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    vsub = command_group(sub, "verify", help="non-destructive checks of rules, orders, "
                         "evidence, state", description="Non-destructive checks; nothing is "
                         "written or repaired. Exit 0 ok, 1 a check failed, 2 unusable input.")
    add_lint_parser(vsub, "rules", help="lint the rules and verify signed bundles")
    o = subcommand(vsub, "order", run_order, help="verify signed orders offline (orders.md §4)",
                   description="Run the agent's order verification (signature, payload, expiry, "
                   "recipient; orders.md §4 steps 1-12, without the nonce store) on FILE: one "
                   "order object, a list of them, or a checkin response with pending_orders. "
                   "Without --appliance-id/--site-id the recipient checks use the order's own "
                   "target (reported as not checked).")
    o.add_argument("file", metavar="FILE", help="the order(s), JSON")
    add_key_options(o)
    o.add_argument("--appliance-id", metavar="ID", help="this appliance's id (recipient check)")
    o.add_argument("--site-id", metavar="ID", help="this appliance's site (site-scoped orders)")
    o.add_argument("--at", metavar="RFC3339", help="verify as of this time (default: now)")
    e = subcommand(vsub, "evidence", run_evidence,
                   help="verify one evidence bundle file (hash and signature)",
                   description="One bundle file (a spool or dead-letter entry, or Central "
                   "Command's copy): the bundle hash, the signature, and that the body matches "
                   "what was signed. The key: --pubkey, else the state directory's evidence "
                   "chain journal, else the bundle's own agent_public_key (reported as "
                   "self-declared). For a whole chain use `evidence verify`.")
    e.add_argument("file", metavar="FILE", help="the bundle (JSON)")
    e.add_argument("--pubkey", action="append", default=[], metavar="HEX",
                   help="evidence public key (repeatable)")
    subcommand(vsub, "state", run_state, help="check the state directory",
               description="Key files parse and match their public halves, secret files are "
               "0600 and the directory 0700, JSON state files parse, the journals (healing, "
               "order records, order inbox, evidence chain) are readable, no trust re-seed is "
               "pending. Read-only: works while the service runs.")


# --- order --------------------------------------------------------------------------------------


def _read_json(name: str) -> Any:
    try:
        return json.loads(Path(name).read_bytes())
    except OSError as exc:
        raise CommandError(f"{name}: {exc.strerror or exc}", EXIT_USAGE) from None
    except ValueError as exc:
        raise CommandError(f"{name}: not JSON: {exc}", EXIT_USAGE) from None


def _orders_in(doc: Any, name: str) -> list[Any]:
    if isinstance(doc, dict) and isinstance(doc.get("pending_orders"), list):
        return list(doc["pending_orders"])
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        return [doc]
    raise CommandError(f"{name}: expected an order object, a list or pending_orders", EXIT_USAGE)


def _signed(order: Any) -> dict[str, Any]:
    sp = order.get("signed_payload") if isinstance(order, dict) else None
    try:
        doc = json.loads(sp) if isinstance(sp, str) else None
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _recipient(order: Any, args: argparse.Namespace) -> tuple[str, str | None, list[str]]:
    """The appliance and site to verify for; what was not checked because neither was given."""
    signed = _signed(order)
    raw_params = signed.get("parameters")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    unchecked = []
    appliance = args.appliance_id
    if appliance is None:
        oid = order.get("order_id") if isinstance(order, dict) else None
        fleet = str(oid).split("::") if isinstance(oid, str) and oid.startswith("fleet::") else []
        appliance = (signed.get("target_appliance_id") or params.get("target_appliance_id")
                     or (fleet[2] if len(fleet) == 3 else ""))
        unchecked.append("appliance")
    site = args.site_id
    if site is None:
        site = params.get("site_id") if isinstance(params.get("site_id"), str) else None
        unchecked.append("site")
    return str(appliance or ""), site, unchecked


def run_order(args: argparse.Namespace) -> int:
    from agent.orders.verify import Context, presign, verify
    from agent.timefmt import parse_rfc3339

    orders = _orders_in(_read_json(args.file), args.file)
    path = None
    if not args.pubkey:
        try:
            candidate = state_dir(args)
        except CommandError:
            candidate = None
        path = candidate if candidate is not None and candidate.is_dir() else None
    keys, keys_from = trusted_keys(args, path)
    if not keys:
        raise CommandError("no server key to verify with: pass --pubkey HEX (or --state-dir with "
                           "a server_keys.json)", EXIT_USAGE)
    try:
        now = parse_rfc3339(args.at) if args.at else datetime.now(UTC)
    except ValueError:
        raise CommandError(f"--at {args.at!r}: not an RFC 3339 time", EXIT_USAGE) from None
    results = []
    sigs = presign(orders, Context.build("", None, now, keys))  # every signature in one batch
    for order in orders:
        appliance, site, unchecked = _recipient(order, args)
        v = verify(order, Context.build(appliance, site, now, keys), None, sigs)
        results.append({"order_id": v.order_id, "order_type": v.order_type, "verdict": v.text,
                        "reason": v.reason or None, "detail": v.detail or None,
                        "completion": v.completion, "payload_sha256": v.payload_sha256,
                        "not_checked": unchecked})
    ok = all(r["verdict"] == "accept" for r in results)
    if args.json:
        emit_json({"ok": ok, "keys_from": keys_from, "at": now.isoformat(), "orders": results})
        return EXIT_OK if ok else EXIT_FAILURE
    lines = []
    for r in results:
        mark = "OK " if r["verdict"] == "accept" else "BAD"
        why = f"  {r['reason']}: {r['detail']}" if r["reason"] else ""
        note = (f"  (recipient not checked: {', '.join(r['not_checked'])}; pass --appliance-id/"
                "--site-id)" if r["not_checked"] and r["verdict"] == "accept" else "")
        lines.append(f"{mark} {r['order_id'] or '-'}  {r['order_type'] or '-'}  "
                     f"{r['verdict']}{why}{note}")
    lines.append(f"{sum(r['verdict'] == 'accept' for r in results)}/{len(results)} orders verify "
                 f"(keys from {keys_from})")
    emit(lines)
    return EXIT_OK if ok else EXIT_FAILURE


# --- evidence -----------------------------------------------------------------------------------


def _journal_keys(path: Path | None) -> list[str]:
    """Evidence keys named by the chain journal (``created``/``key_changed``)."""
    if path is None:
        return []
    from agent.evidence.journal import read_lines
    from agent.evidence.store import CHAIN_DIR

    keys: list[str] = []
    for line in read_lines(path / CHAIN_DIR):
        key = line.get("public_key")
        if line.get("event") in ("created", "key_changed") and isinstance(key, str) \
                and key not in keys:
            keys.append(key)
    return keys


def check_bundle(doc: Any, keys: list[str]) -> dict[str, Any]:
    """Hash, signature and body-vs-signed consistency of one bundle document."""
    from agent.evidence.bundle import FORMAT
    from agent.evidence.verify import parse_strict, verify_signatures

    sd, sig = doc.get("signed_data"), doc.get("agent_signature")
    if not isinstance(sd, str) or not isinstance(sig, str):
        raise CommandError("not an evidence bundle (no signed_data and agent_signature)",
                           EXIT_USAGE)
    res: dict[str, Any] = {"bundle_id": doc.get("bundle_id"), "seq": None, "problems": []}
    try:
        raw = sd.encode("ascii")
    except UnicodeEncodeError:
        raw = b""
        res["problems"].append("signed_data is not ASCII (not canonical)")
    digest = hashlib.sha256(raw).hexdigest()
    res["bundle_hash"] = digest
    if isinstance(doc.get("bundle_hash"), str) and doc["bundle_hash"] != digest:
        res["problems"].append("hash_mismatch: bundle_hash is not the SHA-256 of signed_data")
    try:
        signed = parse_strict(sd)
    except ValueError:
        signed = None
    if not isinstance(signed, dict) or signed.get("format") != FORMAT:
        res["problems"].append("signed_data is not an evidence bundle of this format")
        signed = {}
    res["seq"] = signed.get("chain_seq")
    res["bundle_id"] = signed.get("bundle_id", res["bundle_id"])
    for k in ("bundle_id", "site_id", "checked_at"):
        if k in doc and k in signed and doc[k] != signed[k]:
            res["problems"].append(f"body_mismatch: {k} differs from the signed value")
    own = doc.get("agent_public_key")
    candidates = keys or ([own] if isinstance(own, str) else [])
    res["key"] = "self-declared agent_public_key" if not keys else "given or journal key"
    try:
        sig_b = bytes.fromhex(sig)
        batch = [(bytes.fromhex(k), raw, sig_b) for k in candidates]
    except ValueError:
        batch = []
    good = [k for k, ok in zip(candidates, verify_signatures(batch), strict=False) if ok] \
        if batch else []
    if not good:
        res["problems"].append("bad_signature: the signature does not verify"
                               + ("" if candidates else " (no key known)"))
    res["signed_by"] = good[0] if good else None
    res["ok"] = not res["problems"]
    return res


def run_evidence(args: argparse.Namespace) -> int:
    doc = _read_json(args.file)
    if not isinstance(doc, dict):
        raise CommandError(f"{args.file}: not a bundle object", EXIT_USAGE)
    for key in args.pubkey:
        if len(key) != 64 or any(c not in "0123456789abcdefABCDEF" for c in key):
            raise CommandError(f"--pubkey {key[:70]!r}: expected 64 hex characters", EXIT_USAGE)
    keys = [k.lower() for k in args.pubkey]
    if not keys:
        try:
            sd = state_dir(args)
        except CommandError:
            sd = None
        keys = _journal_keys(sd if sd is not None and sd.is_dir() else None)
    res = check_bundle(doc, keys)
    if args.json:
        emit_json(res)
    else:
        lines = [f"{'OK ' if res['ok'] else 'BAD'} seq {res['seq'] if res['seq'] is not None else '-'}"
                 f"  {res['bundle_id']}  hash {res['bundle_hash']}"]
        lines += [f"  {p}" for p in res["problems"]]
        if res["ok"]:
            lines.append(f"  signature verifies ({res['key']}"
                         + (": pass --pubkey to check it is the appliance's key)"
                            if res["key"].startswith("self") else ")"))
        emit(lines)
    return EXIT_OK if res["ok"] else EXIT_FAILURE


# --- state --------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str = ""


#: Public files the agent writes 0644, and the runtime directory (status.json is 0640 for the
#: operator's group, the Prometheus textfile 0644 for node_exporter).
PUBLIC_FILES = frozenset({"agent.pub", "agent.fingerprint"})
PUBLIC_DIRS = frozenset({"run"})
#: Secret material: readable by anyone but the agent is a failure, elsewhere a warning.
SECRET_FILES = frozenset({"agent.key", "keys/signing.key", "encryption_keypair.json",
                          "phi_hash.key", "credentials.sealed", "config.yaml"})
SECRET_DIRS = frozenset({"keys", "heal_params"})


def _keys(path: Path) -> list[Check]:
    from nacl.public import PrivateKey
    from nacl.signing import SigningKey

    from agent.crypto.keys import fingerprint
    from agent.state.keys import (
        ENVELOPE_KEYPAIR,
        EVIDENCE_KEY,
        IDENTITY_FINGERPRINT,
        IDENTITY_KEY,
        IDENTITY_PUB,
        PHI_HASH_KEY,
    )

    out: list[Check] = []
    try:
        text = (path / IDENTITY_KEY).read_text("ascii").strip()
        ident = SigningKey(bytes.fromhex(text)) if len(text) == 64 else None
        if ident is None:
            raise ValueError("not 64 hex characters")
        pub = bytes(ident.verify_key)
        problems = []
        if (path / IDENTITY_PUB).read_text().strip() != pub.hex():
            problems.append(f"{IDENTITY_PUB} does not match")
        if (path / IDENTITY_FINGERPRINT).read_text().strip() != fingerprint(pub):
            problems.append(f"{IDENTITY_FINGERPRINT} does not match")
        out.append(Check("identity key", "fail" if problems else "ok",
                         "; ".join(problems) or f"fingerprint {fingerprint(pub)}"))
    except FileNotFoundError as exc:
        out.append(Check("identity key", "fail", f"{Path(str(exc.filename)).name} missing "
                         "(run `msp-agent keygen`)"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        out.append(Check("identity key", "fail", f"{IDENTITY_KEY} unreadable: {exc}"))
    for name, label in ((EVIDENCE_KEY, "evidence key"), (PHI_HASH_KEY, "PHI hash key")):
        try:
            size = len((path / name).read_bytes())
            out.append(Check(label, "ok" if size == 32 else "fail",
                             "32 bytes" if size == 32 else f"{name} has {size} bytes, not 32"))
        except FileNotFoundError:
            out.append(Check(label, "fail", f"{name} missing (run `msp-agent keygen`)"))
        except OSError as exc:
            out.append(Check(label, "fail", f"{name} unreadable: {exc.strerror}"))
    try:
        doc = json.loads((path / ENVELOPE_KEYPAIR).read_bytes())
        priv = PrivateKey(bytes.fromhex(doc["private_key"]))
        match = str(doc.get("public_key", "")).lower() == bytes(priv.public_key).hex()
        out.append(Check("envelope key pair", "ok" if match else "fail",
                         "public key matches" if match else "public_key does not match "
                         "private_key"))
    except FileNotFoundError:
        out.append(Check("envelope key pair", "fail", f"{ENVELOPE_KEYPAIR} missing"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        out.append(Check("envelope key pair", "fail",
                         f"{ENVELOPE_KEYPAIR} unreadable ({type(exc).__name__})"))
    return out


def _permissions(path: Path) -> list[Check]:
    mode = path.stat().st_mode & 0o777
    out = [Check("state directory mode", "ok" if mode == 0o700 else "fail", f"{mode:04o}"
                 + ("" if mode == 0o700 else " (expected 0700)"))]
    secret: list[str] = []
    other: list[str] = []
    for p in sorted(path.rglob("*")):
        try:
            st = p.lstat()
        except OSError:
            continue
        rel = p.relative_to(path)
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o077 or p.name in PUBLIC_FILES \
                or rel.parts[0] in PUBLIC_DIRS:
            continue
        entry = f"{rel} {st.st_mode & 0o777:04o}"
        (secret if str(rel) in SECRET_FILES or rel.parts[0] in SECRET_DIRS else other).append(entry)
    out.append(Check("secret file permissions", "fail" if secret else "ok",
                     ("readable by group/other (expected 0600): " + _some(secret)) if secret
                     else "keys and credentials are 0600"))
    if other:
        out.append(Check("other file permissions", "warn",
                         "readable by group/other (the agent writes 0600): " + _some(other)))
    return out


def _some(items: list[str]) -> str:
    return ", ".join(items[:10]) + (f" and {len(items) - 10} more" if len(items) > 10 else "")


def _json_files(path: Path) -> Check:
    bad = []
    count = 0
    for p in sorted([*path.glob("*.json"), *path.glob("rules/*.json")]):
        count += 1
        try:
            json.loads(p.read_bytes())
        except (OSError, ValueError) as exc:
            bad.append(f"{p.relative_to(path)} ({type(exc).__name__})")
    return Check("JSON state files", "fail" if bad else "ok",
                 ("unreadable: " + ", ".join(bad)) if bad else f"{count} parse")


def _journals(path: Path) -> list[Check]:
    from agent.evidence.journal import segments
    from agent.evidence.store import CHAIN_DIR
    from agent.healing.journal import JOURNAL_NAME
    from agent.orders.inbox import FILE_NAME as INBOX
    from agent.orders.store import FILE_NAME as RECORDS

    out = []
    files: list[tuple[str, list[Path], bool]] = [
        ("healing journal", [path / JOURNAL_NAME], False),
        ("order records", [path / RECORDS], True),
        ("order inbox", [path / INBOX], True),
        ("evidence chain journal", segments(path / CHAIN_DIR), False)]
    for label, paths, crc in files:
        if not any(p.exists() for p in paths):
            out.append(Check(label, "ok", "none yet"))
            continue
        try:
            read = read_journal(paths, checksummed=crc)
        except OSError as exc:
            out.append(Check(label, "fail", f"unreadable: {exc.strerror}"))
            continue
        status = "fail" if read.damaged else "warn" if read.torn else "ok"
        detail = f"{read.lines} lines" + (f", {read.damaged} damaged" if read.damaged else "") + (
            ", a torn last line (an interrupted write; the agent drops it)" if read.torn else "")
        out.append(Check(label, status, detail))
    return out


def _trust(path: Path) -> list[Check]:
    from agent.orders.store import EPOCH_FILE
    from agent.site.serverkeys import FILE_NAME, RESEED_MARKER, RESET_COMMAND, valid_key

    out = []
    if (path / RESEED_MARKER).exists():
        out.append(Check("server keys", "fail", f"trust re-seed pending ({RESEED_MARKER}): set "
                         f"server_public_key or run `{RESET_COMMAND}`"))
    else:
        try:
            doc = json.loads((path / FILE_NAME).read_bytes())
            good = isinstance(doc, dict) and valid_key(doc.get("current")) and (
                doc.get("previous") is None or valid_key(doc.get("previous")))
            out.append(Check("server keys", "ok" if good else "fail",
                             f"trusted ({doc.get('source')})" if good else
                             f"{FILE_NAME} holds an invalid key"))
        except FileNotFoundError:
            out.append(Check("server keys", "ok", "none trusted yet (first checkin)"))
        except (OSError, ValueError) as exc:
            out.append(Check("server keys", "fail", f"{FILE_NAME} unreadable "
                             f"({type(exc).__name__})"))
    if (path / EPOCH_FILE).exists():
        out.append(Check("order records epoch", "warn", "order records were lost once; orders "
                         f"created before the epoch in {EPOCH_FILE} are refused"))
    return out


def run_state(args: argparse.Namespace) -> int:
    path = existing_state_dir(args)
    checks = [*_permissions(path), *_keys(path), _json_files(path), *_journals(path),
              *_trust(path)]
    ok = all(c.status != "fail" for c in checks)
    if args.json:
        emit_json({"ok": ok, "state_dir": str(path),
                   "checks": [{"name": c.name, "status": c.status, "detail": c.detail}
                              for c in checks]})
    else:
        lines = [f"{c.status.upper():<4}  {c.name}: {c.detail}" for c in checks]
        lines.append(f"state directory {path}: {'ok' if ok else 'PROBLEMS FOUND'}")
        emit(lines)
    return EXIT_OK if ok else EXIT_FAILURE
