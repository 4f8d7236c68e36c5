"""``provision``: enroll a blank appliance with Central Command and write its ``config.yaml``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.commands.common import (
    EXIT_FAILURE,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_USAGE,
    add_global,
    error,
    state_dir_without_config,
)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "provision", help="enroll this appliance and write config.yaml (first boot)",
        description="Enroll a blank appliance: claim-v2 with the installer image's claim "
        "certificate (claim.cert, claim-ca.pub), then, only if enabled, a provision code or the "
        "MAC lookup (whose config must verify against the pinned server key). Retries with "
        "backoff while Central Command is unreachable; refuses to replace an existing config "
        "without --force. Takes the state-directory lock.")
    add_global(p)
    p.add_argument("--installer-dir", metavar="DIR", type=Path, default=None,
                   help="claim.cert, claim-ca.pub, central-command.pub, provision.yaml "
                   "(default: /etc/installer)")
    p.add_argument("--site-id", help="site for claim-v2 (else provision.yaml's site_id)")
    p.add_argument("--api-endpoint", help="Central Command URL (else provision.yaml's, else "
                   "https://api.osiriscare.net)")
    p.add_argument("--tls-pin-hash", help="SPKI SHA-256 pin(s) for Central Command, comma-separated")
    p.add_argument("--provision-code-file", metavar="PATH",
                   help="enable the provision-code claim with the code in PATH ('-': stdin)")
    p.add_argument("--mac-lookup", action="store_true",
                   help="enable the MAC lookup (the config must be signed by the pinned key)")
    p.add_argument("--mac", help="the MAC to enroll (default: the first physical interface's)")
    p.add_argument("--hardware-id", help="default: /sys/class/dmi/id/product_uuid")
    p.add_argument("--attempts", type=int, default=0, metavar="N",
                   help="give up after N rounds while unreachable (default 0: keep trying)")
    p.add_argument("--force", action="store_true", help="replace an existing config.yaml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from agent.config import config_path
    from agent.config.schema import DEFAULT_STATE_DIR
    from agent.log import configure
    from agent.provision import DEFAULT_INSTALLER_DIR, Installer, Options, ProvisionRefused, provision
    from agent.state import LockHeld

    configure(getattr(args, "log_level", None) or "INFO", getattr(args, "log_format", None) or "text")
    code = None
    if args.provision_code_file:
        try:
            text = sys.stdin.read() if args.provision_code_file == "-" \
                else Path(args.provision_code_file).read_text(encoding="utf-8")
        except OSError as exc:
            error(f"cannot read the provision code: {exc.strerror}")
            return EXIT_USAGE
        code = text.strip()
        if not code:
            error("the provision code file is empty")
            return EXIT_USAGE
    state_dir = state_dir_without_config(args) or Path(DEFAULT_STATE_DIR)
    opts = Options(
        config_path=config_path(getattr(args, "config", None)).absolute(),
        state_dir=state_dir.absolute(),
        installer=Installer.at(args.installer_dir or DEFAULT_INSTALLER_DIR),
        site_id=args.site_id, api_endpoint=args.api_endpoint, tls_pin_hash=args.tls_pin_hash,
        provision_code=code, mac_lookup=args.mac_lookup, mac=args.mac,
        hardware_id=args.hardware_id, force=args.force, attempts=max(0, args.attempts))
    try:
        result = asyncio.run(provision(opts))
    except ProvisionRefused as exc:
        error(f"provisioning refused ({exc.code}): {exc}")
        return EXIT_FAILURE
    except LockHeld as exc:
        error(f"{exc}; stop the service first")
        return EXIT_LOCKED
    except OSError as exc:
        error(f"cannot provision: {exc.strerror or exc}")
        return EXIT_FAILURE
    print(f"provisioned by {result.method}: site {result.site_id}, appliance {result.appliance_id}; "
          f"config written to {opts.config_path}")
    return EXIT_OK
