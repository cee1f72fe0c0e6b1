package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/stablering/stablering/cmd/internal/version"
)

// commands are the constructors of the subcommands ("stablering --help" lists them by name).
// Add a subcommand by writing its constructor in a file of its own and listing it here.
var commands = []func(*cli) *cobra.Command{
	newStatusCommand,
	newLookupCommand,
	newMovesCommand,
	newPauseCommand,
	newResumeCommand,
	newRestartCommand,
	newConvertCommand,
	newLoadgenCommand,
	newVersionCommand,
}

// cli is what the subcommands share: the cluster flags and the clock.
type cli struct {
	// kube holds kubectl's connection flags (--kubeconfig, --context, -n/--namespace, ...).
	kube *genericclioptions.ConfigFlags
	// now is the current time; tests may fix it.
	now func() time.Time
}

// usageError is an error in how a command was called: exit code 2 and a pointer to --help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usageErrorf formats a usageError.
func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// run runs the command line args as "stablering" and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runAs("stablering", args, stdout, stderr)
}

// runAs runs the command line args under the name name ("stablering" or
// "kubectl stablering") and returns the exit code: 0 success, 1 failure, 2 bad usage.
func runAs(name string, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(name, &cli{kube: newConfigFlags(), now: time.Now})
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	if errors.As(err, new(usageError)) {
		fmt.Fprintf(stderr, "usage: %s (see '%s --help')\n", cmd.UseLine(), cmd.CommandPath())
		return 2
	}
	return 1
}

// usageTemplate is the usage of every command; help prints the command's Long text first.
const usageTemplate = `usage: {{.UseLine}}{{if .HasAvailableSubCommands}}

Commands:{{range .Commands}}{{if .IsAvailableCommand}}
  {{rpad .Name .NamePadding}} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Cluster flags (as kubectl's):
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Run '{{.CommandPath}} <command> --help' for a command's flags.{{end}}
`

// newRootCommand returns the stablering command with its subcommands, calling itself name.
func newRootCommand(name string, c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "stablering <command>",
		Short: "StableRing's command-line tool",
		Long: `StableRing's command-line tool: the state of a ring and its rollout, where room keys go and would
go, and the rollout controls. As kubectl-stablering on the PATH it is the kubectl plugin
"kubectl stablering".`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: name},
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("no command given")
			}
			return usageErrorf("unknown command %q", args[0])
		},
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
		Version:           version.String("stablering"),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate("{{with .Long}}{{.}}\n\n{{end}}{{.UsageString}}")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	c.kube.AddFlags(root.PersistentFlags())
	for _, newCommand := range commands {
		root.AddCommand(newCommand(c))
	}
	return root
}

// noArgs accepts no positional arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected arguments %q", args)
	}
	return nil
}

// oneRing accepts exactly one positional argument, a ring.
func oneRing(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErrorf("want one ring, NAME or NAMESPACE/NAME (got %d arguments)", len(args))
	}
	return nil
}

// addOutputFlag defines -o/--output with the allowed formats, the first being the default.
func addOutputFlag(fs *pflag.FlagSet, output *string, formats ...string) {
	fs.StringVarP(output, "output", "o", formats[0], "output `format`: "+joinOr(formats))
}

// checkOutput checks an -o value against formats.
func checkOutput(output string, formats ...string) error {
	for _, f := range formats {
		if output == f {
			return nil
		}
	}
	return usageErrorf("-o must be %s (got %q)", joinOr(formats), output)
}

// joinOr joins words as "a, b or c".
func joinOr(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	out := words[0]
	for _, w := range words[1 : len(words)-1] {
		out += ", " + w
	}
	return out + " or " + words[len(words)-1]
}
