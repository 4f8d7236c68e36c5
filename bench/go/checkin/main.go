// Command checkin is the Go baseline for checkin encoding and decoding (go-baseline.md §3).
//
// It mirrors the field tables of central-api.md §6 the way the Go daemon does: Go structs with
// encoding/json, omitempty on optional request fields, order parameters and the free-form fields
// (daemon_health, discovery_results, result objects) as map[string]interface{}. It reads the same
// sample files as bench/cmp_checkin.py and prints one JSON object per operation.
//
//	checkin <shared-dir> [-quick]
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ConnectedAgent is central-api.md §6.2.
type ConnectedAgent struct {
	AgentID        string `json:"agent_id"`
	Hostname       string `json:"hostname"`
	AgentVersion   string `json:"agent_version,omitempty"`
	IPAddress      string `json:"ip_address,omitempty"`
	OSVersion      string `json:"os_version,omitempty"`
	CapabilityTier int    `json:"capability_tier"`
	ConnectedAt    string `json:"connected_at"`
	LastHeartbeat  string `json:"last_heartbeat"`
	DriftCount     int    `json:"drift_count"`
	ChecksPassed   int    `json:"checks_passed"`
	ChecksTotal    int    `json:"checks_total"`
}

// DeployResult is one deploy_results entry (§6.1).
type DeployResult struct {
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname,omitempty"`
	OSType   string `json:"os_type,omitempty"`
	Status   string `json:"status"`
	AgentID  string `json:"agent_id,omitempty"`
	Error    string `json:"error,omitempty"`
}

// WitnessAttestation is one witness_attestations entry (§6.1, evidence.md §8).
type WitnessAttestation struct {
	BundleID         string `json:"bundle_id"`
	BundleHash       string `json:"bundle_hash"`
	WitnessSignature string `json:"witness_signature"`
	WitnessPublicKey string `json:"witness_public_key"`
	SourceAppliance  string `json:"source_appliance"`
}

// CheckinRequest is central-api.md §6.1, in the Go daemon's field order.
type CheckinRequest struct {
	SiteID                 string                 `json:"site_id"`
	Hostname               string                 `json:"hostname"`
	MACAddress             string                 `json:"mac_address"`
	AllMACAddresses        []string               `json:"all_mac_addresses"`
	IPAddresses            []string               `json:"ip_addresses"`
	UptimeSeconds          int64                  `json:"uptime_seconds"`
	AgentVersion           string                 `json:"agent_version"`
	NixOSVersion           string                 `json:"nixos_version"`
	HasLocalCredentials    bool                   `json:"has_local_credentials"`
	AgentPublicKey         string                 `json:"agent_public_key,omitempty"`
	AgentIdentityPublicKey string                 `json:"agent_identity_public_key"`
	BootSource             string                 `json:"boot_source"`
	HeartbeatSignature     string                 `json:"heartbeat_signature,omitempty"`
	HeartbeatTimestamp     int64                  `json:"heartbeat_timestamp,omitempty"`
	WGPubkey               string                 `json:"wg_pubkey,omitempty"`
	WGConnected            bool                   `json:"wg_connected"`
	WGIP                   string                 `json:"wg_ip,omitempty"`
	ConnectedAgents        []ConnectedAgent       `json:"connected_agents,omitempty"`
	DiscoveryResults       map[string]interface{} `json:"discovery_results,omitempty"`
	EncryptionPublicKey    string                 `json:"encryption_public_key"`
	DaemonHealth           map[string]interface{} `json:"daemon_health"`
	BootCounter            int64                  `json:"boot_counter"`
	GenerationUUID         string                 `json:"generation_uuid,omitempty"`
	ReconcileNeeded        bool                   `json:"reconcile_needed"`
	ReconcileSignals       []string               `json:"reconcile_signals"`
	DeployResults          []DeployResult         `json:"deploy_results,omitempty"`
	WitnessAttestations    []WitnessAttestation   `json:"witness_attestations,omitempty"`
}

// Order is one pending_orders entry (orders.md §1.1).
type Order struct {
	OrderID       string                 `json:"order_id"`
	OrderType     string                 `json:"order_type"`
	RunbookID     string                 `json:"runbook_id,omitempty"`
	Parameters    map[string]interface{} `json:"parameters"`
	Priority      int                    `json:"priority"`
	CreatedAt     string                 `json:"created_at"`
	ExpiresAt     string                 `json:"expires_at"`
	Nonce         string                 `json:"nonce"`
	Signature     string                 `json:"signature"`
	SignedPayload string                 `json:"signed_payload"`
}

// WindowsTarget is a windows_targets entry (§6.4).
type WindowsTarget struct {
	Hostname string `json:"hostname"`
	Username string `json:"username"`
	Password string `json:"password"`
	UseSSL   bool   `json:"use_ssl"`
	Role     string `json:"role"`
}

// LinuxTarget is a linux_targets entry (§6.4).
type LinuxTarget struct {
	Hostname     string `json:"hostname"`
	Port         int    `json:"port"`
	Username     string `json:"username"`
	Password     string `json:"password,omitempty"`
	SudoPassword string `json:"sudo_password,omitempty"`
	PrivateKey   string `json:"private_key,omitempty"`
	Distro       string `json:"distro,omitempty"`
	Label        string `json:"label,omitempty"`
}

// EncryptedCredentials is the NaCl envelope (orders.md §8).
type EncryptedCredentials struct {
	EphemeralPublicKey string `json:"ephemeral_public_key"`
	Nonce              string `json:"nonce"`
	Ciphertext         string `json:"ciphertext"`
}

