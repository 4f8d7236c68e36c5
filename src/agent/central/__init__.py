"""The local Central Command: a faithful implementation of Central Command's agent-facing API
(``central-api.md``, ``orders.md``, ``evidence.md``) on aiohttp + SQLite, used by the demo, the
tests and the benchmarks.

Typical use::

    cc = CentralCommand(tmp / "central.db")
    await cc.start()
    cc.create_site("lakeside-pediatrics")
    key = cc.create_api_key("lakeside-pediatrics")
    order_id = cc.issue_order("lakeside-pediatrics", "force_checkin", {})
    ...
    cc.checkins("lakeside-pediatrics")
    await cc.stop()
"""

from agent.central.server import CentralCommand

__all__ = ["CentralCommand"]
