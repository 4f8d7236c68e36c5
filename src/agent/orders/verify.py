"""Order verification, exactly the checks of orders.md §4, in that order.

:func:`verify` takes one entry of ``pending_orders`` (a decoded JSON object, or a
:class:`agent.protocol.orders.Order`) and a :class:`Context` (our identity, the trusted key set,
the clock) and returns a :class:`Verdict`: ``accept``, ``duplicate`` or ``reject:<reason>``, what
to post (``execute``, ``failure`` or ``none``) and, when accepted, the :class:`VerifiedOrder`
built **only from the signed payload** — the only thing a handler ever sees.

Step 13 (nonce store) is delegated to a :class:`ReplayGuard` (:class:`agent.orders.store.
OrderRecords`); without one, verification stops after step 12 with ``accept``.

Several orders (all those of one checkin) have their signatures checked together: :func:`presign`
runs step 5 for all of them in one batch (:func:`agent.crypto.verify_any_key`: the native batch
verifier, libsodium's verdicts) and :func:`verify` then reads the answer instead of verifying
alone. Only step 5's computation moves: the steps still run in orders.md's order and report the
same reason, and an answer computed under another trusted key set is never used.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import msgspec

from agent.crypto.batch import verify_any_key
from agent.crypto.keys import verify_ed25519
from agent.orders.registry import REGISTRY, is_watchdog_type
from agent.protocol.codec import strict_json
from agent.protocol.errors import ProtocolError
from agent.protocol.orders import Order, check_order_id
from agent.protocol.timefmt import parse_timestamp

MAX_SIGNED_PAYLOAD = 65_536
CLOCK_SKEW_S = 300
FLEET_PREFIX = "fleet::"
_SIG = re.compile(r"[0-9a-f]{128}", re.ASCII)
_NONCE = re.compile(r"[0-9a-f]{32}", re.ASCII)

Completion = Literal["execute", "failure", "none"]

#: reason -> what is posted (orders.md §4 table, last column).
REASONS: dict[str, Completion] = {
    "malformed": "failure",  # "none" when the order id itself is unusable (step 1)
    "bad_signature_encoding": "failure",
    "no_trusted_key": "none",
    "bad_signature": "failure",
    "bad_payload": "failure",
    "bad_expiry": "failure",
    "wrong_recipient": "none",
    "wrong_target": "none",
    "unsigned_mismatch": "failure",
    "not_yet_valid": "none",
    "expired": "failure",
    "unknown_order_type": "failure",
    "unsupported_order_type": "failure",
    "replay": "none",
    # The nonce records were lost (emptied, garbled or deleted): an order created before that
    # may have run already, so it is refused (this is not the orders.md §4 table).
    "before_epoch": "failure",
}
#: Security-relevant reasons are logged at ERROR, the others at WARNING (orders.md §4 notes).
SECURITY_REASONS = frozenset({"bad_signature", "bad_signature_encoding", "bad_payload",
                              "unsigned_mismatch", "wrong_recipient", "replay", "no_trusted_key",
                              "before_epoch"})

# Server-added keys of orders.md §4.3, per form.
_FLEET_EXTRAS = ("fleet_order_id",)
_HEALING_EXTRAS = ("runbook_id", "hostname", "check_type", "incident_id")


@dataclass(frozen=True, slots=True)
class Context:
    """What verification needs to know about us (orders.md §4)."""

    appliance_id: str
    site_id: str | None
    now: datetime
    trusted_keys: tuple[bytes, ...]
    skew_s: float = CLOCK_SKEW_S
    #: Why no key is trusted when that waits for an operator (step 4's detail).
    untrusted: str = ""

    @classmethod
    def build(cls, appliance_id: str, site_id: str | None, now: datetime,
              trusted_keys: Iterable[str | bytes], skew_s: float = CLOCK_SKEW_S,
              untrusted: str = "") -> Context:
        keys = tuple(bytes.fromhex(k) if isinstance(k, str) else bytes(k) for k in trusted_keys)
        return cls(appliance_id, site_id, now, keys, skew_s, untrusted)


@dataclass(frozen=True, slots=True)
class VerifiedOrder:
    """An order as signed. ``parameters`` is a private deep copy of the **signed** parameters
    (without ``fleet_order_id``); ``selectors`` holds the unsigned healing selectors of §5.3
    (healing form only), which are lookup keys, never instructions."""

    order_id: str  # top-level id (the completion URL); fleet: fleet::<uuid>::<appliance_id>
    order_type: str  # signed order_type, or "healing" for the healing form
    form: Literal["order", "healing"]
    kind: Literal["admin", "fleet", "healing"]
    parameters: dict[str, Any]
    nonce: str
    created_at: datetime
    expires_at: datetime
    payload_sha256: str
    target_appliance_id: str | None
    runbook_id: str | None  # healing form: signed runbook_id; order form: signed parameters.runbook_id
    selectors: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the delivered order object

    def handler_parameters(self) -> dict[str, Any]:
        """A fresh deep copy for the handler (orders.md §5.1)."""
        return copy.deepcopy(self.parameters)


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: Literal["accept", "duplicate", "reject"]
    completion: Completion
    reason: str = ""
    detail: str = ""
    order_id: str | None = None  # usable top-level id, when there is one
    order_type: str | None = None
    payload_sha256: str | None = None
    order: VerifiedOrder | None = None
    retry: bool = False  # accepted as a server-driven retry (orders.md §4.4)

    @property
    def text(self) -> str:
        """``accept``, ``duplicate`` or ``reject:<reason>`` (the vector notation)."""
        return f"reject:{self.reason}" if self.verdict == "reject" else self.verdict

    @property
    def error_message(self) -> str:
        """``<reason>: <short detail>`` for a failure completion (never parameter values)."""
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


class Admission(Protocol):
    @property
    def verdict(self) -> Literal["accept", "duplicate", "replay", "before_epoch"]: ...

    @property
    def retry(self) -> bool: ...


class ReplayGuard(Protocol):
    """Step 13: the nonce store. ``admit`` records an accepted order durably before returning."""

    def admit(self, order: VerifiedOrder, now: datetime) -> Admission: ...


@dataclass(frozen=True, slots=True)
class Signatures:
    """Step 5 answered in advance for some orders (:func:`presign`), under ``keys``."""

    keys: tuple[bytes, ...]
    verdicts: Mapping[tuple[bytes, bytes], bool]

    def lookup(self, keys: tuple[bytes, ...], payload: bytes, signature: bytes) -> bool | None:
        """Whether ``signature`` of ``payload`` verifies under one of ``keys``; ``None`` when
        not computed (another order, or another trusted key set)."""
        if keys != self.keys:
            return None
        return self.verdicts.get((payload, signature))


def presign(orders: Iterable[Any], ctx: Context) -> Signatures:
    """Step 5 for every order whose signature step would be reached, in one batch."""
    signed: dict[tuple[bytes, bytes], None] = {}
    for order in orders:
        pair = _signature_input(as_object(order))
        if pair is not None:
            signed[pair] = None
    pairs = list(signed)
    found = verify_any_key(pairs, ctx.trusted_keys) if ctx.trusted_keys else [None] * len(pairs)
    return Signatures(ctx.trusted_keys, {p: k is not None for p, k in zip(pairs, found, strict=True)})


def _signature_input(obj: Any) -> tuple[bytes, bytes] | None:
    """``(payload bytes, signature bytes)`` of an order that passes steps 2-3's checks on them."""
    if not isinstance(obj, Mapping):
        return None
    signature = obj.get("signature")
    signed_payload = obj.get("signed_payload")
    if not isinstance(signature, str) or not isinstance(signed_payload, str) \
            or not _SIG.fullmatch(signature):
        return None
    try:
        payload = signed_payload.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if len(payload) > MAX_SIGNED_PAYLOAD:
        return None
    return payload, bytes.fromhex(signature)


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


