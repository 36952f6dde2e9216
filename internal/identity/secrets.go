package identity

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// SecretSource keeps generated secrets where every replica finds the same
// ones. The store implements it; FileSecrets is a single-machine stand-in.
type SecretSource interface {
	GetOrCreateSecret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error)
}

// Keys are the secrets behind pseudonyms and digests.
type Keys struct {
	Pseudonym []byte
	Digest    []byte
}

// LoadKeys takes each key from the config value when set, else from src
// (generated once and kept there).
func LoadKeys(ctx context.Context, pseudonymKey, digestKey string, src SecretSource) (Keys, error) {
	var k Keys
	get := func(name, configured string) ([]byte, error) {
		if configured != "" {
			return []byte(configured), nil
		}
		if src == nil {
			return nil, fmt.Errorf("identity: secrets.%s is not set and there is no store to keep a generated one", name)
		}
		b, err := src.GetOrCreateSecret(ctx, name, GenerateKey)
		if err != nil {
			return nil, fmt.Errorf("identity: secret %s: %w", name, err)
		}
		return b, nil
	}
	var err error
	if k.Pseudonym, err = get(SecretPseudonym, pseudonymKey); err != nil {
		return k, err
	}
	if k.Digest, err = get(SecretDigest, digestKey); err != nil {
		return k, err
	}
	return k, nil
}

// FileSecrets keeps each secret hex-encoded in Dir/NAME (mode 0600).
// Only for a single machine: replicas need the store's implementation.
type FileSecrets struct {
	Dir string
	mu  sync.Mutex
}

func (f *FileSecrets) GetOrCreateSecret(_ context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("bad secret name %q", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := filepath.Join(f.Dir, name)
	if b, err := os.ReadFile(p); err == nil {
		return hex.DecodeString(strings.TrimSpace(string(b)))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	v, err := gen()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return nil, err
	}
	// O_EXCL: a concurrent process that wrote first wins and we read its value.
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		return hex.DecodeString(strings.TrimSpace(string(b)))
	}
	if err != nil {
		return nil, err
	}
	if _, err := fh.WriteString(hex.EncodeToString(v) + "\n"); err != nil {
		fh.Close()
		return nil, err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return nil, err
	}
	return v, fh.Close()
}
