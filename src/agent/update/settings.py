"""What the update paths are configured with (config keys in ``config/schema.py``)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

from agent import __version__
from agent.config import Config


def running_version() -> str:
    """The release this process runs: its installed distribution's version (a release venv's
    own metadata), else the package's."""
    from importlib import metadata  # ~3 MiB and 50 modules: only when an update is decided

    try:
        return metadata.version("msp-agent")
    except metadata.PackageNotFoundError:
        return __version__


@dataclass(frozen=True, slots=True)
class UpdateSettings:
    allowed_hosts: tuple[str, ...]
    release_key: str  # hex Ed25519 public key of the release signer; "" = updates refused
    flake_pattern: str
    max_bytes: int
    download_timeout_s: float
    health_timeout_s: int
    cafile: str | None = None
    machine: str = platform.machine()
    #: The running NixOS generation (a test points it elsewhere).
    current_system: str = field(default_factory=lambda: os.environ.get(
        "MSP_AGENT_CURRENT_SYSTEM", "/run/current-system"))

    @classmethod
    def from_config(cls, config: Config) -> UpdateSettings:
        return cls(allowed_hosts=tuple(config.download_allowed_hosts),
                   release_key=(config.release_public_key or "").lower(),
                   flake_pattern=config.official_flake_pattern,
                   max_bytes=config.update_max_bytes,
                   download_timeout_s=float(config.update_download_timeout_s),
                   health_timeout_s=config.update_health_timeout_s,
                   cafile=config.download_ca_file)
