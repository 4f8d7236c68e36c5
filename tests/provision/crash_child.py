"""Child of the kill -9 test: one provisioning run that SIGKILLs itself at a named point.

    python -m tests.provision.crash_child INSTALLER_DIR CONFIG STATE_DIR POINT|-

Points: ``answered`` (a verified answer, nothing written), ``renaming`` (the config's temporary
file written and fsynced, not yet renamed), ``written`` (the config in place, the status not yet
updated).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.provision.conftest import FACTS

from agent.provision import Installer, Options, Provisioner, ProvisionRefused, provision


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(installer: Path, config: Path, state: Path, point: str) -> int:
    def prepare(prov: Provisioner) -> None:
        prov.crash_point = lambda name: die() if name == point else None
        if point == "renaming":
            import agent.state.atomic as atomic

            real_rename = os.rename

            def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
                if Path(dst) == config:
                    die()
                real_rename(src, dst)

            atomic.os.rename = rename  # type: ignore[assignment]

    try:
        done = await provision(Options(config, state, Installer.at(installer)), facts=FACTS,
                               prepare=prepare)
    except ProvisionRefused as exc:
        print(f"REFUSED {exc.code}", flush=True)
        return 1
    print(f"DONE {done.method}", flush=True)
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(asyncio.run(main(Path(a[0]), Path(a[1]), Path(a[2]), a[3])))
