// Command stablering is StableRing's command-line tool.
//
// Usage:
//
//	stablering <command> [flags] [arguments]
//
// Run "stablering --help" for the commands and "stablering <command> --help" for a command's
// flags. Exit codes: 0 success, 1 failure, 2 bad usage.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/stablering/stablering/cmd/internal/version"
)

// command is a subcommand. run gets the arguments after the command's name and returns the exit
// code.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands, in the order "stablering --help" shows them. Add a subcommand
// by adding an entry.
var commands = []command{
	{name: "lookup", summary: "print the ordinal that owns each room key", run: runLookup},
	{name: "loadgen", summary: "drive WebSocket load at a room service and measure reconnects and room splits", run: runLoadgen},
	{name: "version", summary: "print the version", run: runVersion},
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, version.String("stablering"))
	return 0
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches args to a subcommand and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "stablering: no command given")
		printUsage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printUsage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "stablering: unknown command %q\n", args[0])
	printUsage(stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "usage: stablering <command> [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'stablering <command> --help' for a command's flags.\n")
}
