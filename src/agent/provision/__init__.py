"""First-boot enrollment of a blank appliance (claim-v2, provision code, MAC lookup).

* :func:`provision` — take the state-directory lock, create the keys, run :class:`Provisioner`;
* :func:`provision_for_run` — what ``run`` calls before loading its config: nothing when a config
  exists or the image carries no claim certificate; otherwise provisioning (retrying until it
  succeeds or is refused) and the exit code on refusal;
* :func:`status_line` — the ``provisioning: …`` line for ``status``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from agent.provision.answers import Provisioned
from agent.provision.claim import VerifiedClaim, build_csr, load_claim_cert
from agent.provision.errors import AnswerRefused, ClaimCertError, ProvisionRefused
from agent.provision.flow import DEFAULT_INSTALLER_DIR, Facts, Installer, Options, Provisioner
from agent.provision.status import STATUS_NAME, read_status, status_line

__all__ = ["DEFAULT_INSTALLER_DIR", "STATUS_NAME", "AnswerRefused", "ClaimCertError", "Facts",
           "Installer", "Options", "ProvisionRefused", "Provisioned", "Provisioner",
           "VerifiedClaim", "build_csr", "load_claim_cert", "provision", "provision_for_run",
           "read_status", "status_line"]

EXIT_REFUSED = 1
EXIT_LOCKED = 2


async def provision(opts: Options, *, facts: Facts | None = None,
                    prepare: Callable[[Provisioner], None] | None = None) -> Provisioned:
    """Lock the state directory, load or create the keys, provision. ``prepare`` (tests) is
    called with the :class:`Provisioner` before it runs."""
    from agent.crypto.keys import Ed25519Key
    from agent.state import StateDir, load_or_create

    state = StateDir(opts.state_dir)
    state.open()  # LockHeld when the daemon (or another provisioning) holds it
    try:
        keys = load_or_create(state.path)
        prov = Provisioner(opts, Ed25519Key(bytes(keys.identity)), facts=facts)
        if prepare is not None:
            prepare(prov)
        return await prov.run()
    finally:
        state.close()


def provision_for_run(config_path: Path, state_dir: Path, *,
                      installer_dir: Path = DEFAULT_INSTALLER_DIR,
                      notify: Callable[[str], None] | None = None) -> int | None:
    """Provisioning mode of ``run``: ``None`` to go on (a config exists, or now does, or the image
    has neither a claim certificate nor ``provision.yaml`` and the config error is ``run``'s to
    report), else the exit code.
    ``notify`` is told each ``provisioning: …`` status line (for systemd's ``STATUS=``)."""
    from agent.log import configure
    from agent.state import LockHeld

    if config_path.exists():
        return None
    installer = Installer.at(installer_dir)
    if not installer.claim_cert.exists() and not installer.bootstrap.exists():
        return None
    configure("INFO", "json")  # run configures logging again from the config it then loads

    def hook(prov: Provisioner) -> None:
        if notify is not None:
            prov.notify = notify

    try:
        asyncio.run(provision(Options(config_path, state_dir, installer), prepare=hook))
    except ProvisionRefused as exc:
        sys.stderr.write(f"msp-agent: provisioning refused ({exc.code}): {exc}\n")
        return EXIT_REFUSED
    except LockHeld as exc:
        sys.stderr.write(f"msp-agent: {exc}\n")
        return EXIT_LOCKED
    return None
