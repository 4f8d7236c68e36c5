"""Orders that change the appliance itself (orders.md §10.1): ``nix_gc``, ``nixos_rebuild``,
``update_daemon`` (an msp-agent release; on NixOS the helper runs it as a runtime override of
the unit's ``ExecStart``, :mod:`agent.priv.dropin`) and ``update_agent``.

Root work goes through the privileged helper (``Hooks.priv``, runtime.md §10.4); what the update
paths are configured with is ``Hooks.updates``. ``nixos_rebuild`` and ``update_daemon`` complete
**after** the restart (``ctx.mark_deferred``): marker and outcome are durable before the helper
switches, and the process that checks in afterwards posts the completion
(:mod:`agent.update.pending`).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from agent.orders.deploy import HANDLERS as DEPLOY_HANDLERS
from agent.orders.handlers import (
    HANDLERS,
    Handler,
    HandlerContext,
    HandlerError,
    _bool,
    _int,
    _only,
    _str,
    cap_output,
)
from agent.priv.client import PrivClient, PrivError, PrivResult
from agent.state.atomic import atomic_write
from agent.update import agentbin, pending, release
from agent.update.download import DownloadError, check_url
from agent.update.settings import UpdateSettings, running_version

_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_VERSION = re.compile(r"[0-9]+(\.[0-9]+){1,3}([a-z]+[0-9]*)?", re.ASCII)
_AGENT_VERSION = re.compile(r"[A-Za-z0-9._+-]{1,64}", re.ASCII)


def _priv(ctx: HandlerContext) -> PrivClient:
    client = ctx.hooks.priv
    if client is None:
        raise HandlerError("the privileged helper is not configured on this appliance")
    assert isinstance(client, PrivClient)
    return client


def _settings(ctx: HandlerContext) -> UpdateSettings:
    settings = ctx.hooks.updates
    if settings is None:
        raise HandlerError("update settings are not available in this agent build")
    assert isinstance(settings, UpdateSettings)
    return settings


async def _helper(ctx: HandlerContext, action: str, params: dict[str, Any]) -> PrivResult:
    try:
        res = await _priv(ctx).run(action, params)
    except PrivError as exc:
        raise HandlerError(f"privileged helper: {exc}") from None
    if not res.ok:
        detail = cap_output((res.stderr or res.stdout).strip()[-500:], 500)
        raise HandlerError(f"{action}: {res.error or 'failed'}" + (f": {detail}" if detail else ""),
                           res.result)
    return res


def _sha256(params: dict[str, Any]) -> str:
    value = params.get("binary_sha256")
    if not isinstance(value, str) or not _SHA256.fullmatch(value.lower()):
        raise HandlerError("parameter binary_sha256 is required: 64 hex characters")
    return value.lower()


def _url(params: dict[str, Any], key: str, settings: UpdateSettings) -> str:
    url = _str(params, key, required=True, max_len=2048)
    assert url is not None
    try:
        check_url(url, settings.allowed_hosts)
    except DownloadError as exc:
        raise HandlerError(f"parameter {key}: {exc}") from None
    return url


def _download(params: dict[str, Any], ctx: HandlerContext, url_key: str,
              version_pattern: re.Pattern[str]) -> tuple[UpdateSettings, str, str, str]:
    """The signed parameters of a download order: (settings, URL, SHA-256, version)."""
    _only(params, url_key, "binary_sha256", "version")
    settings = _settings(ctx)
    url = _url(params, url_key, settings)
    sha = _sha256(params)
    version = _str(params, "version", required=True, pattern=version_pattern)
    assert version is not None
    return settings, url, sha, version


def _realpath(path: str) -> str:
    return os.path.realpath(path)


def _defer(ctx: HandlerContext, result: dict[str, Any]) -> None:
    """Record the outcome as deferred, durably, before the switch (the restart may come any
    moment after it)."""
    if ctx.mark_deferred is None:
        raise HandlerError("deferred completion is not available")
    try:
        ctx.mark_deferred(result)
    except OSError as exc:
        raise HandlerError(f"the deferred outcome could not be recorded: {exc}") from None


def _free_bytes(path: str) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        st = os.statvfs("/")
    return st.f_bavail * st.f_frsize


async def nix_gc(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "older_than_days", "optimise")
    days = _int(params, "older_than_days", 14, 1, 365, numeric_strings=True)
    optimise = _bool(params, "optimise", True)
    before = _free_bytes("/nix/store")
    t0 = time.monotonic()
    await _helper(ctx, "nix-gc", {"older_than_days": days, "optimise": optimise})
    after = _free_bytes("/nix/store")
    return {"older_than_days": days, "optimise": optimise, "before_bytes": before,
            "after_bytes": after, "bytes_freed": max(0, after - before),
            "gc_duration_ms": int((time.monotonic() - t0) * 1000), "optimise_duration_ms": 0}


async def nixos_rebuild(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "flake_ref")
    settings = _settings(ctx)
    ref = _str(params, "flake_ref", required=True, max_len=200)
    assert ref is not None
    if not re.fullmatch(settings.flake_pattern, ref):
        raise HandlerError("parameter flake_ref does not match the official flake pattern")
    busy = pending.in_flight(ctx.state_dir)
    if busy:
        raise HandlerError(busy)
    _priv(ctx)
    previous = _realpath(settings.current_system)
    result = {"status": "test_activated", "previous_system": previous,
              "message": "nixos-rebuild test started; completed once the agent checks in from "
                         "the new generation (the watchdog then switches), rolled back otherwise"}
    pending.write_rebuild(ctx.state_dir, order_id=ctx.order.order_id, nonce=ctx.order.nonce,
                          previous_system=previous, flake_ref=ref,
                          timeout_s=settings.health_timeout_s + 120, now=time.time())
    _defer(ctx, result)
    try:
        await _helper(ctx, "nixos-rebuild-test", {
            "flake_ref": ref, "health_deadline_s": settings.health_timeout_s})
    except HandlerError as exc:
        pending.clear_rebuild(ctx.state_dir)
        atomic_write(ctx.state_dir / "last-rebuild-error.log", exc.message.encode()[:65536])
        raise
    return result


async def update_daemon(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    settings, url, sha, version = _download(params, ctx, "binary_url", _VERSION)
    busy = pending.in_flight(ctx.state_dir)
    if busy:
        raise HandlerError(busy)
    _priv(ctx)
    running = running_version()
    try:
        staged = await release.stage(ctx.state_dir, url=url, sha256=sha, version=version,
                                     running=running, settings=settings)
    except release.ReleaseError as exc:
        raise HandlerError(f"update refused: {exc}", {"status": "refused"}) from None
    try:
        await _helper(ctx, "agent-install", {"bundle": staged.bundle, "version": version})
    finally:
        release.clear(ctx.state_dir)
    result = {"status": "update_pending", "version": version, "previous_version": running,
              "sha256": sha, "message": "release installed side by side and switched to (on "
                                        "NixOS a runtime override of the unit until the next "
                                        "reboot or rebuild); completed once it checks in, "
                                        "rolled back otherwise"}
    pending.write_update(ctx.state_dir, order_id=ctx.order.order_id, nonce=ctx.order.nonce,
                         version=version, previous=running,
                         timeout_s=settings.health_timeout_s + 120, now=time.time())
    _defer(ctx, result)
    try:
        await _helper(ctx, "agent-switch", {"version": version,
                                            "health_deadline_s": settings.health_timeout_s})
    except HandlerError:
        pending.clear_update(ctx.state_dir)
        raise
    return result


async def update_agent(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    settings, url, sha, version = _download(params, ctx, "package_url", _AGENT_VERSION)
    try:
        return await agentbin.fetch(ctx.state_dir, url=url, sha256=sha, version=version,
                                    allowed_hosts=settings.allowed_hosts,
                                    max_bytes=settings.max_bytes,
                                    deadline_s=settings.download_timeout_s,
                                    cafile=settings.cafile)
    except (DownloadError, ValueError) as exc:
        raise HandlerError(f"update_agent refused: {exc}") from None


SYSTEM_HANDLERS: dict[str, Handler] = {
    "nix_gc": nix_gc, "nixos_rebuild": nixos_rebuild, "update_daemon": update_daemon,
    "update_agent": update_agent}
#: Every handler of this build (the worker's default table).
ALL_HANDLERS: dict[str, Handler] = {**HANDLERS, **SYSTEM_HANDLERS, **DEPLOY_HANDLERS}
