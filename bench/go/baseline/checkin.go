// Package baseline is our own Go rendition of the Go appliance daemon's hot paths, written to
// behave the way the daemon does (go-baseline.md): the same standard-library calls, the same
// data shapes, the same order of steps. It is the yardstick of bench/; it holds none of the
// daemon's code.
package baseline

import "encoding/json"

// The checkin request (central-api.md §6.1) as the daemon declares it: a struct marshalled by
// encoding/json in declaration order. Types and omitempty follow the daemon (plain int for
// uptime, optional fields omitted when zero, daemon_health a struct pointer). Two fields of the
// spec table that the daemon's struct lacks are kept so both sides encode the same sample:
// heartbeat_timestamp, and the agent's own daemon_health counters (§6.3).
type CheckinRequest struct {
	SiteID                 string                 `json:"site_id"`
	Hostname               string                 `json:"hostname"`
	MACAddress             string                 `json:"mac_address"`
	AllMACAddresses        []string               `json:"all_mac_addresses,omitempty"`
	IPAddresses            []string               `json:"ip_addresses"`
	UptimeSeconds          int                    `json:"uptime_seconds"`
	AgentVersion           string                 `json:"agent_version"`
	NixOSVersion           string                 `json:"nixos_version"`
	HasLocalCredentials    bool                   `json:"has_local_credentials"`
	AgentPublicKey         string                 `json:"agent_public_key,omitempty"`
	AgentIdentityPublicKey string                 `json:"agent_identity_public_key,omitempty"`
	BootSource             string                 `json:"boot_source,omitempty"`
	HeartbeatSignature     string                 `json:"heartbeat_signature,omitempty"`
	HeartbeatTimestamp     int64                  `json:"heartbeat_timestamp,omitempty"`
	WgPubKey               string                 `json:"wg_pubkey,omitempty"`
	WgConnected            bool                   `json:"wg_connected,omitempty"`
	WgIP                   string                 `json:"wg_ip,omitempty"`
	ConnectedAgents        []ConnectedAgent       `json:"connected_agents,omitempty"`
	DiscoveryResults       map[string]interface{} `json:"discovery_results,omitempty"`
	EncryptionPublicKey    string                 `json:"encryption_public_key,omitempty"`
	DeployResults          []DeployResult         `json:"deploy_results,omitempty"`
	DaemonHealth           *DaemonHealth          `json:"daemon_health,omitempty"`
	BundleHashes           []BundleHash           `json:"bundle_hashes,omitempty"`
	WitnessAttestations    []WitnessAttestation   `json:"witness_attestations,omitempty"`
	BootCounter            int64                  `json:"boot_counter,omitempty"`
	GenerationUUID         string                 `json:"generation_uuid,omitempty"`
	ReconcileNeeded        bool                   `json:"reconcile_needed,omitempty"`
	ReconcileSignals       []string               `json:"reconcile_signals,omitempty"`
}

// ConnectedAgent is central-api.md §6.2 (the counters are 64-bit in the daemon).
type ConnectedAgent struct {
	AgentID       string `json:"agent_id"`
	Hostname      string `json:"hostname"`
	AgentVersion  string `json:"agent_version,omitempty"`
	IPAddress     string `json:"ip_address,omitempty"`
	OSVersion     string `json:"os_version,omitempty"`
	Tier          int    `json:"capability_tier"`
	ConnectedAt   string `json:"connected_at"`
	LastHeartbeat string `json:"last_heartbeat"`
	DriftCount    int64  `json:"drift_count"`
	ChecksPassed  int64  `json:"checks_passed"`
	ChecksTotal   int64  `json:"checks_total"`
}

// DaemonHealth is central-api.md §6.3: the daemon's runtime figures, then (omitted when zero)
// the counters our agent adds.
type DaemonHealth struct {
	Goroutines      int      `json:"goroutines"`
	HeapAllocMB     float64  `json:"heap_alloc_mb"`
	HeapSysMB       float64  `json:"heap_sys_mb"`
	GCPauseMs       float64  `json:"gc_pause_ms"`
	GCCycles        uint32   `json:"gc_cycles"`
	NumCPU          int      `json:"num_cpu"`
	UptimeSeconds   int64    `json:"uptime_seconds_daemon"`
	MeshPeerCount   int      `json:"mesh_peer_count"`
	MeshRingSize    int      `json:"mesh_ring_size"`
	MeshPeerMACs    []string `json:"mesh_peer_macs,omitempty"`
	WgAccessState   string   `json:"wg_access_state"`
	WgAccessExpires string   `json:"wg_access_expires,omitempty"`
	BootSource      string   `json:"boot_source,omitempty"`
	ProcUptimeRaw   string   `json:"proc_uptime_raw,omitempty"`
	Clocksource     string   `json:"clocksource,omitempty"`
	// The agent's additions (§6.3, lower half).
	Runtime                 string `json:"runtime,omitempty"`
	EvidenceSpoolPending    int    `json:"evidence_spool_pending,omitempty"`
	EvidenceSpoolBytes      int64  `json:"evidence_spool_bytes,omitempty"`
	EvidenceDeadLetter      int    `json:"evidence_dead_letter,omitempty"`
	EvidenceCreationRefused int    `json:"evidence_creation_refused_total,omitempty"`
	CompletionOutboxPending int    `json:"completion_outbox_pending,omitempty"`
	TrustAlert              string `json:"trust_alert,omitempty"`
	TLSPinAlert             string `json:"tls_pin_alert,omitempty"`
	ClockSkewSeconds        int    `json:"clock_skew_seconds,omitempty"`
}

