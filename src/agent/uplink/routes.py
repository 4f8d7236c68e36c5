"""The endpoint table of the Uplink: every request the agent makes to Central Command.

One :class:`Route` per endpoint: method, path, the transport :class:`~agent.transport.Endpoint`
(deadline, response cap, breaker class), how it authenticates (Bearer API key; sigauth headers
where the endpoint carries them), whether the body is gzipped, and the typed request body (the
msgspec Struct a pre-encoded body must decode into before the Uplink scrubs and re-encodes it).
Paths with a variable segment (an order id, a site id) are passed to :meth:`Uplink.send` built by
the protocol's path helpers; ``path`` here is the fixed part, for reading and for logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from agent.protocol import CHECKIN_PATH, CheckinRequest
from agent.protocol.devices import DeviceSync
from agent.protocol.evidence import EvidenceSubmit
from agent.protocol.incidents import INCIDENTS_PATH, RESOLVE_PATH, IncidentReport, IncidentResolve
from agent.protocol.l2 import L2PlanRequest
from agent.protocol.logs import LogIngest
from agent.protocol.mesh import MeshAck
from agent.protocol.orders import OrderCompletion
from agent.protocol.provision import (
    CLAIM_PATH,
    CLAIM_V2_PATH,
    MAC_LOOKUP_PREFIX,
    ClaimV2Request,
    ProvisionClaimRequest,
)
from agent.protocol.reconcile import ReconcileAck
from agent.protocol.rekey import REKEY_PATH, RekeyRequest
from agent.protocol.security_events import SecurityEventsArchive
from agent.protocol.telemetry import ExecutionReport
from agent.transport import client as ep
from agent.transport.client import Endpoint


@dataclass(frozen=True, slots=True)
class Route:
    """One Central Command endpoint as the Uplink sends to it."""

    name: str
    method: str
    path: str
    endpoint: Endpoint
    request: type[Any] | None = None  # the body's Struct; None: no body
    auth: bool = True  # Authorization: Bearer <api key>
    sign: bool = False  # sigauth headers over method, path and body
    gzip: bool = False  # Content-Encoding: gzip


CHECKIN: Final = Route("checkin", "POST", CHECKIN_PATH, ep.CHECKIN, CheckinRequest, sign=True)
REKEY: Final = Route("rekey", "POST", REKEY_PATH, ep.REKEY, RekeyRequest, auth=False)
# First-boot enrollment: unauthenticated (no Bearer; the claim certificate, the CSR signature or
# the provision code is the authentication). The MAC lookup's path is built by
# ``agent.protocol.provision.mac_lookup_path``.
PROVISION_CLAIM_V2: Final = Route("provision_claim_v2", "POST", CLAIM_V2_PATH, ep.PROVISION,
                                  ClaimV2Request, auth=False)
PROVISION_CLAIM: Final = Route("provision_claim", "POST", CLAIM_PATH, ep.PROVISION,
                               ProvisionClaimRequest, auth=False)
PROVISION_MAC: Final = Route("provision_mac", "GET", MAC_LOOKUP_PREFIX + "{mac}", ep.PROVISION,
                             None, auth=False)
ORDER_COMPLETE: Final = Route("order_complete", "POST", "/api/orders/{order_id}/complete",
                              ep.ORDER_COMPLETE, OrderCompletion)
EVIDENCE_SUBMIT: Final = Route("evidence_submit", "POST", "/api/evidence/sites/{site_id}/submit",
                               ep.EVIDENCE_SUBMIT, EvidenceSubmit)
EVIDENCE_VERIFY: Final = Route("evidence_verify", "GET",
                               "/api/evidence/sites/{site_id}/verify/{bundle_id}",
                               ep.EVIDENCE_VERIFY, None, auth=False)
EXECUTIONS: Final = Route("executions", "POST", "/api/agent/executions", ep.REPORTS,
                          ExecutionReport)
INCIDENTS: Final = Route("incidents", "POST", INCIDENTS_PATH, ep.REPORTS, IncidentReport)
RESOLVE: Final = Route("incident_resolve", "POST", RESOLVE_PATH, ep.REPORTS, IncidentResolve)
LOGS: Final = Route("logs", "POST", "/api/logs/ingest", ep.SYNC, LogIngest, gzip=True)
SECURITY_EVENTS: Final = Route("security_events", "POST", "/api/security-events/archive",
                               ep.SYNC, SecurityEventsArchive)
L2_PLAN: Final = Route("l2_plan", "POST", "/api/agent/l2/plan", ep.L2_PLAN, L2PlanRequest)
RULES: Final = Route("rules", "GET", "/agent/sync", ep.RULES, None)
# The device inventory and the mesh ack (scan/inventory.py), the reconcile ack
# (checkin/reconcile.py).
DEVICES_SYNC: Final = Route("devices_sync", "POST", "/api/devices/sync", ep.SYNC, DeviceSync)
MESH_ACK: Final = Route("mesh_ack", "POST", "/api/appliances/mesh/ack", ep.ACKS, MeshAck)
RECONCILE_ACK: Final = Route("reconcile_ack", "POST", "/api/appliances/reconcile/ack", ep.ACKS,
                             ReconcileAck)

ALL: Final = (CHECKIN, REKEY, PROVISION_CLAIM_V2, PROVISION_CLAIM, PROVISION_MAC, ORDER_COMPLETE,
              EVIDENCE_SUBMIT, EVIDENCE_VERIFY, EXECUTIONS, INCIDENTS, RESOLVE, LOGS, SECURITY_EVENTS,
              L2_PLAN, RULES, DEVICES_SYNC, MESH_ACK, RECONCILE_ACK)
