package baseline

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"os"
)

// Ed25519Item is one signature to verify.
type Ed25519Item struct {
	PK, Sig, Msg []byte
}

// LoadEd25519Items reads the items file the Python side writes: 32-byte public key, 64-byte
// signature, 4-byte little-endian message length, message; repeated.
func LoadEd25519Items(path string) ([]Ed25519Item, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var items []Ed25519Item
	for len(data) > 0 {
		if len(data) < 100 {
			return nil, errors.New("truncated item")
		}
		n := int(binary.LittleEndian.Uint32(data[96:100]))
		if len(data) < 100+n {
			return nil, errors.New("truncated message")
		}
		items = append(items, Ed25519Item{PK: data[:32], Sig: data[32:96], Msg: data[100 : 100+n]})
		data = data[100+n:]
	}
	return items, nil
}

// VerifyEd25519 is the daemon's only way: crypto/ed25519.Verify, one signature at a time.
func VerifyEd25519(it Ed25519Item) bool {
	return ed25519.Verify(ed25519.PublicKey(it.PK), it.Msg, it.Sig)
}
