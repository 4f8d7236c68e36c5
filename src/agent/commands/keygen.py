"""``keygen``: create missing keys (never overwrites) and print the public information."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agent.commands.common import (
    EXIT_FAILURE,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_USAGE,
    add_global,
    error,
    load,
    state_dir_without_config,
)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("keygen", help="create missing keys; print public keys",
                       description="Create missing keys (identity, evidence, envelope, PHI hash key) "
                       "in the Go daemon's formats. Existing keys are adopted, never overwritten. "
                       "Takes the state-directory lock. Exit 0 ok, 1 failure, 2 usage or "
                       "configuration error, 3 lock held.")
    add_global(p)
    p.add_argument("--show", action="store_true", help="only print existing public information")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def resolve_state_dir(args: argparse.Namespace) -> Path | None:
    """State dir from the flag/env, else from the config, else the default."""
    from agent.config import config_path

    direct = state_dir_without_config(args)
    if direct is not None:
        return direct
    if not config_path(getattr(args, "config", None)).exists():
        from agent.config.schema import DEFAULT_STATE_DIR

        return Path(DEFAULT_STATE_DIR)
    loaded = load(args)
    return None if loaded is None else Path(loaded.config.state_dir)


def run(args: argparse.Namespace) -> int:
    from agent.state import KeyFileError, LockHeld, StateDir, load_or_create

    state_dir = resolve_state_dir(args)
    if state_dir is None:
        return EXIT_USAGE
    if args.show:
        try:
            keys = load_or_create(state_dir, create=False)
        except KeyFileError as exc:
            error(str(exc))
            return EXIT_FAILURE
        _print(keys, args.json, state_dir)
        return EXIT_OK
    state = StateDir(state_dir)
    try:
        state.open()
    except LockHeld as exc:
        error(f"{exc}; stop the service first")
        return EXIT_LOCKED
    except OSError as exc:
        error(f"cannot open state directory {state_dir}: {exc.strerror}")
        return EXIT_FAILURE
    try:
        keys = load_or_create(state.path)
    except KeyFileError as exc:
        error(str(exc))
        return EXIT_FAILURE
    finally:
        state.close()
    _print(keys, args.json, state_dir)
    return EXIT_OK


def _print(keys: object, as_json: bool, state_dir: Path) -> None:
    from agent.state import Keys

    assert isinstance(keys, Keys)
    doc = {
        "state_dir": str(state_dir),
        "identity_public_key": keys.identity_public_hex,
        "identity_fingerprint": keys.identity_fingerprint,
        "evidence_public_key": keys.evidence_public_hex,
        "envelope_public_key": keys.envelope_public_hex,
        "created": keys.created,
        "repaired": keys.repaired,
        "warnings": keys.warnings,
    }
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    print(f"state directory:      {state_dir}")
    print(f"identity public key:  {doc['identity_public_key']}")
    print(f"identity fingerprint: {doc['identity_fingerprint']}")
    print(f"evidence public key:  {doc['evidence_public_key']}")
    print(f"envelope public key:  {doc['envelope_public_key']}")
    print(f"created: {', '.join(keys.created) if keys.created else 'nothing (all keys existed)'}")
    for w in keys.warnings:
        print(f"warning: {w}")
