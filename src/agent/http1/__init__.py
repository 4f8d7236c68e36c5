"""A small HTTP/1.1 client on asyncio streams, the ``ssl`` module and h11 (sans-I/O).

Bottom layer, no agent imports: the Central Command transport (:mod:`agent.transport`) builds on it,
and so may any other client in the agent. :func:`connect` opens one (TLS, verified) connection;
:class:`Pool` keeps them alive per origin; :class:`HttpError` is every failure, with a ``kind``.
"""

from agent.http1.conn import Connection, HttpError, Origin, Reply, Verifier, connect
from agent.http1.headers import Headers
from agent.http1.pool import Pool

__all__ = ["Connection", "Headers", "HttpError", "Origin", "Pool", "Reply", "Verifier", "connect"]
