package desktest

import (
	"errors"
	"strings"
	"testing"
)

func TestFindChromium(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	none := func(string) (string, error) { return "", errors.New("not found") }
	onPath := func(n string) (string, error) {
		if n == "chromium-browser" {
			return "/opt/bin/chromium-browser", nil
		}
		return "", errors.New("not found")
	}
	nothing := func(string) bool { return false }
	everything := func(string) bool { return true }

	cases := []struct {
		name   string
		env    map[string]string
		look   func(string) (string, error)
		exists func(string) bool
		want   string
		err    string
	}{
		{"env wins", map[string]string{"AUPGUARD_CHROMIUM": "/x/chrome"}, onPath, everything, "/x/chrome", ""},
		{"env names a missing file", map[string]string{"AUPGUARD_CHROMIUM": "/x/chrome"}, onPath, nothing, "", "apt-get install -y chromium"},
		{"on PATH", nil, onPath, nothing, "/opt/bin/chromium-browser", ""},
		{"Debian's path", nil, none, everything, "/usr/bin/chromium", ""},
		// Missing is an error that says how to install it, never a skip.
		{"missing", nil, none, nothing, "", "apt-get install -y chromium"},
	}
	for _, c := range cases {
		got, err := find(env(c.env), c.look, c.exists)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %q, %v", c.name, got, err)
		}
	}
}
