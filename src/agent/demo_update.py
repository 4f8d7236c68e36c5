"""``python -m agent demo --scenario update``: an agent update and a rollback, end to end.

The local Central Command serves release bundles over HTTPS (a throwaway CA, ``localhost``) and
issues signed ``update_daemon`` orders. The service manager is played
(:mod:`agent.central.servicemanager`: a stand-in ``systemctl`` that runs the real privileged
helper as this user and restarts "the agent's unit" by running ``current/bin/msp-agent run
--once``); everything else is real: downloads, hashes, the signed manifests, the virtual
environments of each release, the ``current`` link, the new release's own checkin, the
watchdog's verdicts and the completions. The releases are this installation's code at other
versions (:func:`agent.central.releases.dev_release`). Release 1.1.0 checks in and is kept;
release 1.2.0 crashes on start, is rolled back to 1.1.0, and that release reports the failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from nacl.signing import SigningKey

from agent.bus import Bus
from agent.central import CentralCommand, servicemanager, testca
from agent.central.releases import dev_release
from agent.checkin import CheckinComponent
from agent.config import load_config
from agent.events import CheckinSucceeded, OrdersReceived
from agent.orders.worker import OrderComponent
from agent.priv.client import PrivClient
from agent.state import load_or_create

SITE = "update-clinic"


async def _deliver(cfg_path: Path, cc: CentralCommand, params: dict[str, Any]) -> None:
    """The running agent (checkin + orders, as the daemon wires them) receives and runs one
    update_daemon order."""
    cfg = load_config(cfg_path, environ={}).config
    bus = Bus()
    comp = CheckinComponent(cfg, cfg_path, load_or_create(Path(cfg.state_dir)), bus=bus)
    orders = OrderComponent(cfg, cfg_path, uplink=comp.uplink, site=comp.shared,
                            trusted_keys=comp.server_keys.trusted_keys, bus=bus,
                            status=comp.status)
    bus.subscribe(OrdersReceived, orders.on_orders)
    bus.subscribe(CheckinSucceeded, orders.on_checkin)
    bus.freeze()
    try:
        await comp.run_once()
        cc.issue_order(SITE, "update_daemon", params, fleet=True)
        await comp.run_once()
        await orders.run_once()
    finally:
        await orders.close()
        await comp.close()


def _completion(cc: CentralCommand) -> dict[str, Any]:
    done = [c for c in cc.completions(SITE) if c["order_type"] == "update_daemon"]
    return done[-1] if done else {}


async def _scenario(say: Callable[[str], None], tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ca_pem, server_ctx = testca.make(tmp)
    seed = os.urandom(32)
    pub = SigningKey(seed).verify_key.encode().hex()
    h = servicemanager.install(tmp, release_key=pub)
    async with contextlib.AsyncExitStack() as stack:
        cc = CentralCommand(tmp / "central.db", ssl_context=server_ctx)
        stack.callback(cc.close)
        await cc.start()
        stack.push_async_callback(cc.stop)
        cc.create_site(SITE)
        url = f"https://localhost:{cc.port}"
        cfg = tmp / "config.yaml"
        cfg.write_text(f"site_id: {SITE}\napi_key: {cc.create_api_key(SITE)}\n"
                       f"api_endpoint: {url}\nstate_dir: {h.state_dir}\n"
                       f"download_allowed_hosts: [localhost]\nrelease_public_key: {pub}\n"
                       f"download_ca_file: {ca_pem}\nupdate_health_timeout_s: 60\n")
        cfg.chmod(0o600)
        h.set_agent(cfg, {"SSL_CERT_FILE": str(ca_pem)})
        os.environ.update({**h.agent_env(), "SSL_CERT_FILE": str(ca_pem)})
        client = PrivClient(h.priv_root, systemctl=h.systemctl,
                            trial_file=h.priv_state / "trial.json")
        say(f"local Central Command on {url} (TLS, demo CA); release key {pub[:16]}…")
        await servicemanager.install_initial_release(h, client, "1.0.0",
                                                     dev_release("1.0.0", seed))
        say(f"release 1.0.0 installed by the helper, current -> {h.current()}")

        for version, crashes in (("1.1.0", False), ("1.2.0", True)):
            path, sha = cc.artifacts.publish(f"msp-agent-{version}.tar",
                                             dev_release(version, seed, crashes=crashes))
            say(f"update_daemon {version}{' (a build that crashes on start)' if crashes else ''}:"
                f" {url}{path} sha256 {sha[:12]}…")
            await _deliver(cfg, cc, {"binary_url": url + path, "binary_sha256": sha,
                                     "version": version})
            agent_runs = [c for c in h.calls() if c.startswith("agent exited")]
            say(f"   installed side by side, switched, agent restarted: {agent_runs[-1]}")
            res = await client.run("watchdog")
            verdict = (res.result or {}).get("status", "?")
            say(f"   watchdog: {verdict}; current -> {h.current()}")
            c = _completion(cc)
            text = (f"success ({c['result']['status']}, {c['result']['version']})"
                    if c.get("success") else f"failure: {c.get('error_message')}")
            say(f"   completion at the server: {text}")
            out[version] = {"watchdog": verdict, "current": h.current(), "completion": text}
    return out


def main(*, keep: bool = False, as_json: bool = False, verbose: bool = False,
         out: TextIO = sys.stdout) -> int:
    """Exit 0 iff 1.1.0 was kept and completed, and 1.2.0 was rolled back and reported failed."""
    from agent.log import configure
    from agent.runtime.loop import run as run_loop

    configure("INFO" if verbose else "CRITICAL", "text")
    tmp = Path(tempfile.mkdtemp(prefix="msp-agent-update-"))
    progress = sys.stderr if as_json else out
    started = time.monotonic()
    saved = dict(os.environ)

    def say(text: str) -> None:
        progress.write(f"[{time.monotonic() - started:6.2f}s] {text}\n")
        progress.flush()

    try:
        result, _ = run_loop(lambda: _scenario(say, tmp))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if as_json:
        out.write(json.dumps(result, indent=2) + "\n")
    else:
        out.write("\nsummary\n" + "\n".join(f"  {k}: {v}" for k, v in result.items()) + "\n")
    good, bad = result.get("1.1.0", {}), result.get("1.2.0", {})
    ok = (good.get("watchdog") == "committed" and good.get("completion", "").startswith("success")
          and bad.get("watchdog") == "rolled_back" and bad.get("current") == "1.1.0"
          and bad.get("completion", "").startswith("failure"))
    return 0 if ok else 1
