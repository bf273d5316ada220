package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/console"
)

func init() {
	var (
		rf     registryFlags
		listen string
	)
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console: live state of instances and data sources, enable/disable, config view",
		Long: `The console has no login of its own: it listens on loopback by default.
Put it behind your own authentication before exposing it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			reg, root, err := rf.open(ctx)
			if err != nil {
				return err
			}
			defer reg.Close()
			c, err := console.New(reg, root)
			if err != nil {
				return err
			}
			defer c.Close()
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				srv.Shutdown(sctx)
			}()
			slog.Info("console serving", "url", "http://"+l.Addr().String()+"/", "root", root)
			fmt.Printf("shardgate console: http://%s/ (orchestration %s)\n", l.Addr(), root)
			if err := srv.Serve(l); err != http.ErrServerClosed {
				return err
			}
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve the console on")
	rootCmd.AddCommand(cmd)
}
