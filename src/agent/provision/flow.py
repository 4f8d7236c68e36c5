"""First-boot enrollment: from a blank state directory to a verified ``config.yaml``.

Order of methods (each only when available or enabled):

1. **claim-v2** when the installer image carries a claim certificate (``claim.cert`` with its CA
   key ``claim-ca.pub``): the certificate is verified locally, the CSR is signed by the identity
   key (created now if missing), and the answer is bound to it (:mod:`agent.provision.answers`);
2. **provision code** (``--provision-code``, operator-enabled);
3. **MAC lookup** (``--mac-lookup``, operator-enabled): a config signed by the server, verified
   against the pinned key from the image.

A refusal (certificate expired or foreign, 4xx from the server, a bad signature, an answer for
another appliance) drops that method; when none is left the attempt stops with the reasons. An
unreachable server, a 5xx/429 or an unclaimed MAC is retried with the one :class:`Backoff`
(``Retry-After`` / ``retry_seconds`` raise the floor) while ``provisioning.json`` says
``waiting for …``. The config is written atomically (0600) only after the answer verified, and
never over an existing file unless ``force``.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import yaml

from agent.backoff import Backoff, Rng
from agent.config.checks import central_endpoint
from agent.config.schema import DEFAULT_STATE_DIR
from agent.crypto.keys import Ed25519Key
from agent.log import get_logger, register_secret
from agent.protocol.provision import (
    ClaimV2Response,
    MacLookupResponse,
    ProvisionClaimRequest,
    ProvisionClaimResponse,
    mac_lookup_path,
)
from agent.provision.answers import (
    Provisioned,
    from_claim_v2,
    from_code_claim,
    from_mac_lookup,
    render_config,
)
from agent.provision.claim import VerifiedClaim, build_csr, load_claim_cert
from agent.provision.errors import AnswerRefused, ClaimCertError, ProvisionRefused
from agent.provision.status import status_line, write_status
from agent.state.atomic import atomic_write
from agent.timefmt import format_rfc3339
from agent.uplink import Credentials, PinStore, Reply, TransportError, Uplink, UplinkRefused, routes

log = get_logger("provision")

DEFAULT_INSTALLER_DIR = Path("/etc/installer")
GO_SERVER_KEY = Path("/etc/msp/central-command.pub")  # where the Go image pins the server key
DEFAULT_ENDPOINT = "https://api.osiriscare.net"
#: 5 s, doubling, at most 5 min, full jitter (the installer script polled every 10 s, then 5 min).
BACKOFF = Backoff(5.0, 300.0, jitter="full", floor_s=1.0, retry_after_max_s=3600.0)


class _Retry(Exception):
    def __init__(self, waiting_for: str, retry_after: float | None = None) -> None:
        self.waiting_for = waiting_for
        self.retry_after = retry_after
        super().__init__(waiting_for)


@dataclass(frozen=True, slots=True)
class Installer:
    """What an installer image carries for first boot."""

    claim_cert: Path
    claim_ca: Path
    server_key: Path  # Central Command's signing key, pinned by the image (hex)
    bootstrap: Path  # optional ``provision.yaml``: site_id, api_endpoint, tls_pin_hash, mac_lookup

    @classmethod
    def at(cls, root: Path) -> Installer:
        key = root / "central-command.pub"
        if not key.exists() and root == DEFAULT_INSTALLER_DIR and GO_SERVER_KEY.exists():
            key = GO_SERVER_KEY
        return cls(root / "claim.cert", root / "claim-ca.pub", key, root / "provision.yaml")

    def settings(self) -> dict[str, str]:
        """``provision.yaml``'s string values (absent file: none)."""
        try:
            doc = yaml.safe_load(self.bootstrap.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ProvisionRefused("installer", f"cannot read {self.bootstrap}: {exc}") from None
        if doc is None:
            return {}
        if not isinstance(doc, dict):
            raise ProvisionRefused("installer", f"{self.bootstrap} is not a YAML mapping")
        return {str(k): str(v) for k, v in doc.items() if v is not None}

    def pinned_server_key(self) -> str | None:
        try:
            text = self.server_key.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text.lower() or None


@dataclass
class Options:
    config_path: Path
    state_dir: Path
    installer: Installer
    site_id: str | None = None
    api_endpoint: str | None = None
    tls_pin_hash: str | None = None
    provision_code: str | None = None
    mac_lookup: bool = False
    mac: str | None = None
    hardware_id: str | None = None
    hostname: str | None = None
    force: bool = False
    attempts: int = 0  # 0: until provisioned or refused
    ssl_context: ssl.SSLContext | None = None


@dataclass
class Facts:
    mac: str
    all_macs: list[str] = field(default_factory=list)
    hostname: str = ""
    hardware_id: str | None = None
    boot_source: str | None = None


def system_facts(opts: Options) -> Facts:
    from agent.checkin.sysinfo import boot_source, interface_macs

    macs = [m for _, m in interface_macs()]
    mac = (opts.mac or (macs[0] if macs else "")).upper()
    if not mac:
        raise ProvisionRefused("no_mac", "no physical network interface found (give --mac)")
    hw = opts.hardware_id
    if hw is None:
        try:
            hw = Path("/sys/class/dmi/id/product_uuid").read_text().strip() or None
        except OSError:
            hw = None
    return Facts(mac, macs or [mac], opts.hostname or socket.gethostname(), hw, boot_source())


def _no_crash(_: str) -> None:
    return None


class Provisioner:
    def __init__(self, opts: Options, identity: Ed25519Key, *, facts: Facts | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep, rng: Rng | None = None,
                 clock: Callable[[], float] = time.time, backoff: Backoff = BACKOFF) -> None:
        self.opts = opts
        self.identity = identity
        self._facts = facts
        self.sleep = sleep
        self.rng: Rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.clock = clock
        self.backoff = backoff
        #: Called with ``"answered"`` (a verified answer, before the config is written) and
        #: ``"written"`` (the config is on disk); tests kill the process there.
        self.crash_point: Callable[[str], None] = _no_crash
        #: Told every status line written (``run`` passes them on to systemd: ``STATUS=``).
        self.notify: Callable[[str], None] = _no_crash
        self.attempts = 0
        self._codes: list[str] = []  # why methods were dropped
        self._reasons: list[str] = []

    # --- settings ----------------------------------------------------------------------------

    def _settings(self) -> tuple[str, str | None, str | None, bool]:
        """Endpoint, site, TLS pins and whether the MAC lookup is enabled: the operator's options
        first, then the image's ``provision.yaml``."""
        boot = self.opts.installer.settings()
        endpoint = self.opts.api_endpoint or boot.get("api_endpoint") or DEFAULT_ENDPOINT
        problem = central_endpoint(endpoint)
        if problem:
            raise ProvisionRefused("installer", f"api_endpoint {problem}")
        mac_lookup = self.opts.mac_lookup or boot.get("mac_lookup", "").lower() in ("true", "yes")
        return (endpoint, self.opts.site_id or boot.get("site_id"),
                self.opts.tls_pin_hash or boot.get("tls_pin_hash"), mac_lookup)

    def _status(self, state: str, detail: str, *, method: str | None = None,
                next_s: float | None = None) -> None:
        write_status(self.opts.state_dir, state, detail=detail, method=method,
                     attempts=self.attempts, next_attempt_s=next_s, now=self.clock())
        self.notify(status_line(self.opts.state_dir) or "")

    def _refuse(self, code: str, message: str) -> ProvisionRefused:
        log.error("provision.refused", message, code=code)
        self._status("refused", message)
        return ProvisionRefused(code, message)

    # --- the run -------------------------------------------------------------------------------

    async def run(self) -> Provisioned:
        opts = self.opts
        if opts.config_path.exists() and not opts.force:
            raise ProvisionRefused("config_present", f"{opts.config_path} already exists; not "
                                   "overwritten (use --force to replace it)")
        try:
            endpoint, site_id, pins, mac_lookup = self._settings()
        except ProvisionRefused as exc:
            raise self._refuse(exc.code, str(exc)) from None
        fallbacks = [m for m, on in (("provision_code", bool(opts.provision_code)),
                                     ("mac_lookup", mac_lookup)) if on]
        methods: list[str] = []
        try:
            now = datetime.fromtimestamp(self.clock(), UTC)
            claim = load_claim_cert(opts.installer.claim_cert, opts.installer.claim_ca, now)
            if claim is not None and not site_id:
                raise ProvisionRefused("no_site_id", "claim certificate present but no site_id "
                                       f"(--site-id or site_id in {opts.installer.bootstrap})")
        except ProvisionRefused as exc:
            code = f"claim_cert_{exc.code}" if isinstance(exc, ClaimCertError) else exc.code
            message = f"claim certificate refused: {exc}" if isinstance(exc, ClaimCertError) \
                else str(exc)
            if not fallbacks:
                raise self._refuse(code, message) from None
            log.error("provision.method_refused", message, method="claim_v2", code=code)
            self._codes.append(code)
            self._reasons.append(f"claim_v2: {message}")
            claim = None
        else:
            if claim is not None:
                methods.append("claim_v2")
        methods += fallbacks
        if not methods:
            raise self._refuse("no_method", f"no claim certificate at {opts.installer.claim_cert}, "
                               "and neither a provision code nor the MAC lookup is enabled")
        try:
            facts = self._facts or system_facts(opts)
        except ProvisionRefused as exc:
            raise self._refuse(exc.code, str(exc)) from None
        https = endpoint.startswith("https://")
        pin_store = PinStore(opts.state_dir, tuple(p for p in (pins or "").split(",") if p)) \
            if https else None
        uplink = Uplink(endpoint, Credentials(""), identity=self.identity, pins=pin_store,
                        ssl_context=opts.ssl_context)
        log.info("provision.start", "provisioning this appliance", methods=",".join(methods),
                 endpoint=endpoint, mac=facts.mac, identity=self.identity.fingerprint,
                 iso_release=claim.iso_release_sha if claim is not None else "")
        try:
            result = await self._loop(uplink, methods, claim, facts, endpoint, site_id or "")
        finally:
            await uplink.close()
        data = render_config(result, state_dir=None if str(opts.state_dir) == DEFAULT_STATE_DIR
                             else opts.state_dir,
                             server_public_key=opts.installer.pinned_server_key(),
                             tls_pin_hash=pins, when=format_rfc3339(self.clock()))
        self.crash_point("answered")
        for stale in opts.config_path.parent.glob(f".{opts.config_path.name}.tmp.*"):
            stale.unlink(missing_ok=True)  # a write killed before its rename (we hold the lock)
        atomic_write(opts.config_path, data, 0o600)
        self.crash_point("written")
        self._status("provisioned", f"config written to {opts.config_path}", method=result.method)
        log.info("provision.done", "provisioned; config written", method=result.method,
                 site_id=result.site_id, appliance_id=result.appliance_id)
        return result

    async def _loop(self, uplink: Uplink, methods: list[str], claim: VerifiedClaim | None,
                    facts: Facts, endpoint: str, site_id: str) -> Provisioned:
        refused, codes = self._reasons, self._codes
        while True:
            self.attempts += 1
            waiting: _Retry | None = None
            for method in list(methods):
                try:
                    return await self._try(method, uplink, claim, facts, endpoint, site_id)
                except ProvisionRefused as exc:
                    methods.remove(method)
                    codes.append(exc.code)
                    refused.append(f"{method}: {exc}")
                    log.error("provision.method_refused", str(exc), method=method, code=exc.code)
                except _Retry as exc:
                    log.warning("provision.waiting", f"waiting for {exc.waiting_for}", method=method)
                    waiting = waiting or exc
            if not methods:
                raise self._refuse(codes[0] if len(codes) == 1 else "all_refused", "; ".join(refused))
            assert waiting is not None
            if self.opts.attempts and self.attempts >= self.opts.attempts:
                raise self._refuse("gave_up", f"gave up after {self.attempts} attempt(s) while "
                                   f"waiting for {waiting.waiting_for}"
                                   + "".join(f"; {r}" for r in refused))
            delay = self.backoff.delay(self.attempts, waiting.retry_after, self.rng)
            self._status("waiting", waiting.waiting_for, method=methods[0], next_s=delay)
            await self.sleep(delay)

    async def _try(self, method: str, uplink: Uplink, claim: VerifiedClaim | None, facts: Facts,
                   endpoint: str, site_id: str) -> Provisioned:
        try:
            if method == "claim_v2":
                assert claim is not None
                now = datetime.fromtimestamp(self.clock(), UTC)
                csr = build_csr(self.identity, claim, site_id=site_id, mac_address=facts.mac,
                                hardware_id=facts.hardware_id, now=now)
                reply = await uplink.send(routes.PROVISION_CLAIM_V2, csr)
                answer = _answer(reply, ClaimV2Response, method)
                register_secret(answer.api_key)
                return from_claim_v2(answer, identity_fingerprint=self.identity.fingerprint,
                                     site_id=site_id, mac=facts.mac, endpoint=endpoint)
            if method == "provision_code":
                code = (self.opts.provision_code or "").upper().strip()
                req = ProvisionClaimRequest(
                    provision_code=code, mac_address=facts.mac, hostname=facts.hostname or None,
                    hardware_id=facts.hardware_id, public_key=self.identity.public_hex,
                    boot_source=facts.boot_source, all_mac_addresses=facts.all_macs or None)
                reply = await uplink.send(routes.PROVISION_CLAIM, req)
                code_answer = _answer(reply, ProvisionClaimResponse, method)
                if code_answer.api_key:
                    register_secret(code_answer.api_key)
                if code_answer.api_endpoint.rstrip("/") != endpoint.rstrip("/"):
                    log.warning("provision.endpoint_ignored", "the unsigned provision-code answer "
                                "names another api_endpoint; keeping the one provisioned against",
                                answered=code_answer.api_endpoint)
                return from_code_claim(code_answer, mac=facts.mac, endpoint=endpoint)
            reply = await uplink.send(routes.PROVISION_MAC, path=mac_lookup_path(facts.mac))
            mac_answer = _answer(reply, MacLookupResponse, method)
            if mac_answer.config is None:
                if mac_answer.status == "unclaimed":
                    raise _Retry(f"site assignment of MAC {facts.mac} in Central Command",
                                 float(mac_answer.retry_seconds or 60))
                raise AnswerRefused("bad_answer", "MAC lookup answered neither a config nor "
                                    "'unclaimed'")
            if isinstance(mac_answer.config.get("api_key"), str):
                register_secret(mac_answer.config["api_key"])
            return from_mac_lookup(mac_answer, self.opts.installer.pinned_server_key(), mac=facts.mac)
        except TransportError as exc:
            raise _Retry(f"Central Command at {endpoint} ({exc.kind}: unreachable)") from None
        except UplinkRefused as exc:
            raise ProvisionRefused("unsendable", f"the {method} request was not sent: {exc}") from None


def _detail(reply: Reply) -> str:
    try:
        doc = msgspec.json.decode(reply.body)
    except msgspec.DecodeError:
        return reply.body[:200].decode("utf-8", "replace")
    detail = doc.get("detail", doc) if isinstance(doc, dict) else doc
    if isinstance(detail, dict) and "code" in detail:
        return f"{detail.get('error', '')} ({detail['code']})"
    return str(detail)[:300]


def _answer(reply: Reply, type_: type[Any], method: str) -> Any:
    if reply.status == 200:
        try:
            return msgspec.json.decode(reply.body, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise _Retry(f"a readable {method} answer from Central Command (got an unreadable "
                         "HTTP 200)") from None
    if reply.status == 429 or reply.status >= 500:
        raise _Retry(f"Central Command (server error: HTTP {reply.status})", reply.retry_after())
    code = "claim_refused" if reply.status == 401 else f"http_{reply.status}"
    raise ProvisionRefused(code, f"Central Command refused the {method} request: HTTP "
                           f"{reply.status} {_detail(reply)}")
