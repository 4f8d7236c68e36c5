"""Release bundles for the update tests, built with the local Central Command's tooling.

A test release is a small wheel named ``msp-agent`` at its own version whose ``.pth`` file adds
this interpreter's site-packages: its ``msp-agent`` and ``msp-agent-priv`` scripts run the real
agent and helper code, and the release reports its own version (its distribution's metadata).
The crashing release's ``msp-agent`` exits at once.
"""

from __future__ import annotations

import platform

from agent.central.releases import bundle, wheel

from .harness import site_packages

SCRIPTS = {"msp-agent": "agent.cli:main", "msp-agent-priv": "agent.priv.helper:main"}


def agent_wheel(version: str, *, crashes: bool = False) -> tuple[str, bytes]:
    files = {"msp_agent_release.pth": f"import site; site.addsitedir({site_packages()!r})\n"}
    scripts = dict(SCRIPTS)
    if crashes:
        files["msp_agent_crash.py"] = ("def main():\n"
                                       "    raise SystemExit('release crashes on start')\n")
        scripts["msp-agent"] = "msp_agent_crash:main"
    return wheel("msp-agent", version, files, scripts=scripts)


def release(version: str, seed: bytes, *, crashes: bool = False, tamper: bool = False,
            allow_downgrade: bool = False) -> bytes:
    return bundle(version, [agent_wheel(version, crashes=crashes)], seed,
                  machine=platform.machine(), tamper=tamper, allow_downgrade=allow_downgrade)
