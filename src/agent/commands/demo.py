"""``demo``: run the agent's main job against a local Central Command on loopback."""

from __future__ import annotations

import argparse

from agent.commands.common import add_global


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="self-contained demonstration against a local Central Command",
                       description="Start a local Central Command on loopback and run the agent's "
                       "checkin against it in a temporary state directory: first contact, signed "
                       "orders, encrypted credentials, a server key rotation and a rekey. No "
                       "outbound network.")
    add_global(p)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--verbose", action="store_true", help="also print the agent's log lines")
    p.add_argument("--from-blank", action="store_true",
                   help="start from a blank appliance: claim certificate → config → first checkin")
    p.add_argument("--scenario", choices=("main", "update"), default="main",
                   help="update: an agent update through the privileged helper, then a release "
                   "that crashes on start and is rolled back (about a minute)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.demo import main, main_from_blank

    if args.scenario == "update":
        from agent import demo_update

        return demo_update.main(keep=args.keep, as_json=args.json, verbose=args.verbose)
    if args.from_blank:
        return main_from_blank(keep=args.keep, as_json=args.json, verbose=args.verbose)
    return main(keep=args.keep, as_json=args.json, verbose=args.verbose)
