package middleware

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The chain can be read from the file listing: step n of chain.go's steps
// is NN_name.go, every other file is one of a few shared ones, NewChain
// builds one handler per step, and docs/middleware.md lists the same files
// in the same order.
func TestStepFilesReadLikeTheChain(t *testing.T) {
	var want []string
	for i, s := range steps {
		want = append(want, fmt.Sprintf("%02d_%s.go", i+1, s.name))
	}

	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	numbered := regexp.MustCompile(`^[0-9]{2}_[a-z]+\.go$`)
	shared := []string{"chain.go", "deps.go", "doc.go", "report.go", "state.go"}
	var got []string
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, "_test.go") || !strings.HasSuffix(n, ".go"):
		case numbered.MatchString(n):
			got = append(got, n)
		case !slices.Contains(shared, n):
			t.Errorf("%s is neither a numbered step nor one of %v: put a step in NN_name.go and list it in chain.go", n, shared)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("step files %v\nchain.go  %v", got, want)
	}

	c := NewChain(ChainOptions{})
	// answercheck is Forward's hook, not a handler of its own.
	if n := len(c.Every) + len(c.Pipeline); n != len(steps)-1 {
		t.Errorf("NewChain builds %d handlers for %d steps (the last is a hook)", n, len(steps))
	}

	doc, err := os.ReadFile("../docs/middleware.md")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range regexp.MustCompile("`([0-9]{2}_[a-z]+\\.go)`").FindAllStringSubmatch(string(doc), -1) {
		if !slices.Contains(listed, m[1]) {
			listed = append(listed, m[1])
		}
	}
	if !slices.Equal(listed, want) {
		t.Errorf("docs/middleware.md lists %v\nchain.go             %v", listed, want)
	}
}
