package main

import (
	"context"
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
		fmt.Fprintln(stderr, "usage: aupguard policy test [DIR]\n\n  test  run the Rego unit tests (*_test.rego) of DIR, default the bundled policies;\n        exits 1 when a test fails")
	}
	if len(args) == 0 || args[0] != "test" {
		usage()
		return 2
	}
	fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
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
