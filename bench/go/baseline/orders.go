package baseline

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// OrderVerifier holds the server's current and previous Ed25519 keys behind a read-write lock,
// as the daemon's verifier does (go-baseline.md §2: one order at a time, current key, then the
// previous one).
type OrderVerifier struct {
	mu      sync.RWMutex
	cur     ed25519.PublicKey
	curHex  string
	prev    ed25519.PublicKey
	prevHex string
}

// NewOrderVerifier decodes the hex keys; previous may be empty.
func NewOrderVerifier(currentHex, previousHex string) (*OrderVerifier, error) {
	v := &OrderVerifier{}
	cur, err := hex.DecodeString(currentHex)
	if err != nil || len(cur) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("bad current key %q", currentHex)
	}
	v.cur, v.curHex = cur, currentHex
	if previousHex != "" && previousHex != currentHex {
		if prev, err := hex.DecodeString(previousHex); err == nil && len(prev) == ed25519.PublicKeySize {
			v.prev, v.prevHex = prev, previousHex
		}
	}
	return v, nil
}

func (v *OrderVerifier) hasKey() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.cur != nil
}

func fingerprint(h string) string {
	if h == "" {
		return "-"
	}
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// VerifyOrder checks a hex signature over the signed payload string: decode the hex (with the
// daemon's base64 diagnostic on failure), check the size, try the current key, then the previous
// one; a failure carries the key fingerprints and a SHA-256 prefix of the payload.
func (v *OrderVerifier) VerifyOrder(signedPayload, signatureHex string) error {
	v.mu.RLock()
	cur, prev, curHex, prevHex := v.cur, v.prev, v.curHex, v.prevHex
	v.mu.RUnlock()
	if cur == nil {
		return errors.New("no server public key configured")
	}
	sig, err := hex.DecodeString(signatureHex)
	if err != nil {
		if raw, e := base64.StdEncoding.DecodeString(signatureHex); e == nil && len(raw) == ed25519.SignatureSize {
			return fmt.Errorf("signature is base64, not hex (%d chars)", len(signatureHex))
		}
		return fmt.Errorf("decode signature (%d chars): %w", len(signatureHex), err)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	if ed25519.Verify(cur, []byte(signedPayload), sig) {
		return nil
	}
	if prev != nil && ed25519.Verify(prev, []byte(signedPayload), sig) {
		return nil
	}
	sum := sha256.Sum256([]byte(signedPayload))
	keys := 1
	if prev != nil {
		keys = 2
	}
	return fmt.Errorf("signature verification failed (keys %d, cur %s, prev %s, len %d, sha %s)",
		keys, fingerprint(curHex), fingerprint(prevHex), len(signedPayload), hex.EncodeToString(sum[:])[:16])
}

// Order is the daemon's order record, built from one pending_orders map.
type Order struct {
	OrderID       string
	OrderType     string
	Parameters    map[string]interface{}
	Nonce         string
	Signature     string
	SignedPayload string
}

func str(m map[string]interface{}, k string) string {
	s, _ := m[k].(string)
	return s
}

// OrderFromMap is the daemon's conversion of a decoded order map into its order record
// (parameters as a map with _order_id and runbook_id injected).
func OrderFromMap(raw map[string]interface{}) Order {
	id := str(raw, "order_id")
	params, _ := raw["parameters"].(map[string]interface{})
	if params == nil {
		params = map[string]interface{}{}
	}
	params["_order_id"] = id
	if rb := str(raw, "runbook_id"); rb != "" {
		params["runbook_id"] = rb
	}
	return Order{id, str(raw, "order_type"), params, str(raw, "nonce"), str(raw, "signature"),
		str(raw, "signed_payload")}
}

// OrderSteps are the daemon's per-order checks before an order runs, minus the nonce file
// write: signed fields present, the envelope key looked up in the signed payload (a JSON decode
// into a map), VerifyOrder, the host scope (a second decode), the expiry (a third decode and an
// RFC 3339 parse).
type OrderSteps struct {
	Verifier    *OrderVerifier
	ApplianceID string
	Now         time.Time
}

// Check runs the steps on one order.
func (s *OrderSteps) Check(o *Order) error {
	if !s.Verifier.hasKey() {
		return errors.New("no server public key")
	}
	if o.Signature == "" || o.SignedPayload == "" {
		return fmt.Errorf("unsigned order %s", o.OrderID)
	}
	envelopeKey := ""
	var env map[string]interface{}
	if json.Unmarshal([]byte(o.SignedPayload), &env) == nil {
		envelopeKey, _ = env["signing_pubkey_hex"].(string)
	}
	if err := s.Verifier.VerifyOrder(o.SignedPayload, o.Signature); err != nil {
		_ = envelopeKey // the envelope-key fallback only runs after a failure
		return err
	}
	if s.ApplianceID != "" {
		var payload map[string]interface{}
		if err := json.Unmarshal([]byte(o.SignedPayload), &payload); err != nil {
			return fmt.Errorf("parse signed payload: %w", err)
		}
		if t, ok := payload["target_appliance_id"].(string); ok && t != "" && t != s.ApplianceID {
			return fmt.Errorf("order targets %q, not %q", t, s.ApplianceID)
		}
	}
	var payload map[string]interface{}
	if json.Unmarshal([]byte(o.SignedPayload), &payload) == nil {
		if exp, ok := payload["expires_at"].(string); ok {
			if at, err := time.Parse(time.RFC3339, exp); err == nil && s.Now.After(at) {
				return fmt.Errorf("order %s expired at %s", o.OrderID, exp)
			}
		}
	}
	return nil
}
