// Command shardgate is the single binary: proxy, registry and the operator
// tools are its subcommands. Each subcommand lives in its own file and adds
// itself to rootCmd in an init function.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

var logFormat string

var rootCmd = &cobra.Command{
	Use:           "shardgate",
	Short:         "MySQL read/write-splitting middleware orchestrated through a registry center",
	SilenceUsage:  true,
	SilenceErrors: true,
	PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
		var h slog.Handler
		switch logFormat {
		case "text":
			h = slog.NewTextHandler(os.Stderr, nil)
		case "json":
			h = slog.NewJSONHandler(os.Stderr, nil)
		default:
			return fmt.Errorf("--log-format: unknown format %q (want text or json)", logFormat)
		}
		slog.SetDefault(slog.New(h))
		return nil
	},
}

func init() {
	rootCmd.PersistentFlags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "shardgate:", err)
		os.Exit(1)
	}
}