// PendingDeploy is a pending_deploys entry (§6.4).
type PendingDeploy struct {
	DeviceID       string `json:"device_id"`
	IPAddress      string `json:"ip_address"`
	Hostname       string `json:"hostname"`
	OSType         string `json:"os_type"`
	DeployMethod   string `json:"deploy_method"`
	Username       string `json:"username"`
	Password       string `json:"password"`
	SSHKey         string `json:"ssh_key"`
	AgentBinaryURL string `json:"agent_binary_url"`
}

// PeerBundleHash is a peer_bundle_hashes entry (evidence.md §8).
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

// CheckinResponse is central-api.md §6.4.
type CheckinResponse struct {
	Status                string                `json:"status"`
	ApplianceID           *string               `json:"appliance_id"`
	ServerTime            string                `json:"server_time"`
	RotatedAPIKey         *string               `json:"rotated_api_key"`
	ServerPublicKey       *string               `json:"server_public_key"`
	ServerPublicKeys      []string              `json:"server_public_keys"`
	MergedDuplicates      int                   `json:"merged_duplicates"`
	PendingOrders         []Order               `json:"pending_orders"`
	WindowsTargets        []WindowsTarget       `json:"windows_targets"`
	LinuxTargets          []LinuxTarget         `json:"linux_targets"`
	EncryptedCredentials  *EncryptedCredentials `json:"encrypted_credentials"`
	EnabledRunbooks       []string              `json:"enabled_runbooks"`
	DisabledChecks        []string              `json:"disabled_checks"`
	MaintenanceUntil      *string               `json:"maintenance_until"`
	TriggerEnumeration    bool                  `json:"trigger_enumeration"`
	TriggerImmediateScan  bool                  `json:"trigger_immediate_scan"`
	BillingHold           bool                  `json:"billing_hold"`
	BillingStatus         string                `json:"billing_status"`
	PendingDeploys        []PendingDeploy       `json:"pending_deploys"`
	L2ConfidenceThreshold float64               `json:"l2_confidence_threshold"`
	PeerBundleHashes      []PeerBundleHash      `json:"peer_bundle_hashes"`
	MeshPeers             []MeshPeer            `json:"mesh_peers"`
	TargetAssignments     *TargetAssignments    `json:"target_assignments"`
	ClientAlertMode       string                `json:"client_alert_mode"`
	ComplianceFramework   string                `json:"compliance_framework"`
	ReconcilePlan         *ReconcilePlan        `json:"reconcile_plan"`
}

type result struct {
	Op       string  `json:"op"`
	NsPerOp  float64 `json:"ns_per_op"`
	MBPerSec float64 `json:"mb_per_s"`
	Bytes    int     `json:"bytes"`
}

func compact(path string) []byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		fail(err)
	}
	return out.Bytes()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "checkin baseline:", err)
	os.Exit(1)
}

// measure runs fn with testing.Benchmark (auto-scaled b.N) a few times and keeps the median.
func measure(op string, size int, rounds int, fn func() error) {
	if err := fn(); err != nil { // warm up and validate once
		fail(fmt.Errorf("%s: %w", op, err))
	}
	var samples []float64
	for i := 0; i < rounds; i++ {
		r := testing.Benchmark(func(b *testing.B) {
			for n := 0; n < b.N; n++ {
				if err := fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
		samples = append(samples, float64(r.T.Nanoseconds())/float64(r.N))
	}
	for i := 1; i < len(samples); i++ { // insertion sort, tiny slice
		for j := i; j > 0 && samples[j] < samples[j-1]; j-- {
			samples[j], samples[j-1] = samples[j-1], samples[j]
		}
	}
	ns := samples[len(samples)/2]
	line, _ := json.Marshal(result{
		Op: op, NsPerOp: ns, Bytes: size,
		MBPerSec: float64(size) / (ns / float64(time.Second)) / 1e6,
	})
	fmt.Println(string(line))
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: checkin <shared-dir> [-quick]"))
	}
	samples := filepath.Join(os.Args[1], "samples")
	rounds := 5
	if len(os.Args) > 2 && os.Args[2] == "-quick" {
		rounds = 1
	}

	reqBody := compact(filepath.Join(samples, "checkin_request.json"))
	var req CheckinRequest
	if err := json.Unmarshal(reqBody, &req); err != nil {
		fail(err)
	}
	encoded, _ := json.Marshal(&req)
	measure("encode_checkin_request", len(encoded), rounds, func() error {
		_, err := json.Marshal(&req)
		return err
	})

	largeReqBody := compact(filepath.Join(samples, "checkin_request_large.json"))
	var largeReq CheckinRequest
	if err := json.Unmarshal(largeReqBody, &largeReq); err != nil {
		fail(err)
	}
	encodedLarge, _ := json.Marshal(&largeReq)
	measure("encode_checkin_request_large", len(encodedLarge), rounds, func() error {
		_, err := json.Marshal(&largeReq)
		return err
	})

	for _, c := range []struct{ op, file string }{
		{"decode_checkin_response", "checkin_response.json"},
		{"decode_checkin_response_large", "checkin_response_large.json"},
	} {
		body := compact(filepath.Join(samples, c.file))
		measure(c.op, len(body), rounds, func() error {
			var resp CheckinResponse
			return json.Unmarshal(body, &resp)
		})
	}
}
