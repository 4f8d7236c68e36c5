"""The played service manager of the update tests (:mod:`agent.central.servicemanager`)."""

from agent.central.servicemanager import (
    Harness,
    install,
    install_initial_release,
    install_store_release,
)

__all__ = ["Harness", "install", "install_initial_release", "install_store_release"]