# --- strict JSON (orders.md §4 step 6): agent.protocol.codec.strict_json ---------------------------


def json_equal(a: Any, b: Any) -> bool:
    """JSON value equality of orders.md §4.1 (numbers by value, booleans only equal booleans)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int | float) and isinstance(b, int | float):
        if isinstance(a, float) and not math.isfinite(a):
            return False
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return False


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except (ProtocolError, ValueError):
        return None


def payload_digest(signed_payload: str) -> str:
    return hashlib.sha256(signed_payload.encode("utf-8", "surrogatepass")).hexdigest()


# --- the algorithm ----------------------------------------------------------------------------

def as_object(order: Any) -> Any:
    """An :class:`Order` struct as the JSON object it was decoded from; anything else unchanged."""
    if isinstance(order, Order):
        return msgspec.to_builtins(order)
    return order


def verify(order: Any, ctx: Context, guard: ReplayGuard | None = None,
           signatures: Signatures | None = None) -> Verdict:
    """Run orders.md §4 steps 1-13 on one delivered order; never raises for bad input.

    ``signatures`` (from :func:`presign`) answers step 5 when it holds this order under the
    context's trusted keys; otherwise step 5 verifies here.

    ``guard.admit`` may raise ``OSError`` when the durable nonce record cannot be written: the
    order must then not run and nothing is posted (§4.4).
    """
    obj = as_object(order)
    # Step 1: an addressable order id.
    if not isinstance(obj, Mapping):
        return Verdict("reject", "none", "malformed", "order is not a JSON object")
    order_id = obj.get("order_id")
    if not isinstance(order_id, str):
        return Verdict("reject", "none", "malformed", "order_id is not a string")
    try:
        check_order_id(order_id)
    except ProtocolError as exc:
        return Verdict("reject", "none", "malformed", exc.reason)
    raw_type = obj.get("order_type")
    shown_type = raw_type if isinstance(raw_type, str) else None
    try:
        vo = _check(obj, order_id, ctx, signatures)
    except _Reject as rej:
        sha = None
        sp = obj.get("signed_payload")
        if isinstance(sp, str):
            sha = payload_digest(sp)
        return Verdict("reject", REASONS[rej.reason], rej.reason, rej.detail, order_id,
                       shown_type, sha)
    if guard is None:
        return Verdict("accept", "execute", order_id=order_id, order_type=vo.order_type,
                       payload_sha256=vo.payload_sha256, order=vo)
    # Step 13.
    adm = guard.admit(vo, ctx.now)
    if adm.verdict == "accept":
        return Verdict("accept", "execute", order_id=order_id, order_type=vo.order_type,
                       payload_sha256=vo.payload_sha256, order=vo, retry=adm.retry)
    if adm.verdict == "duplicate":
        return Verdict("duplicate", "none", order_id=order_id, order_type=vo.order_type,
                       payload_sha256=vo.payload_sha256, order=vo)
    if adm.verdict == "before_epoch":
        return Verdict("reject", REASONS["before_epoch"], "before_epoch",
                       "order created before the order records were lost; it may have run",
                       order_id, vo.order_type, vo.payload_sha256)
    return Verdict("reject", "none", "replay", "nonce already used by a different order",
                   order_id, vo.order_type, vo.payload_sha256)


def _check(obj: Mapping[str, Any], order_id: str, ctx: Context,
           signatures: Signatures | None) -> VerifiedOrder:
    # Step 2: types.
    order_type = obj.get("order_type")
    signature = obj.get("signature")
    signed_payload = obj.get("signed_payload")
    if not isinstance(order_type, str) or not order_type:
        raise _Reject("malformed", "order_type is not a non-empty string")
    if not isinstance(signature, str):
        raise _Reject("malformed", "signature is missing or not a string")
    if not isinstance(signed_payload, str):
        raise _Reject("malformed", "signed_payload is missing or not a string")
    try:
        payload_bytes = signed_payload.encode("utf-8")
    except UnicodeEncodeError:
        raise _Reject("malformed", "signed_payload is not valid Unicode") from None
    if len(payload_bytes) > MAX_SIGNED_PAYLOAD:
        raise _Reject("malformed", f"signed_payload longer than {MAX_SIGNED_PAYLOAD} bytes")
    # Step 3: signature encoding.
    if not _SIG.fullmatch(signature):
        raise _Reject("bad_signature_encoding", "signature is not 128 lower-case hex characters")
    # Step 4: a trust anchor.
    if not ctx.trusted_keys:
        raise _Reject("no_trusted_key", ctx.untrusted or "no trusted server key yet")
    # Step 5: the exact bytes received.
    sig = bytes.fromhex(signature)
    ok = None if signatures is None else signatures.lookup(ctx.trusted_keys, payload_bytes, sig)
    if ok is None:
        ok = any(verify_ed25519(key, payload_bytes, sig) for key in ctx.trusted_keys)
    if not ok:
        raise _Reject("bad_signature", "signature does not verify with a trusted server key")
    # Step 6: strict parse, one of two forms.
    try:
        signed = strict_json(signed_payload)
    except (ValueError, RecursionError):
        raise _Reject("bad_payload", "signed_payload is not strict JSON") from None
    if not isinstance(signed, dict):
        raise _Reject("bad_payload", "signed_payload is not a JSON object")
    form: Literal["order", "healing"]
    if "order_type" in signed:
        form = "order"
        s_type = signed["order_type"]
        if not isinstance(s_type, str) or not s_type:
            raise _Reject("bad_payload", "signed order_type is not a non-empty string")
        created_key = "created_at"
    elif "runbook_id" in signed:
        form = "healing"
        s_runbook = signed["runbook_id"]
        if not isinstance(s_runbook, str) or not s_runbook:
            raise _Reject("bad_payload", "signed runbook_id is not a non-empty string")
        s_type = "healing"
        created_key = "issued_at"
    else:
        raise _Reject("bad_payload", "signed payload has neither order_type nor runbook_id")
    if not isinstance(signed.get("order_id"), str):
        raise _Reject("bad_payload", "signed order_id is not a string")
    s_params = signed.get("parameters")
    if not isinstance(s_params, dict):
        raise _Reject("bad_payload", "signed parameters is not an object")
    s_nonce = signed.get("nonce")
    if not isinstance(s_nonce, str) or not _NONCE.fullmatch(s_nonce):
        raise _Reject("bad_payload", "signed nonce is not 32 lower-case hex characters")
    created = _ts(signed.get(created_key))
    if created is None:
        raise _Reject("bad_payload", f"signed {created_key} is not a valid timestamp")
    target = signed.get("target_appliance_id", _MISSING)
    if target is not _MISSING and (not isinstance(target, str) or not target):
        raise _Reject("bad_payload", "signed target_appliance_id is not a non-empty string")
    # Step 7: expiry, fail closed.
    if "expires_at" not in signed:
        raise _Reject("bad_expiry", "signed expires_at is missing")
    expires = _ts(signed["expires_at"])
    if expires is None:
        raise _Reject("bad_expiry", "signed expires_at is not a valid timestamp with offset")
    # Step 8a: the watchdog's orders are not ours.
    if is_watchdog_type(s_type):
        raise _Reject("wrong_recipient", "order type is addressed to the watchdog service")
    # Step 8b: scope.
    if target is not _MISSING and target != ctx.appliance_id:
        raise _Reject("wrong_target", "signed target_appliance_id names another appliance")
    if "target_appliance_id" in s_params and s_params["target_appliance_id"] != ctx.appliance_id:
        raise _Reject("wrong_target", "signed parameters.target_appliance_id names another "
                      "appliance")
    if "site_id" in s_params and s_params["site_id"] != ctx.site_id:
        raise _Reject("wrong_target", "signed parameters.site_id names another site")
    fleet = order_id.startswith(FLEET_PREFIX)
    fleet_parts = order_id.split("::", 2)
    if fleet and (len(fleet_parts) != 3 or fleet_parts[2] != ctx.appliance_id):
        raise _Reject("wrong_target", "fleet order id names another appliance")
    # Step 9: unsigned copies.
    selectors = _compare(obj, signed, form, fleet, fleet_parts, s_type, created)
    # Step 10: not from the future.
    if created > ctx.now + timedelta(seconds=ctx.skew_s):
        raise _Reject("not_yet_valid", f"{created_key} is more than {int(ctx.skew_s)} s in the "
                      "future")
    # Step 11: not expired.
    if not ctx.now < expires:
        raise _Reject("expired", "order expired")
    # Step 12: a type we execute.
    info = REGISTRY.get(s_type)
    if info is None:
        raise _Reject("unknown_order_type", "order type is not known to this agent")
    if info.status != "must":
        raise _Reject("unsupported_order_type", f"order type is not supported by this agent "
                      f"({info.status})")
    params = {k: copy.deepcopy(v) for k, v in s_params.items() if k not in _FLEET_EXTRAS}
    if form == "healing":
        runbook: str | None = signed["runbook_id"]
    else:
        rb = s_params.get("runbook_id")
        runbook = rb if isinstance(rb, str) else None
    kind: Literal["admin", "fleet", "healing"] = \
        "fleet" if fleet else ("healing" if form == "healing" else "admin")
    return VerifiedOrder(
        order_id=order_id, order_type=s_type, form=form, kind=kind, parameters=params,
        nonce=s_nonce, created_at=created, expires_at=expires,
        payload_sha256=payload_digest(signed_payload),
        target_appliance_id=target if isinstance(target, str) else None, runbook_id=runbook,
        selectors=selectors, raw=dict(obj))


class _Missing:
    pass


_MISSING: Any = _Missing()


def _present(obj: Mapping[str, Any], key: str) -> bool:
    """A top-level copy that is absent or null is not a disagreement (orders.md §4.1)."""
    return obj.get(key) is not None


def _mismatch(what: str) -> _Reject:
    return _Reject("unsigned_mismatch", f"unsigned {what} differs from the signed value")


def _compare(obj: Mapping[str, Any], signed: dict[str, Any], form: str, fleet: bool,
             fleet_parts: list[str], s_type: str, created: datetime) -> dict[str, Any]:
    """orders.md §4.2/§4.3; returns the healing selectors (healing form)."""
    s_params: dict[str, Any] = signed["parameters"]
    top_params = obj.get("parameters")
    if top_params is not None and not isinstance(top_params, dict):
        raise _mismatch("parameters")
    extras: tuple[str, ...]
    if form == "order":
        if fleet:
            if signed["order_id"] != "0":
                raise _mismatch("order_id")
            if fleet_parts[0] != "fleet" or not _canonical_uuid(fleet_parts[1]):
                raise _mismatch("order_id")
            if top_params is None or top_params.get("fleet_order_id") != fleet_parts[1]:
                raise _mismatch("parameters.fleet_order_id")
            if "fleet_order_id" in s_params and s_params["fleet_order_id"] != fleet_parts[1]:
                raise _mismatch("parameters.fleet_order_id")
            extras = _FLEET_EXTRAS
        else:
            if obj["order_id"] != signed["order_id"]:
                raise _mismatch("order_id")
            extras = ()
        if obj["order_type"] != s_type:
            raise _mismatch("order_type")
        if _present(obj, "runbook_id") and obj["runbook_id"] != s_params.get("runbook_id"):
            raise _mismatch("runbook_id")
    else:
        if obj["order_id"] != signed["order_id"]:
            raise _mismatch("order_id")
        if obj["order_type"] != "healing":
            raise _mismatch("order_type")
        if _present(obj, "runbook_id") and obj["runbook_id"] != signed["runbook_id"]:
            raise _mismatch("runbook_id")
        extras = _HEALING_EXTRAS
    selectors: dict[str, Any] = {}
    if top_params is not None:
        rest = dict(top_params)
        for key in extras:
            if key not in rest or key in s_params:
                continue  # a signed key is compared like any other
            value = rest.pop(key)
            if key == "runbook_id":
                if value != signed.get("runbook_id"):
                    raise _mismatch("parameters.runbook_id")
            elif key in ("hostname", "check_type"):
                if not isinstance(value, str):
                    raise _mismatch(f"parameters.{key}")
                selectors[key] = value
            elif key == "incident_id":
                if value is not None and not isinstance(value, str):
                    raise _mismatch("parameters.incident_id")
                selectors[key] = value
        if not json_equal(rest, s_params):
            raise _mismatch("parameters")
    if _present(obj, "nonce") and obj["nonce"] != signed["nonce"]:
        raise _mismatch("nonce")
    # The same text as the signed value (the usual case) is the same instant: no second parse.
    if _present(obj, "expires_at") and obj["expires_at"] != signed["expires_at"]:
        top_exp = _ts(obj["expires_at"])
        s_exp = _ts(signed["expires_at"])
        if top_exp is None or s_exp is None or top_exp != s_exp:
            raise _mismatch("expires_at")
    created_text = signed["created_at" if form == "order" else "issued_at"]
    if not (form == "order" and fleet) and _present(obj, "created_at") \
            and obj["created_at"] != created_text:
        top_created = _ts(obj["created_at"])
        if top_created is None or top_created != created:
            raise _mismatch("created_at")
    return selectors


def _canonical_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
