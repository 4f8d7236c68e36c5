"""Why provisioning stopped: one exception with a stable ``code`` and a message in words."""

from __future__ import annotations


class ProvisionRefused(Exception):
    """Provisioning (or one of its methods) must not go on; ``code`` is stable (status, tests)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class ClaimCertError(ProvisionRefused):
    """The claim certificate is present but unusable."""


class AnswerRefused(ProvisionRefused):
    """A server answer must not be used."""
