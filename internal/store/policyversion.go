package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// PolicyVersion is one policy bundle version as a gateway loaded it: the
// policy engine's hash and the bundle's files, byte for byte (Rego, JSON
// and binary files such as aup/model.bin alike). Evidence bundles read it
// back for every version an exported report cites.
//
// Versions are never purged: not by retention sweeps, not by erasure.
// They hold no personal data, and a report kept under any retention
// period must still find the policy that decided it (docs/evidence.md).
type PolicyVersion struct {
	Hash     string            `json:"hash"`
	Files    map[string][]byte `json:"files"`     // slash-separated paths relative to the policy directory
	StoredAt time.Time         `json:"stored_at"` // when the first replica stored it
}

// MaxPolicyHash bounds a policy version's hash.
const MaxPolicyHash = 128

// CheckPolicyVersion validates the arguments of PutPolicyVersion.
func CheckPolicyVersion(hash string, files map[string][]byte) error {
	if hash == "" || len(hash) > MaxPolicyHash {
		return fmt.Errorf("%w: policy hash must be 1 to %d bytes", ErrInvalid, MaxPolicyHash)
	}
	for p := range files {
		if p == "" {
			return fmt.Errorf("%w: policy %s: a file with an empty path", ErrInvalid, hash)
		}
	}
	return nil
}

// EncodePolicyVersion is how both stores keep a version: one JSON value
// (file contents base64), written once.
func EncodePolicyVersion(v PolicyVersion) ([]byte, error) {
	if v.Files == nil {
		v.Files = map[string][]byte{}
	}
	v.StoredAt = v.StoredAt.UTC()
	return json.Marshal(v)
}

// DecodePolicyVersion reads what EncodePolicyVersion wrote.
func DecodePolicyVersion(b []byte) (PolicyVersion, error) {
	var v PolicyVersion
	if err := json.Unmarshal(b, &v); err != nil {
		return PolicyVersion{}, fmt.Errorf("store: policy version: %w", err)
	}
	if v.Files == nil {
		v.Files = map[string][]byte{}
	}
	return v, nil
}
