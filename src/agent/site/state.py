"""The site as the agent knows it: identity, directives, targets, orders (central-api.md §6.4).

One :class:`SiteState` per process, built by the composition root. The checkin component is its
only writer (from each checkin response); the other components get the read-only views below
(:class:`IdentityView`, :class:`DirectivesView`, :class:`TargetsView`). Target credentials live
here in memory and in ``credentials.sealed`` (:class:`SealedCredentials`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import msgspec
from nacl.public import PrivateKey, SealedBox

from agent.log import get_logger
from agent.protocol import CredentialSet, DeployResult, Order, TargetAssignments
from agent.protocol.timefmt import parse_timestamp
from agent.state.atomic import atomic_write
from agent.timefmt import format_rfc3339

log = get_logger("site")

SEALED_NAME = "credentials.sealed"
ASSIGNMENT_FRESH_S = 15 * 60
#: billing_status values with full service (the server's billing guard: active, trialing, none;
#: unknown when its own check failed open); "" when the server sent none.
SUBSCRIPTION_ACTIVE = frozenset({"", "active", "trialing", "none", "unknown"})


@dataclass
class Directives:
    """Server directives (central-api.md §6.4 step 7)."""

    disabled_checks: frozenset[str] = frozenset()
    maintenance_until: datetime | None = None
    billing_hold: bool = False
    billing_status: str | None = None
    l2_confidence_threshold: float | None = None
    trigger_enumeration: bool = False
    trigger_immediate_scan: bool = False
    assignment: TargetAssignments | None = None
    assignment_received: float | None = None
    mesh_peers: list[str] = field(default_factory=list)

    def subscription_ok(self) -> bool:
        """The subscription gate (healing.md §4.3) with Central Command's semantics
        (docs/server-compat.md): ``none`` (a site without a partner: free tier), ``unknown`` (the
        server's billing check failed open) and ``past_due`` inside the server's grace period
        (then ``billing_hold`` is false) all get full service, like ``active`` and ``trialing``;
        ``canceled``, ``canceling`` and any other value do not."""
        st = (self.billing_status or "").strip().lower()
        if st == "past_due":
            return not self.billing_hold
        return st in SUBSCRIPTION_ACTIVE

    def healing_paused(self, now: datetime) -> str | None:
        if self.billing_hold:
            return "billing hold"
        if self.maintenance_until is not None and now < self.maintenance_until:
            return "maintenance window"
        return None

    def fresh_assignment(self, now: float | None = None) -> TargetAssignments | None:
        t = time.monotonic() if now is None else now
        if self.assignment is None or self.assignment_received is None:
            return None
        return self.assignment if t - self.assignment_received <= ASSIGNMENT_FRESH_S else None


@dataclass
class SiteState:
    appliance_id: str | None = None
    clock_skew_s: int | None = None
    directives: Directives = field(default_factory=Directives)
    credentials: CredentialSet = field(default_factory=CredentialSet)
    credentials_received: float | None = None
    pending_orders: dict[str, Order] = field(default_factory=dict)
    deploy_results: list[DeployResult] = field(default_factory=list)
    orders_received: int = 0

    def take_immediate_scan(self) -> bool:
        """Consume the server's ``trigger_immediate_scan`` directive (True once per request)."""
        wanted, self.directives.trigger_immediate_scan = self.directives.trigger_immediate_scan, False
        return wanted

    def adopt_credentials(self, creds: CredentialSet) -> None:
        """Credentials adopted at start-up (a Go daemon's plaintext targets, now sealed)."""
        self.credentials = creds

    def apply_directives(self, *, disabled_checks: list[str], maintenance_until: str | None,
                         billing_hold: bool, billing_status: str | None,
                         l2_confidence_threshold: float | None, trigger_enumeration: bool,
                         trigger_immediate_scan: bool, assignment: TargetAssignments | None,
                         mesh_peers: list[str]) -> list[str]:
        """Apply one response's directives; returns what changed (for the log)."""
        d = self.directives
        changed: list[str] = []
        new_disabled = frozenset(disabled_checks)
        if new_disabled != d.disabled_checks:
            d.disabled_checks = new_disabled
            changed.append("disabled_checks")
        until = None
        if maintenance_until:
            try:
                until = parse_timestamp(maintenance_until)
            except ValueError:
                log.warning("checkin.bad_directive", "maintenance_until is not a timestamp; ignored")
        if until != d.maintenance_until:
            d.maintenance_until = until
            changed.append("maintenance_until")
        if billing_hold != d.billing_hold:
            d.billing_hold = billing_hold
            changed.append("billing_hold")
        if billing_status != d.billing_status:
            if d.billing_status is not None:
                log.info("checkin.billing_status", "billing status changed", status=billing_status)
            d.billing_status = billing_status
        if l2_confidence_threshold is not None and 0.0 <= l2_confidence_threshold <= 1.0:
            d.l2_confidence_threshold = l2_confidence_threshold
        d.trigger_enumeration = d.trigger_enumeration or trigger_enumeration
        d.trigger_immediate_scan = d.trigger_immediate_scan or trigger_immediate_scan
        if assignment is not None:
            d.assignment = assignment
            d.assignment_received = time.monotonic()
        d.mesh_peers = mesh_peers
        return changed


class IdentityView(Protocol):
    """Read-only: who this appliance is at Central Command."""

    @property
    def appliance_id(self) -> str | None: ...


class DirectivesView(Protocol):
    """Read-only: the server's directives from the last checkin."""

    @property
    def directives(self) -> Directives: ...


class TargetsView(Protocol):
    """Read-only: the clinic's hosts and their credentials from the last checkin."""

    @property
    def credentials(self) -> CredentialSet: ...


class SealedCredentials:
    """``credentials.sealed``: target credentials at rest in a sealed box addressed to the
    appliance's own X25519 key (runtime.md §3.5)."""

    def __init__(self, state_dir: Path, private_key: PrivateKey) -> None:
        self.path = state_dir / SEALED_NAME
        self._key = private_key

    def save(self, creds: CredentialSet) -> None:
        body = {"windows_targets": msgspec.to_builtins(creds.windows_targets),
                "linux_targets": msgspec.to_builtins(creds.linux_targets),
                "received_at": format_rfc3339()}
        sealed = SealedBox(self._key.public_key).encrypt(json.dumps(body).encode())
        atomic_write(self.path, bytes(sealed))

    def load(self) -> CredentialSet | None:
        if not self.path.exists():
            return None
        try:
            plain = SealedBox(self._key).decrypt(self.path.read_bytes())
            return msgspec.json.decode(plain, type=CredentialSet)
        except Exception:  # noqa: BLE001  # any failure: start without stored credentials
            log.error("credentials.unreadable", f"{SEALED_NAME} could not be opened; waiting for "
                      "the next checkin to deliver credentials")
            return None
