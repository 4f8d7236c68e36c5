"""The checkin cycle (central-api.md §6, runtime.md §4.2): build, sign, send, apply.

:class:`CheckinComponent` sends through the Uplink and is the one writer of the site state
(:class:`~agent.site.SiteState`), the trusted server keys and the sealed credentials, all built by
the composition root. It publishes :class:`~agent.events.CheckinSucceeded` and
:class:`~agent.events.OrdersReceived` on the bus and never waits for orders, scans or heals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import msgspec

from agent import __version__
from agent.bus import Bus, Figures
from agent.checkin import health, sysinfo
from agent.checkin.reconcile import Reconciler
from agent.config import Config
from agent.config.write import ConfigWriteError, persist_api_key
from agent.crypto.envelope import EnvelopeError, decrypt_credentials
from agent.crypto.heartbeat import heartbeat_fields
from agent.crypto.keys import Ed25519Key, X25519Keypair
from agent.events import CheckinRequested, CheckinSucceeded, OrdersReceived
from agent.jobs import BaseComponent, Job, JobHost
from agent.log import get_logger
from agent.phi.egress import EgressError
from agent.protocol import (
    CheckinParse,
    CheckinRequest,
    ConnectedAgent,
    DaemonHealth,
    DeployResult,
    ProtocolError,
    parse_checkin_response,
)
from agent.protocol.auth import AuthFailureKind, classify_401
from agent.protocol.orders import MalformedOrder
from agent.protocol.rekey import RekeyRequest, RekeyResponse, is_valid_api_key, rekey_retry_seconds
from agent.protocol.timefmt import parse_timestamp
from agent.site.serverkeys import ServerKeys, offered_pair
from agent.site.state import SealedCredentials, SiteState
from agent.state import Keys
from agent.timefmt import format_rfc3339
from agent.uplink import CheckinBackoff, Reply, TransportError, Uplink, routes

log = get_logger("checkin")

CHECKIN_DEADLINE_S = 35.0  # 30 s request + response processing
REKEY_AFTER_401S = 3
REKEY_RETRY_S = 3600.0
#: Steady-state successes log at DEBUG; one INFO summary at most this often (runtime.md §7).
SUMMARY_EVERY_S = 3600.0


class WitnessSource(Protocol):
    """Witness attestations that ride on the checkin (evidence.md §8), kept by the evidence side."""

    def batch(self) -> list[Any]: ...

    def confirm(self, sent: list[Any]) -> None: ...

    def offer(self, hashes: Any) -> Any: ...


class ConnectedAgentsSource(Protocol):
    """The workstation agents connected to this appliance (central-api.md §6.2), kept by the
    workstation hub when it is enabled."""

    def connected_agents(self) -> list[ConnectedAgent]: ...


class CheckinComponent(BaseComponent):
    name = "checkin"

    def __init__(self, config: Config, config_path: Path, keys: Keys, *,
                 uplink: Uplink | None = None, ssl_context: Any = None,
                 site: SiteState | None = None, server_keys: ServerKeys | None = None,
                 sealed: SealedCredentials | None = None, bus: Bus | None = None,
                 figures: Figures | None = None, witness: WitnessSource | None = None,
                 agents: ConnectedAgentsSource | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """The services default to private ones (tests); the composition root passes shared ones."""
        self.config = config
        self.config_path = config_path
        self.state_dir = Path(config.state_dir)
        self.clock = clock
        self.monotonic = monotonic
        self.identity = Ed25519Key(bytes(keys.identity))
        self.evidence = Ed25519Key(bytes(keys.evidence))
        self.envelope_key = X25519Keypair(bytes(keys.envelope))
        self._owns_uplink = uplink is None  # a shared one is closed by its owner (the root)
        self.uplink = uplink or Uplink.for_config(config, self.identity, ssl_context=ssl_context)
        self.credentials = self.uplink.credentials
        self.reconciler = Reconciler(self.state_dir,
                                     boot_counter=lambda: sysinfo.boot_counter(self.state_dir))
        self.pins = self.uplink.pins
        self.server_keys = server_keys or ServerKeys(self.state_dir, config.server_public_key)
        self.shared = site or SiteState()
        self.sealed = sealed or SealedCredentials(self.state_dir, keys.envelope)
        self.bus = bus or Bus()
        self.figures = figures or Figures()
        self.agents = agents
        self.host: JobHost | None = None
        self.backoff = CheckinBackoff(config.poll_interval)
        self.gc = health.GcTimer()
        self.started = monotonic()
        # Counters for status and tests.
        self.attempts = 0
        self.successes = 0
        self.failures = 0
        self.last_attempt_at: float | None = None
        self.last_success_at: float | None = None
        self.last_error_kind: str | None = None
        self.last_status: int | None = None
        self.auth_401s = 0
        self.rekeys = 0
        self.rekey_not_before = 0.0
        self.clock_alert = ""
        self.issues_seen = 0
        self.streak_first_at: float | None = None  # the current failure streak (wall clock)
        self.streak_kinds: dict[str, int] = {}
        # The periodic INFO summary: counts since the last one.
        self._summary_at = monotonic()
        self._summary = {"ok": 0, "failed": 0, "ms": 0, "orders": 0}
        #: Witness counter-signatures for the next checkin (evidence.md §8); kept on disk
        #: until a checkin carrying them returned 200.
        self.witness = witness
        self._witness_sent: list[Any] = []
        #: The last checkin's system facts: the per-boot ones are not read again (sysinfo.collect).
        self._facts: sysinfo.SystemFacts | None = None
        self._restore_credentials()

    # --- component hooks --------------------------------------------------------------

    def install(self, host: JobHost) -> None:
        self.host = host
        host.add_job(Job(
            name="checkin", run=self.run_once, delay=lambda: self.backoff.delay,
            deadline=CHECKIN_DEADLINE_S, first_delay=float(self.config.poll_interval),
            progress=True, from_completion=True, reports_outcome=True,
        ))

    def on_checkin_requested(self, event: CheckinRequested) -> None:
        """A :class:`CheckinRequested` on the bus: check in as soon as possible."""
        if self.host is not None:
            self.host.request_run(self.name)

    def reload(self, config: Config) -> None:
        if config.api_key != self.credentials.api_key:
            self.credentials.replace(config.api_key)
            log.info("checkin.api_key_reloaded", "API key changed in the config file")
        self.backoff.poll_interval = float(config.poll_interval)
        self.config = config

    async def close(self) -> None:
        if self._owns_uplink:
            await self.uplink.close()
        self.gc.close()

    def status(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "attempts": self.attempts, "successes": self.successes, "failures": self.failures,
            "consecutive_failures": self.backoff.failures,
            "last_attempt_s_ago": None if self.last_attempt_at is None
            else round(now - self.last_attempt_at, 1),
            "last_success_s_ago": None if self.last_success_at is None
            else round(now - self.last_success_at, 1),
            "last_error_kind": self.last_error_kind, "last_status": self.last_status,
            "next_delay_s": round(self.backoff.delay, 1), "breaker": self.uplink.breaker_state,
            "appliance_id": self.shared.appliance_id, "clock_skew_s": self.shared.clock_skew_s,
            "server_keys": [k[:16] for k in self.server_keys.trusted_keys()],
            "trust_alert": self.server_keys.alert, "tls_pin_alert": self.pins.alert if self.pins else "",
            "clock_alert": self.clock_alert, "rekeys": self.rekeys,
            "orders_pending": len(self.shared.pending_orders),
            "targets": {"windows": len(self.shared.credentials.windows_targets),
                        "linux": len(self.shared.credentials.linux_targets)},
        }

    def summary(self) -> str:
        parts = []
        if self.last_success_at is not None and not self.backoff.failures:
            parts.append(f"checkin ok {int(self.clock() - self.last_success_at)}s ago")
        elif self.attempts:
            parts.append(f"checkin failing ({self.last_error_kind}) x{self.backoff.failures}")
        else:
            parts.append("checkin pending")
        parts.append(f"breaker {self.uplink.breaker_state}")
        return " · ".join(parts)

    # --- one cycle --------------------------------------------------------------------

    async def run_once(self) -> bool:
        """One checkin attempt; True on success. Never raises for server or network trouble."""
        self.attempts += 1
        self.last_attempt_at = self.clock()
        loop = asyncio.get_running_loop()
        facts = await loop.run_in_executor(None, sysinfo.collect, self.state_dir, self._facts)
        self._facts = facts
        request = self.build_request(facts)
        started = self.monotonic()
        try:
            resp = await self.uplink.send(routes.CHECKIN, request)
        except EgressError:
            return self._failed("scrub", "checkin payload could not be scrubbed; not sent")
        except TransportError as exc:
            return self._failed(exc.kind, str(exc))
        self.last_status = resp.status
        if resp.status == 200:
            try:
                parsed = parse_checkin_response(resp.body)
            except ProtocolError as exc:
                return self._failed("protocol", f"unusable checkin response: {exc}")
            failing = self._succeeded()
            if self.witness is not None:
                self.witness.confirm(self._witness_sent)
            self._witness_sent = []
            await self.apply(parsed, facts)
            # Logged once applied: its orders are on disk by now (the order inbox).
            self._log_success(int((self.monotonic() - started) * 1000),
                              len(parsed.response.pending_orders), parsed.response.appliance_id,
                              failing)
            self.bus.publish(CheckinSucceeded())
            return True
        if resp.status == 401:
            if await self._on_401(resp, facts):  # rekeyed: check in again at once
                self.failures += 1
                self.last_error_kind = "auth"
                self.backoff.failures = 0
                self.backoff.delay = 1.0
                return False
            return self._failed("auth", "checkin answered 401")
        kind = "server" if resp.status >= 500 or resp.status in (429, 503) else "rejected"
        detail = resp.body[:200].decode("utf-8", "replace")
        return self._failed(kind, f"checkin answered HTTP {resp.status}: {detail}",
                            resp.retry_after())

    def _failed(self, kind: str, message: str, retry_after: float | None = None) -> bool:
        """A failed attempt. Every one is logged with the running summary of the streak (count,
        first, last), so repeated failures are never merged away by the log's rate limit."""
        self.failures += 1
        self._summary["failed"] += 1
        self.last_error_kind = kind
        now = self.clock()
        if self.streak_first_at is None:
            self.streak_first_at = now
        self.streak_kinds[kind] = self.streak_kinds.get(kind, 0) + 1
        delay = self.backoff.failure(retry_after)
        n = self.backoff.failures
        first = format_rfc3339(self.streak_first_at)
        text = message if n == 1 else f"{message} ({n} failures in a row since {first})"
        log.warning("checkin.failed", text, error_kind=kind, consecutive=n, first_failure_at=first,
                    last_failure_at=format_rfc3339(now), retry_in_s=round(delay, 1))
        self.uplink.breaker.failure()  # after the line above: a breaker.open line follows it
        return False

    def _recovered(self, ms: int, orders: int, failing: int) -> None:
        """The summary of a failure streak that a success ended."""
        assert self.streak_first_at is not None
        n = sum(self.streak_kinds.values())
        log.info("checkin.recovered", f"checkin succeeded after {n} failed attempt(s)",
                 failures=n, failures_before=failing, duration_ms=ms, orders=orders,
                 first_failure_at=format_rfc3339(self.streak_first_at),
                 last_failure_at=format_rfc3339(self.last_attempt_at or self.clock()),
                 error_kinds=dict(self.streak_kinds))
        self.streak_first_at = None
        self.streak_kinds = {}

    def _succeeded(self) -> int:
        """Counts a success; returns how many failures came right before it."""
        self.successes += 1
        self.last_success_at = self.clock()
        failing = self.backoff.failures
        self.last_error_kind = None
        self.auth_401s = 0
        self.uplink.breaker.success()
        self.backoff.success()
        # Deploy results are sent once each.
        self.shared.deploy_results.clear()
        return failing

    def _log_success(self, ms: int, orders: int, appliance_id: object, failing: int) -> None:
        """The first success and a recovery at INFO, the steady state at DEBUG, and an INFO
        summary (successes, failures, mean duration, orders) at most every SUMMARY_EVERY_S."""
        sm = self._summary
        sm["ok"] += 1
        sm["ms"] += ms
        sm["orders"] += orders
        if self.successes == 1:
            log.info("checkin.ok", "first checkin of this run succeeded", duration_ms=ms,
                     orders=orders, appliance_id=appliance_id)
        if self.streak_first_at is not None:
            self._recovered(ms, orders, failing)
        elif self.successes != 1:
            log.debug("checkin.ok", "checked in", duration_ms=ms, orders=orders,
                      appliance_id=appliance_id)
        now = self.monotonic()
        if now - self._summary_at >= SUMMARY_EVERY_S:
            minutes = int((now - self._summary_at) // 60)
            log.info("checkin.summary", f"{sm['ok']} checkins ok, {sm['failed']} failed in the "
                     f"last {minutes} min", succeeded=sm["ok"], failed=sm["failed"],
                     mean_duration_ms=sm["ms"] // max(1, sm["ok"]), orders=sm["orders"],
                     period_s=int(now - self._summary_at))
            self._summary_at = now
            self._summary = {"ok": 0, "failed": 0, "ms": 0, "orders": 0}

    # --- request ----------------------------------------------------------------------

    async def preview(self) -> dict[str, Any]:
        """What the next checkin would send, after scrubbing; changes nothing (the control
        socket's ``preview_checkin``)."""
        from agent.uplink.preview import would_send

        loop = asyncio.get_running_loop()
        facts = await loop.run_in_executor(None, sysinfo.collect, self.state_dir)
        return would_send(routes.CHECKIN, self.build_request(facts, preview=True))

    def build_request(self, facts: sysinfo.SystemFacts, *, preview: bool = False) -> CheckinRequest:
        """The checkin request; ``preview``: without taking the witness batch for sending."""
        cfg = self.config
        evidence_on = cfg.enable_evidence_upload
        hb_sig: Any = msgspec.UNSET
        hb_ts: Any = msgspec.UNSET
        if evidence_on:
            hb_sig, hb_ts = heartbeat_fields(self.evidence, cfg.site_id, facts.mac_address,
                                             __version__, now=int(self.clock()))
        fig = health.figures()
        d = self.shared.directives
        witness = self.witness.batch() if self.witness is not None else []
        if not preview:
            self._witness_sent = witness
        dh = DaemonHealth(
            goroutines=fig["goroutines"], heap_alloc_mb=fig["heap_alloc_mb"],
            heap_sys_mb=fig["heap_sys_mb"], gc_pause_ms=round(self.gc.last_pause_ms, 3),
            gc_cycles=fig["gc_cycles"], num_cpu=facts.num_cpu,
            uptime_seconds_daemon=int(self.monotonic() - self.started),
            mesh_peer_count=len(d.mesh_peers), mesh_ring_size=len(d.mesh_peers) + 1,
            boot_source=facts.boot_source, proc_uptime_raw=facts.proc_uptime_raw,
            clocksource=facts.clocksource or msgspec.UNSET, runtime=fig["runtime"],
            trust_alert=self.server_keys.alert or msgspec.UNSET,
            tls_pin_alert=(self.pins.alert if self.pins else "") or msgspec.UNSET,
            clock_skew_seconds=self.shared.clock_skew_s
            if self.shared.clock_skew_s is not None else msgspec.UNSET,
        )
        self._extra_health(dh)
        return CheckinRequest(
            site_id=cfg.site_id, hostname=facts.hostname, mac_address=facts.mac_address,
            all_mac_addresses=facts.all_mac_addresses, ip_addresses=facts.ip_addresses,
            uptime_seconds=facts.uptime_seconds, agent_version=__version__,
            nixos_version=facts.nixos_version, has_local_credentials=False,
            agent_public_key=self.evidence.public_hex if evidence_on else msgspec.UNSET,
            agent_identity_public_key=self.identity.public_hex, boot_source=facts.boot_source,
            heartbeat_signature=hb_sig, heartbeat_timestamp=hb_ts, wg_connected=False,
            encryption_public_key=self.envelope_key.public_hex, daemon_health=dh,
            boot_counter=facts.boot_counter, generation_uuid=facts.generation_uuid or msgspec.UNSET,
            reconcile_needed=False, reconcile_signals=[],
            deploy_results=list(self.shared.deploy_results),
            witness_attestations=list(witness),
            connected_agents=self.agents.connected_agents() if self.agents else msgspec.UNSET,
        )

    def _extra_health(self, dh: DaemonHealth) -> None:
        """Merge the other components' figures; a failing provider only loses its own."""
        for key, value in self.figures.collect().items():
            if key in DaemonHealth.__struct_fields__ and isinstance(value, int):
                setattr(dh, key, value)

    # --- response (central-api.md §6.5: each step isolated) -----------------------------

    async def apply(self, parsed: CheckinParse, facts: sysinfo.SystemFacts) -> None:
        r = parsed.response
        for issue in parsed.issues:
            self.issues_seen += 1
            log.warning("checkin.field_ignored", "a response field had the wrong type; default "
                        "used", path=issue.path)
        for bad in parsed.malformed_orders:
            log.error("orders.malformed", "a pending order could not be decoded; not executed",
                      order_id=bad.order_id, error=bad.error)
        live = facts.boot_source == "live_usb" or bool(r.install_session)
        # The orders go to the order worker's durable inbox right after the identity, before any
        # step that awaits (a crash after the response arrived must not lose them); the worker
        # acts on them only after CheckinSucceeded, when keys and credentials are applied too.
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("identity", lambda: self._apply_identity(r.appliance_id, r.server_time)),
            ("orders", lambda: self._orders(r.appliance_id, r.pending_orders,
                                            parsed.malformed_orders)),
        ]
        if not live:
            steps += [
                ("server_keys", lambda: self.server_keys.offer(
                    offered_pair(r.server_public_key, r.server_public_keys))),
                ("rotated_api_key", lambda: self._rotated_key(r.rotated_api_key)),
                ("reconcile_plan", lambda: self._reconcile(r.reconcile_plan)),
                ("credentials", lambda: self._credentials(r)),
            ]
        steps += [
            ("directives", lambda: self._directives(r)),
            ("deploys", lambda: self._deploys(r.pending_deploys)),
            ("peer_bundle_hashes", lambda: self.witness.offer(r.peer_bundle_hashes)
             if self.witness is not None else None),
        ]
        for name, step in steps:
            try:
                result = step()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # noqa: BLE001  # one broken step must not stop the others
                log.error("checkin.apply_failed", f"applying {name} failed", exc=True, step=name)

    def _apply_identity(self, appliance_id: str | None, server_time: str | None) -> None:
        if appliance_id:
            if appliance_id != self.shared.appliance_id:
                log.info("checkin.appliance_id", "appliance id assigned", appliance_id=appliance_id)
            self.shared.appliance_id = appliance_id
        if server_time:
            try:
                server = parse_timestamp(server_time).timestamp()
            except ValueError:
                return
            self.shared.clock_skew_s = round(self.clock() - server)

    async def _rotated_key(self, new_key: str | None) -> None:
        if new_key:
            await self._adopt_api_key(new_key, "rotation")

    async def _adopt_api_key(self, new_key: str, source: str) -> bool:
        """Persist a new API key to config.yaml first, then swap it in (central-api.md §4.3)."""
        if not is_valid_api_key(new_key):
            log.error("checkin.bad_api_key", f"server sent an invalid API key ({source}); ignored")
            return False
        if new_key == self.credentials.api_key:
            return True
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, persist_api_key, self.config_path, new_key)
        except (ConfigWriteError, OSError) as exc:
            log.error("checkin.api_key_not_persisted", f"could not write the new API key: {exc}; "
                      "keeping the old one", source=source)
            return False
        self.credentials.replace(new_key)
        self.config = msgspec.structs.replace(self.config, api_key=new_key)
        log.warning("checkin.api_key_replaced", f"API key replaced ({source}) and saved to "
                    "config.yaml", source=source)
        return True

    async def _reconcile(self, plan: Any) -> None:
        """orders.md §6 (checkin/reconcile.py): check, apply, acknowledge."""
        keys = [bytes.fromhex(k) for k in self.server_keys.trusted_keys()]
        await self.reconciler.handle(plan, keys, self.shared.appliance_id, self.uplink)

    async def _credentials(self, r: Any) -> None:
        env = r.envelope
        if env is not None:
            try:
                creds = decrypt_credentials(env, self.envelope_key)
            except EnvelopeError as exc:
                log.error("checkin.envelope_failed", "credential envelope could not be opened; "
                          "keeping the previous targets", reason=exc.reason)
                return
        elif r.windows_targets or r.linux_targets:
            from agent.protocol import CredentialSet
            creds = CredentialSet(windows_targets=list(r.windows_targets),
                                  linux_targets=list(r.linux_targets))
        else:
            return  # empty lists never clear the stored targets (§6.4)
        for t in creds.windows_targets:
            _register(t.password)
        for lt in creds.linux_targets:
            _register(lt.password, lt.sudo_password, lt.private_key)
        changed = msgspec.to_builtins(creds) != msgspec.to_builtins(self.shared.credentials)
        self.shared.credentials = creds
        self.shared.credentials_received = self.clock()
        if changed:
            await asyncio.get_running_loop().run_in_executor(None, self.sealed.save, creds)
            log.info("checkin.credentials", "target credentials updated",
                     windows=len(creds.windows_targets), linux=len(creds.linux_targets),
                     encrypted=env is not None)

    def _directives(self, r: Any) -> None:
        changed = self.shared.apply_directives(
            disabled_checks=list(r.disabled_checks), maintenance_until=r.maintenance_until,
            billing_hold=r.billing_hold, billing_status=r.billing_status,
            l2_confidence_threshold=r.l2_confidence_threshold,
            trigger_enumeration=r.trigger_enumeration, trigger_immediate_scan=r.trigger_immediate_scan,
            assignment=r.assignment, mesh_peers=[p.mac for p in r.mesh_peers])
        if changed:
            log.info("checkin.directives", "server directives changed", changed=changed)
        if r.merged_duplicates:
            log.info("checkin.merged_duplicates", "server merged duplicate appliances",
                     count=r.merged_duplicates)

    def _orders(self, appliance_id: str | None, orders: list[Any],
                malformed: list[MalformedOrder]) -> None:
        """Hand the response's orders to the order worker (orders.md §4.5: not without an
        appliance id in the same response; they are delivered again)."""
        if not appliance_id:
            if orders or malformed:
                log.warning("orders.no_appliance_id", "response carried orders but no appliance "
                            "id; not processed", orders=len(orders))
            return
        self.shared.orders_received += len(orders)
        if self.bus.subscribers(OrdersReceived):
            self.bus.publish(OrdersReceived(orders, malformed))
            return
        for order in orders:
            if order.order_id not in self.shared.pending_orders:
                self.shared.pending_orders[order.order_id] = order
                log.info("orders.received", "order received and queued (no order worker "
                         "installed)", order_id=order.order_id, order_type=order.order_type)

    def _deploys(self, deploys: list[Any]) -> None:
        queued = {d.device_id for d in self.shared.deploy_results}
        for dep in deploys:
            _register(dep.password, dep.ssh_key)
            if dep.device_id not in queued:
                self.shared.deploy_results.append(DeployResult(
                    device_id=dep.device_id, status="failed", error="deploy not supported"))

    def _restore_credentials(self) -> None:
        creds = self.sealed.load()
        if creds is not None:
            self.shared.credentials = creds
            for t in creds.windows_targets:
                _register(t.password)
            for lt in creds.linux_targets:
                _register(lt.password, lt.sudo_password, lt.private_key)

    # --- 401 and rekey (central-api.md §4.2, §4.3) ------------------------------------

    async def _on_401(self, resp: Reply, facts: sysinfo.SystemFacts) -> bool:
        """Apply §4.2; True when a rekey just replaced the API key."""
        failure = classify_401(resp.body)
        if failure.counts_towards_rekey:
            self.auth_401s += 1
            log.error("checkin.auth_failed", "Central Command rejected the API key",
                      kind=failure.kind.value, consecutive=self.auth_401s)
            if self.auth_401s >= REKEY_AFTER_401S and self.monotonic() >= self.rekey_not_before:
                return await self.rekey(facts)
            return False
        if failure.kind is AuthFailureKind.SIGAUTH_REJECTED:
            log.error("checkin.sigauth_rejected", "checkin signature rejected (enforce mode)",
                      reason=failure.reason)
            if failure.reason == "clock_skew":
                self.clock_alert = f"clock skew: local clock differs from Central Command " \
                                   f"(last estimate {self.shared.clock_skew_s}s)"
                log.error("checkin.clock_alert", self.clock_alert)
            return False
        log.error("checkin.auth_failed", "checkin rejected; not rekeying", kind=failure.kind.value)
        return False

    async def rekey(self, facts: sysinfo.SystemFacts) -> bool:
        """``POST /api/provision/rekey``; on success the new key is saved, then swapped in."""
        self.rekey_not_before = self.monotonic() + REKEY_RETRY_S
        body = RekeyRequest(site_id=self.config.site_id, mac_address=facts.mac_address,
                            hostname=facts.hostname or None, hardware_id=facts.hardware_id or None)
        try:
            resp = await self.uplink.send(routes.REKEY, body)
        except EgressError:
            return False
        except TransportError as exc:
            log.error("checkin.rekey_failed", f"rekey request failed: {exc}", error_kind=exc.kind)
            return False
        detail = resp.body[:300].decode("utf-8", "replace")
        if resp.status == 200:
            try:
                answer = msgspec.json.decode(resp.body, type=RekeyResponse)
            except msgspec.DecodeError:
                log.error("checkin.rekey_failed", "rekey answered 200 with an unusable body")
                return False
            if not await self._adopt_api_key(answer.api_key, "rekey"):
                return False
            self.rekeys += 1
            self.auth_401s = 0
            if answer.appliance_id:
                self.shared.appliance_id = answer.appliance_id
            return True
        if resp.status == 429:
            self.rekey_not_before = self.monotonic() + rekey_retry_seconds(detail)
        log.error("checkin.rekey_failed", f"rekey answered HTTP {resp.status}",
                  status=resp.status, retry_in_s=int(self.rekey_not_before - self.monotonic()))
        return False


def _register(*secrets: str | None) -> None:
    from agent.log import register_secret

    register_secret(*secrets)
