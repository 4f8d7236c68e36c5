"""The sshd fixtures live in ``tests/sshfixtures.py`` (shared with ``tests/healing``)."""

from tests.sshfixtures import SshEnv

__all__ = ["SshEnv"]
