// Command aupguard is the gateway and its tools. Each subcommand lives in its
// own file and registers itself; this file only dispatches.
package main

import (
	"fmt"
	"os"
	"sort"
)

// command is one subcommand: run gets the arguments after its name and
// returns the process exit code.
type command struct {
	usage string
	run   func(args []string) int
}

var commands = map[string]command{}

func register(name, usage string, run func(args []string) int) {
	commands[name] = command{usage: usage, run: run}
}

func main() {
	if len(os.Args) < 2 {
		printUsage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		if os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
			printUsage()
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "aupguard: unknown command %q\n\n", os.Args[1])
		printUsage()
		os.Exit(2)
	}
	os.Exit(cmd.run(os.Args[2:]))
}

func printUsage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: aupguard COMMAND [ARGS]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, commands[n].usage)
	}
	fmt.Fprintln(os.Stderr, "\n\"aupguard COMMAND --help\" describes a command and its flags (docs/cli.md).")
}
