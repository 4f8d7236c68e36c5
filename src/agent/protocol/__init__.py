"""Wire protocol of Central Command (``central-api.md``): msgspec models, codecs, buffer pool.

One module per endpoint family; every decoder raises :class:`ProtocolError` (with the field path)
and nothing else. The checkin loop uses :func:`parse_checkin_response` (tolerant, §10 g); the
strict decoders serve the local Central Command and tests.
"""

from agent.protocol.bufpool import POOL, BufferPool
from agent.protocol.checkin import (
    CheckinRequest,
    ConnectedAgent,
    DaemonHealth,
    DeployResult,
    DiscoveredAsset,
    DiscoveryResults,
    WitnessAttestation,
    decode_checkin_request,
    encode_checkin_request,
)
from agent.protocol.checkin_response import (
    CheckinResponse,
    MeshPeer,
    PeerBundleHash,
    TargetAssignments,
    decode_checkin_response,
    encode_checkin_response,
)
from agent.protocol.codec import decode, encode
from agent.protocol.credentials import (
    CredentialSet,
    EncryptedCredentials,
    LinuxTarget,
    PendingDeploy,
    WindowsTarget,
)
from agent.protocol.errors import FieldIssue, ProtocolError
from agent.protocol.lenient import CheckinParse, parse_checkin_response
from agent.protocol.orders import (
    MalformedOrder,
    Order,
    OrderCompletion,
    OrderCompletionResponse,
    order_complete_path,
)
from agent.protocol.reconcile import ReconcileAck, ReconcilePlan

CHECKIN_PATH = "/api/appliances/checkin"

__all__ = [
    "CHECKIN_PATH",
    "POOL",
    "BufferPool",
    "CheckinParse",
    "CheckinRequest",
    "CheckinResponse",
    "ConnectedAgent",
    "CredentialSet",
    "DaemonHealth",
    "DeployResult",
    "DiscoveredAsset",
    "DiscoveryResults",
    "EncryptedCredentials",
    "FieldIssue",
    "LinuxTarget",
    "MalformedOrder",
    "MeshPeer",
    "Order",
    "OrderCompletion",
    "OrderCompletionResponse",
    "PeerBundleHash",
    "PendingDeploy",
    "ProtocolError",
    "ReconcileAck",
    "ReconcilePlan",
    "TargetAssignments",
    "WindowsTarget",
    "WitnessAttestation",
    "decode",
    "decode_checkin_request",
    "decode_checkin_response",
    "encode",
    "encode_checkin_request",
    "encode_checkin_response",
    "order_complete_path",
    "parse_checkin_response",
]
