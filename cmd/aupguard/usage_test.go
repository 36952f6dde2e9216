package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for aupguard: with
// AUPGUARD_TEST_MAIN=1 it runs main() on its arguments, so the usage tests
// go through the real dispatch, os.Stdout and os.Stderr.
func TestMain(m *testing.M) {
	if os.Getenv("AUPGUARD_TEST_MAIN") == "1" {
		os.Args = append([]string{"aupguard"}, os.Args[1:]...)
		main()
		os.Exit(0) // main exits itself; a command that returns means 0
	}
	os.Exit(m.Run())
}

// aupguardCmd runs the binary (this test binary, see TestMain) with args
// and extra environment, and returns its exit code, stdout and stderr.
func aupguardCmd(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), append([]string{"AUPGUARD_TEST_MAIN=1"}, env...)...)
	cmd.Stdin = strings.NewReader("")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// Every command's --help exits 0 and describes its flags; arguments a
// command does not take are a usage error (2), before anything runs.
func TestUsageHelp(t *testing.T) {
	// A token in the environment must never show in help (it would if it
	// were a flag's default).
	env := []string{"AUPGUARD_TOKEN=secret-token-in-env", "AUPGUARD_CONFIG="}
	for _, tc := range []struct {
		args []string
		want []string // in the help text
	}{
		{[]string{"serve", "--help"}, []string{"usage: aupguard serve", "-config FILE", "YAML config"}},
		{[]string{"serve", "-h"}, []string{"usage: aupguard serve"}},
		{[]string{"check", "--help"}, []string{"usage: aupguard check", "-jsonl", "-policies", "-endpoint", "Exit status"}},
		{[]string{"policy", "--help"}, []string{"usage: aupguard policy test [DIR]"}},
		{[]string{"policy", "test", "--help"}, []string{"usage: aupguard policy test [DIR]"}},
		{[]string{"demo", "--help"}, []string{"usage: aupguard demo", "-listen", "-admin-listen", "-data", "never talks to OpenRouter"}},
		{[]string{"version", "--help"}, []string{"usage: aupguard version"}},
		{[]string{"export", "--help"}, []string{"-out", "-since", "-token"}},
		{[]string{"verify", "--help"}, []string{"-pubkey"}},
		{[]string{"desk", "--help"}, []string{"desk queue", "desk erase", "SUB --help"}},
		{[]string{"desk", "queue", "--help"}, []string{"usage: aupguard desk queue", "-category", "only users with reports in this category", "-admin-url", "-token"}},
		{[]string{"desk", "show", "--help"}, []string{"usage: aupguard desk show USER", "-app", "-json"}},
		{[]string{"desk", "act", "--help"}, []string{"usage: aupguard desk act USER", "-action", "-for", "-reason", "-report"}},
		{[]string{"desk", "holds", "--help"}, []string{"usage: aupguard desk holds", "-json"}},
		{[]string{"desk", "hold", "--help"}, []string{"usage: aupguard desk hold ", "-user", "-category", "-reason"}},
		{[]string{"desk", "release", "--help"}, []string{"usage: aupguard desk release", "-report"}},
		{[]string{"desk", "subject-export", "--help"}, []string{"usage: aupguard desk subject-export USER", "-out", "-pubkey", "-force"}},
		{[]string{"desk", "erase", "--help"}, []string{"usage: aupguard desk erase USER", "-reason"}},
		{[]string{"report", "--help"}, []string{"report transparency", "report providers", "--format json|csv|html"}},
		{[]string{"report", "transparency", "--help"}, []string{"-since", "-until", "-app", "-format", "-token"}},
		{[]string{"--help"}, []string{"commands:", "serve", "demo", "COMMAND --help"}},
	} {
		code, stdout, stderr := aupguardCmd(t, env, tc.args...)
		help := stdout + stderr
		if code != 0 {
			t.Errorf("%v: exit %d\n%s", tc.args, code, help)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(help, w) {
				t.Errorf("%v: help lacks %q:\n%s", tc.args, w, help)
			}
		}
		if strings.Contains(help, "secret-token-in-env") {
			t.Errorf("%v: help shows the token from AUPGUARD_TOKEN:\n%s", tc.args, help)
		}
	}
}

func TestUsageUnexpectedArgs(t *testing.T) {
	// Nothing here may reach a network or a store: each fails at parsing.
	env := []string{"AUPGUARD_TOKEN=t", "AUPGUARD_ADMIN_URL=http://127.0.0.1:1", "AUPGUARD_CONFIG="}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "extra-arg"}, `unexpected argument "extra-arg"`},
		{[]string{"serve", "--config", "x.yaml", "extra-arg"}, `unexpected argument "extra-arg"`},
		{[]string{"serve", "--nope"}, "not defined"},
		{[]string{"check", "extra-arg"}, "usage: aupguard check"},
		{[]string{"demo", "extra-arg"}, `unexpected argument "extra-arg"`},
		{[]string{"version", "extra-arg"}, `unexpected argument "extra-arg"`},
		{[]string{"policy", "test", "a", "b"}, `unexpected argument "b"`},
		{[]string{"policy", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"policy"}, "usage: aupguard policy test"},
		{[]string{"export", "--out", "x.tar.gz", "extra-arg"}, `unexpected argument "extra-arg"`},
		{[]string{"desk", "queue", "extra-arg"}, "takes no arguments"},
		{[]string{"desk", "holds", "extra-arg"}, "takes no arguments"},
		{[]string{"desk", "hold", "extra-arg", "--category", "c", "--reason", "r"}, "takes no arguments"},
		{[]string{"desk", "show"}, "takes one USER"},
		{[]string{"desk", "show", "a", "b"}, "takes one USER"},
		{[]string{"desk", "act", "a", "b", "--action", "ban", "--reason", "r"}, "takes one USER"},
		{[]string{"desk", "erase", "a", "b", "--reason", "r"}, "takes one USER"},
		{[]string{"nope"}, `unknown command "nope"`},
	} {
		code, stdout, stderr := aupguardCmd(t, env, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q\nstdout %s\nstderr %s", tc.args, code, tc.want, stdout, stderr)
		}
	}
}
