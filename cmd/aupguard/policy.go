package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aupguard/aupguard/internal/policy"
)

func init() {
	register("policy", "policy tools: `policy test [DIR]` runs the Rego unit tests (default: bundled policies)", runPolicy)
}

func runPolicy(args []string) int { return policyMain(args, os.Stdout, os.Stderr) }

func policyMain(args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "usage: aupguard policy test [DIR]\n\n  test  run the Rego unit tests (*_test.rego) of DIR, default the bundled policies;\n        prints PASS/FAIL/SKIP per test; exits 0 when all pass, 1 when a test\n        fails or the policies do not load, 2 on a usage error\n\nNo flags.")
	}
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help") {
		usage()
		return 0
	}
	if len(args) == 0 || args[0] != "test" {
		if len(args) > 0 {
			fmt.Fprintf(stderr, "aupguard policy: unknown subcommand %q\n\n", args[0])
		}
		usage()
		return 2
	}
	fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "aupguard policy test: unexpected argument %q\n\n", fs.Arg(1))
		usage()
		return 2
	}
	dir := fs.Arg(0)
	res, err := policy.RunTests(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(stderr, "aupguard policy test:", err)
		return 1
	}
	pass, fail, skip := 0, 0, 0
	for _, r := range res {
		name := r.Package + "." + r.Name
		switch {
		case r.Skip:
			skip++
			fmt.Fprintf(stdout, "SKIP %s (%s)\n", name, r.Location)
		case r.Pass:
			pass++
			fmt.Fprintf(stdout, "PASS %s (%s)\n", name, r.Location)
		default:
			fail++
			fmt.Fprintf(stdout, "FAIL %s (%s)", name, r.Location)
			if r.Err != "" {
				fmt.Fprintf(stdout, ": %s", r.Err)
			}
			fmt.Fprintln(stdout)
		}
	}
	where := dir
	if where == "" {
		where = "bundled policies"
	}
	fmt.Fprintf(stdout, "%s: %d passed, %d failed, %d skipped\n", where, pass, fail, skip)
	if fail > 0 {
		return 1
	}
	return 0
}
