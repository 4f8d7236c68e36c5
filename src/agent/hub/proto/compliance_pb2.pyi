from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CapabilityTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MONITOR_ONLY: _ClassVar[CapabilityTier]
    SELF_HEAL: _ClassVar[CapabilityTier]
    FULL_REMEDIATION: _ClassVar[CapabilityTier]
MONITOR_ONLY: CapabilityTier
SELF_HEAL: CapabilityTier
FULL_REMEDIATION: CapabilityTier

class RegisterRequest(_message.Message):
    __slots__ = ("hostname", "os_version", "agent_version", "installed_software", "mac_address", "needs_certificates", "csr_pem", "enrollment_token")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTALLED_SOFTWARE_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NEEDS_CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    ENROLLMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    os_version: str
    agent_version: str
    installed_software: _containers.RepeatedScalarFieldContainer[str]
    mac_address: str
    needs_certificates: bool
    csr_pem: bytes
    enrollment_token: str
    def __init__(self, hostname: _Optional[str] = ..., os_version: _Optional[str] = ..., agent_version: _Optional[str] = ..., installed_software: _Optional[_Iterable[str]] = ..., mac_address: _Optional[str] = ..., needs_certificates: _Optional[bool] = ..., csr_pem: _Optional[bytes] = ..., enrollment_token: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("agent_id", "check_interval_seconds", "enabled_checks", "capability_tier", "check_config", "ca_cert_pem", "agent_cert_pem", "agent_key_pem")
    class CheckConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHECK_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_CHECKS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITY_TIER_FIELD_NUMBER: _ClassVar[int]
    CHECK_CONFIG_FIELD_NUMBER: _ClassVar[int]
    CA_CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    AGENT_CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    AGENT_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    check_interval_seconds: int
    enabled_checks: _containers.RepeatedScalarFieldContainer[str]
    capability_tier: CapabilityTier
    check_config: _containers.ScalarMap[str, str]
    ca_cert_pem: bytes
    agent_cert_pem: bytes
    agent_key_pem: bytes
    def __init__(self, agent_id: _Optional[str] = ..., check_interval_seconds: _Optional[int] = ..., enabled_checks: _Optional[_Iterable[str]] = ..., capability_tier: _Optional[_Union[CapabilityTier, str]] = ..., check_config: _Optional[_Mapping[str, str]] = ..., ca_cert_pem: _Optional[bytes] = ..., agent_cert_pem: _Optional[bytes] = ..., agent_key_pem: _Optional[bytes] = ...) -> None: ...

class DriftEvent(_message.Message):
    __slots__ = ("agent_id", "hostname", "check_type", "passed", "expected", "actual", "hipaa_control", "timestamp", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CHECK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_FIELD_NUMBER: _ClassVar[int]
    HIPAA_CONTROL_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    hostname: str
    check_type: str
    passed: bool
    expected: str
    actual: str
    hipaa_control: str
    timestamp: int
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., check_type: _Optional[str] = ..., passed: _Optional[bool] = ..., expected: _Optional[str] = ..., actual: _Optional[str] = ..., hipaa_control: _Optional[str] = ..., timestamp: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class DriftAck(_message.Message):
    __slots__ = ("event_id", "received", "error", "heal_command")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HEAL_COMMAND_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    received: bool
    error: str
    heal_command: HealCommand
    def __init__(self, event_id: _Optional[str] = ..., received: _Optional[bool] = ..., error: _Optional[str] = ..., heal_command: _Optional[_Union[HealCommand, _Mapping]] = ...) -> None: ...

class HealCommand(_message.Message):
    __slots__ = ("command_id", "check_type", "action", "params", "timeout_seconds")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    CHECK_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    check_type: str
    action: str
    params: _containers.ScalarMap[str, str]
    timeout_seconds: int
    def __init__(self, command_id: _Optional[str] = ..., check_type: _Optional[str] = ..., action: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., timeout_seconds: _Optional[int] = ...) -> None: ...

class HealingResult(_message.Message):
    __slots__ = ("agent_id", "hostname", "check_type", "success", "error_message", "timestamp", "artifacts", "command_id")
    class ArtifactsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CHECK_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    hostname: str
    check_type: str
    success: bool
    error_message: str
    timestamp: int
    artifacts: _containers.ScalarMap[str, str]
    command_id: str
    def __init__(self, agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., check_type: _Optional[str] = ..., success: _Optional[bool] = ..., error_message: _Optional[str] = ..., timestamp: _Optional[int] = ..., artifacts: _Optional[_Mapping[str, str]] = ..., command_id: _Optional[str] = ...) -> None: ...

class HealingAck(_message.Message):
    __slots__ = ("event_id", "received")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    received: bool
    def __init__(self, event_id: _Optional[str] = ..., received: _Optional[bool] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("agent_id", "timestamp", "drift_count", "healing_count", "agent_version")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DRIFT_COUNT_FIELD_NUMBER: _ClassVar[int]
    HEALING_COUNT_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    timestamp: int
    drift_count: int
    healing_count: int
    agent_version: str
    def __init__(self, agent_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., drift_count: _Optional[int] = ..., healing_count: _Optional[int] = ..., agent_version: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("acknowledged", "config_changed", "pending_commands", "update_available", "update_version", "update_url", "update_sha256")
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    CONFIG_CHANGED_FIELD_NUMBER: _ClassVar[int]
    PENDING_COMMANDS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_URL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_SHA256_FIELD_NUMBER: _ClassVar[int]
    acknowledged: bool
    config_changed: bool
    pending_commands: _containers.RepeatedCompositeFieldContainer[HealCommand]
    update_available: bool
    update_version: str
    update_url: str
    update_sha256: str
    def __init__(self, acknowledged: _Optional[bool] = ..., config_changed: _Optional[bool] = ..., pending_commands: _Optional[_Iterable[_Union[HealCommand, _Mapping]]] = ..., update_available: _Optional[bool] = ..., update_version: _Optional[str] = ..., update_url: _Optional[str] = ..., update_sha256: _Optional[str] = ...) -> None: ...

class RMMStatusReport(_message.Message):
    __slots__ = ("agent_id", "hostname", "detected_agents", "timestamp")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    DETECTED_AGENTS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    hostname: str
    detected_agents: _containers.RepeatedCompositeFieldContainer[RMMAgent]
    timestamp: int
    def __init__(self, agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., detected_agents: _Optional[_Iterable[_Union[RMMAgent, _Mapping]]] = ..., timestamp: _Optional[int] = ...) -> None: ...

class RMMAgent(_message.Message):
    __slots__ = ("name", "version", "running", "service_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    running: bool
    service_name: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., running: _Optional[bool] = ..., service_name: _Optional[str] = ...) -> None: ...

class RMMAck(_message.Message):
    __slots__ = ("received",)
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    received: bool
    def __init__(self, received: _Optional[bool] = ...) -> None: ...