// DeployResult is one deploy_results entry.
type DeployResult struct {
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname,omitempty"`
	OSType   string `json:"os_type,omitempty"`
	Status   string `json:"status"`
	AgentID  string `json:"agent_id,omitempty"`
	Error    string `json:"error,omitempty"`
}

// BundleHash is a bundle_hashes entry (the daemon sends them; the server ignores them).
type BundleHash struct {
	BundleID   string `json:"bundle_id"`
	BundleHash string `json:"bundle_hash"`
	CheckedAt  string `json:"checked_at"`
}

// WitnessAttestation is a witness_attestations entry (evidence.md §8).
type WitnessAttestation struct {
	BundleID         string `json:"bundle_id"`
	BundleHash       string `json:"bundle_hash"`
	WitnessSignature string `json:"witness_signature"`
	WitnessPublicKey string `json:"witness_public_key"`
	SourceAppliance  string `json:"source_appliance"`
}

// CheckinResponse is central-api.md §6.4 the way the daemon unmarshals it: orders and both
// target lists as generic maps, the envelope as a map, the rest typed. Fields the daemon does
// not declare (billing_status, client_alert_mode, compliance_framework) are skipped by
// encoding/json, as in the daemon.
type CheckinResponse struct {
	Status                string                   `json:"status"`
	ApplianceID           string                   `json:"appliance_id"`
	ServerTime            string                   `json:"server_time"`
	RotatedAPIKey         string                   `json:"rotated_api_key,omitempty"`
	ServerPublicKey       string                   `json:"server_public_key"`
	ServerPublicKeys      []string                 `json:"server_public_keys,omitempty"`
	MergedDuplicates      int                      `json:"merged_duplicates"`
	PendingOrders         []map[string]interface{} `json:"pending_orders"`
	WindowsTargets        []map[string]interface{} `json:"windows_targets"`
	LinuxTargets          []map[string]interface{} `json:"linux_targets"`
	EnabledRunbooks       []string                 `json:"enabled_runbooks"`
	TriggerEnumeration    bool                     `json:"trigger_enumeration"`
	TriggerImmediateScan  bool                     `json:"trigger_immediate_scan"`
	L2Mode                string                   `json:"l2_mode"`
	SubscriptionStatus    string                   `json:"subscription_status"`
	DisabledChecks        []string                 `json:"disabled_checks"`
	EncryptedCredentials  map[string]interface{}   `json:"encrypted_credentials,omitempty"`
	PendingDeploys        []PendingDeploy          `json:"pending_deploys,omitempty"`
	Wireguard             *WireguardConfig         `json:"wireguard,omitempty"`
	PeerBundleHashes      []PeerBundleHash         `json:"peer_bundle_hashes,omitempty"`
	MeshPeers             []MeshPeer               `json:"mesh_peers,omitempty"`
	TargetAssignments     *TargetAssignments       `json:"target_assignments,omitempty"`
	ReconcilePlan         *ReconcilePlan           `json:"reconcile_plan,omitempty"`
	L2ConfidenceThreshold float64                  `json:"l2_confidence_threshold,omitempty"`
	MaintenanceUntil      string                   `json:"maintenance_until,omitempty"`
	BillingHold           bool                     `json:"billing_hold,omitempty"`
}

// PendingDeploy is a pending_deploys entry.
type PendingDeploy struct {
	DeviceID       string `json:"device_id"`
	IPAddress      string `json:"ip_address"`
	Hostname       string `json:"hostname"`
	OSType         string `json:"os_type"`
	DeployMethod   string `json:"deploy_method"`
	Username       string `json:"username"`
	Password       string `json:"password"`
	SSHKey         string `json:"ssh_key,omitempty"`
	AgentBinaryURL string `json:"agent_binary_url"`
}

// WireguardConfig is the optional hub description.
type WireguardConfig struct {
	HubPubKey   string `json:"hub_pubkey"`
	HubEndpoint string `json:"hub_endpoint"`
	MyIP        string `json:"my_ip"`
}

// PeerBundleHash is a peer_bundle_hashes entry.
type PeerBundleHash struct {
	BundleID        string `json:"bundle_id"`
	BundleHash      string `json:"bundle_hash"`
	SourceAppliance string `json:"source_appliance"`
	SourcePublicKey string `json:"source_public_key"`
}

// MeshPeer is a mesh_peers entry.
type MeshPeer struct {
	MAC string   `json:"mac"`
	IPs []string `json:"ips"`
}

// TargetAssignments is the scan-ownership object.
type TargetAssignments struct {
	YourTargets     []string `json:"your_targets"`
	RingMembers     []string `json:"ring_members"`
	AssignmentEpoch int64    `json:"assignment_epoch"`
}

// ReconcilePlan is orders.md §6.
type ReconcilePlan struct {
	PlanID            string   `json:"plan_id"`
	NewGenerationUUID string   `json:"new_generation_uuid"`
	NonceEpochHex     string   `json:"nonce_epoch_hex"`
	RunbookIDs        []string `json:"runbook_ids"`
	IssuedAt          string   `json:"issued_at"`
	ApplianceID       string   `json:"appliance_id"`
	SignatureHex      string   `json:"signature_hex"`
	SignedPayload     string   `json:"signed_payload"`
}

// EncodeRequest is the daemon's encode step: json.Marshal of the request struct.
func EncodeRequest(req *CheckinRequest) ([]byte, error) { return json.Marshal(req) }

// DecodeResponse is the daemon's decode step: json.Unmarshal into a fresh response struct.
func DecodeResponse(body []byte) (*CheckinResponse, error) {
	var resp CheckinResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
