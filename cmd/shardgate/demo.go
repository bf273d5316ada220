package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/demo"
)

func init() {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole product in one process: registry, three backends, a proxy and the console",
		Long: `demo needs nothing installed: it starts an embedded etcd registry, three
in-memory MySQL-compatible backends (a master and two slaves sharing their
data, so writes are visible on the slaves at once), a shardgate proxy
instance and the web console, then prints how to use them. Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := demo.Start(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer d.Close()
			bin := o.Binary
			if bin == "" {
				bin = "go run ./cmd/shardgate"
				if exe, err := os.Executable(); err == nil && !isGoRunTemp(exe) {
					bin = exe
				}
			}
			if err := d.PrintHowTo(os.Stdout, bin); err != nil {
				return err
			}
			<-cmd.Context().Done()
			slog.Info("demo stopping")
			fmt.Println("demo stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ProxyAddr, "listen", "", "proxy address (default 127.0.0.1:3307, or a free port)")
	f.StringVar(&o.RegistryAddr, "registry-addr", "", "embedded etcd client address (default 127.0.0.1:2379, or a free port)")
	f.StringVar(&o.ConsoleAddr, "console", "", "console address (default 127.0.0.1:8080, or a free port)")
	f.StringVar(&o.AdminAddr, "admin", "", "admin HTTP address (default 127.0.0.1:9307, or a free port)")
	f.StringVar(&o.Binary, "bin", "", "how to call shardgate in the printed commands")
	rootCmd.AddCommand(cmd)
}

// isGoRunTemp reports whether exe is a `go run` build in the go-build cache.
func isGoRunTemp(exe string) bool {
	return strings.Contains(exe, "/go-build")
}
