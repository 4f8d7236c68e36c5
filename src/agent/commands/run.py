"""``run``: the daemon systemd starts (runtime.md §4.1)."""

from __future__ import annotations

import argparse
import gc
import os
import warnings

from agent.commands.common import EXIT_FAILURE, EXIT_LOCKED, EXIT_USAGE, add_global, error, load


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the daemon",
                       description="Run the agent daemon: check in with Central Command, scan, heal, "
                       "report. SIGTERM/SIGINT stop it gracefully, SIGHUP reloads the config.")
    add_global(p)
    p.add_argument("--once", action="store_true",
                   help="one checkin (and one round of every job), flush, exit — for tests")
    p.add_argument("--dry-run", action="store_true", help="force healing_dry_run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The start makes a few hundred thousand objects that live as long as the daemon (modules,
    # classes, the wiring): the cyclic collector has nothing to find among them, and its passes
    # while they are made were ~7 % of the start. Enabled again once the daemon is assembled.
    gc.disable()
    try:
        return _run(args)
    finally:
        gc.enable()


def _run(args: argparse.Namespace) -> int:
    first = _first_boot(args)
    if first is not None:
        return first
    loaded = load(args, healing_dry_run=True if args.dry_run else None)
    if loaded is None:
        return EXIT_USAGE
    from agent.log import configure, get_logger
    from agent.runtime.app import Agent, RunOptions, register_config_secrets, startup_line
    from agent.runtime.loop import loop_factory
    from agent.runtime.loop import run as run_loop
    from agent.runtime.sdnotify import Notifier
    from agent.state import KeyFileError, LockHeld, StateDir, load_or_create

    cfg = loaded.config
    register_config_secrets(cfg)
    configure(cfg.log_level, cfg.log_format)
    log = get_logger("runtime")
    for w in loaded.warnings:
        log.warning("config.clamped", w)
    if loaded.unknown_keys:
        log.debug("config.unknown_keys", "unknown keys ignored", keys=list(loaded.unknown_keys))
    notifier = Notifier()
    _, loop_name = loop_factory()
    if loop_name != "uvloop":
        log.warning("runtime.no_uvloop", "uvloop is not installed; using asyncio's event loop")
    state = StateDir(cfg.state_dir)
    try:
        state.open()
    except LockHeld as exc:
        error(str(exc))
        return EXIT_LOCKED
    except OSError as exc:
        error(f"cannot open state directory {cfg.state_dir}: {exc.strerror}")
        return EXIT_FAILURE
    for note in state.notes:
        log.warning("state.fixed", note)
    try:
        keys = load_or_create(state.path)
    except KeyFileError as exc:
        log.critical("keys.refused", str(exc))
        error(str(exc))
        state.close()
        return EXIT_FAILURE
    for w in keys.warnings:
        log.warning("keys.replaced", w)
    from agent import phi

    try:
        phi.configure(hash_key_hex=cfg.phi_hash_key, hash_mode=cfg.phi_hash_mode,
                      site_key=keys.phi_hash_key)
    except ValueError as exc:
        error(f"config: phi_hash_key: {exc}")
        state.close()
        return EXIT_USAGE
    if keys.created:
        log.info("keys.created", "created missing key files", files=keys.created)
    log.info("agent.start", "msp-agent starting", **startup_line(loaded, keys, loop_name))

    from pathlib import Path

    from agent.commands.common import flags_from
    from agent.config import config_path

    options = RunOptions(config_path=Path(config_path(getattr(args, "config", None))),
                         flags=flags_from(args, healing_dry_run=True if args.dry_run else None),
                         once=args.once)

    from agent import wiring

    async def main() -> int:
        agent = Agent(loaded, state, keys, notifier, options, loop_name,
                      assemble=lambda a: wiring.daemon(a.config, options.config_path, keys,
                                                       restart=a.stop_event.set))
        gc.enable()
        return await agent.run()

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        try:
            code, _ = run_loop(main)
        except Exception:  # noqa: BLE001  # logged, exit 1, systemd restarts us
            log.critical("agent.crashed", "unexpected error in the runtime", exc=True)
            return EXIT_FAILURE
        finally:
            notifier.close()
            state.close()
    return code


def _first_boot(args: argparse.Namespace) -> int | None:
    """No config yet and an installer image that can enroll: provision first (README, "First
    boot"); ``None`` to go on with the config that exists (or now does)."""
    from pathlib import Path

    from agent.config import config_path

    path = config_path(getattr(args, "config", None)).absolute()
    if path.exists():  # the usual start: provisioning (and its imports) is not needed
        return None
    from agent.commands.common import state_dir_without_config
    from agent.config.schema import DEFAULT_STATE_DIR
    from agent.provision import provision_for_run
    from agent.runtime.sdnotify import Notifier

    # Made only when provisioning reports: a Notifier takes NOTIFY_SOCKET out of the environment,
    # and the daemon's own Notifier needs it afterwards.
    made: list[Notifier] = []

    def notify(line: str) -> None:
        if not made:
            made.append(Notifier(dict(os.environ)))
        made[0].status(line)
        made[0].extend_timeout(600)  # TimeoutStartSec is 120 s; the server may take longer

    try:
        return provision_for_run(
            path, (state_dir_without_config(args) or Path(DEFAULT_STATE_DIR)).absolute(),
            notify=notify)
    finally:
        for n in made:
            n.close()
