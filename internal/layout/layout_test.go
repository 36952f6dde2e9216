package layout

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// root is the module's root, two levels up from this package.
const root = "../.."

// commands lists the directories under cmd/.
func commands(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no commands under cmd/")
	}
	return names
}

// patterns reads an ignore file's patterns, comments and blanks left out.
func patterns(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// No build output can be committed or sent to docker build: the binary
// `go build ./cmd/NAME` leaves at the root, test binaries and profiles.
func TestBuildOutputsIgnored(t *testing.T) {
	for _, file := range []string{".gitignore", ".dockerignore"} {
		ps := patterns(t, file)
		for _, cmd := range commands(t) {
			if !slices.Contains(ps, "/"+cmd) && !slices.Contains(ps, cmd) {
				t.Errorf("%s does not ignore the binary of cmd/%s (add /%s)", file, cmd, cmd)
			}
		}
		for _, p := range []string{"*.test", "*.out", "*.prof", "*.pprof"} {
			if !slices.Contains(ps, p) {
				t.Errorf("%s does not ignore %s", file, p)
			}
		}
	}
}

// maxCmdLines bounds a file of cmd/: commands parse flags and wire; the
// gateway itself is assembled in internal/gateway.
const maxCmdLines = 300

func TestCmdFilesShort(t *testing.T) {
	err := filepath.WalkDir(filepath.Join(root, "cmd"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := bytes.Count(b, []byte("\n")); n > maxCmdLines {
			rel, _ := filepath.Rel(root, path)
			t.Errorf("%s has %d lines (at most %d): move what is not flag parsing or wiring into internal/", rel, n, maxCmdLines)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
