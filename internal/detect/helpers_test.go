package detect

import (
	"os"
	"sync"
	"testing"
)

var (
	bundledOnce sync.Once
	bundledDet  *Detector
	bundledErr  error
)

// bundled compiles the shipped lexicon once per test binary.
func bundled(t testing.TB) *Detector {
	t.Helper()
	bundledOnce.Do(func() {
		data, err := os.ReadFile("../../policies/aup/lexicon.json")
		if err != nil {
			bundledErr = err
			return
		}
		bundledDet, bundledErr = Compile(data)
	})
	if bundledErr != nil {
		t.Fatal(bundledErr)
	}
	return bundledDet
}

func mustLexicon(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("../../policies/aup/lexicon.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}
