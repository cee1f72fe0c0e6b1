package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stablering/stablering/cmd/internal/version"
)

func newVersionCommand(*cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.String("stablering"))
			return err
		},
	}
}
