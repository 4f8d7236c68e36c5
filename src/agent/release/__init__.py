"""Building msp-agent releases (the provider's side; never on an appliance, never in the daemon).

``wheelset`` reads a set of wheels and checks that it is one complete release for one machine;
``keyfile`` reads and creates the release signing key (a 0600 file); ``build`` writes the signed
release bundle (the format of :mod:`agent.priv.bundle`) atomically and checks it with the
helper's own verification. ``msp-agent release build`` and ``msp-agent release keygen``
(:mod:`agent.commands.release`) run them. Imports nothing of the daemon.
"""


class ReleaseError(ValueError):
    """The inputs of a release cannot make one; the message says why (never key material)."""
