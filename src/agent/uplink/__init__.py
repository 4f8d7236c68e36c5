"""The one way out to Central Command: scrub (fail closed) → encode → authenticate → send.

:class:`Uplink` owns the pinned HTTPS client; :mod:`agent.uplink.routes` is the endpoint table.
Nothing else in the agent holds an HTTP client for Central Command (import-linter contract).
"""

from agent.transport import CheckinBackoff, Credentials, PinStore, TransportError
from agent.uplink import routes
from agent.uplink.routes import Route
from agent.uplink.uplink import Poster, Reply, Uplink, UplinkRefused

__all__ = ["CheckinBackoff", "Credentials", "PinStore", "Poster", "Reply", "Route", "TransportError",
           "Uplink", "UplinkRefused", "routes"]
