package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/console"
)

func init() {
	var (
		rf     registryFlags
		listen string
		hosts  []string
	)
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console: live state of instances and data sources, enable/disable, config view",
		Long: `The console serves only a browser logged in with its token: the URL it prints
(with ?token=…) logs in; the login page takes the token too; scripts send
"Authorization: Bearer <token>". The token is $SHARDGATE_CONSOLE_TOKEN, or a
random one printed at start. It answers only requests naming localhost,
127.0.0.1, ::1 or an --allow-host (DNS rebinding), and refuses cross-origin
POSTs. It listens on loopback by default.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			reg, root, err := rf.open(ctx)
			if err != nil {
				return err
			}
			defer reg.Close()
			c, err := console.New(reg, root, console.Options{Token: os.Getenv("SHARDGATE_CONSOLE_TOKEN"), Hosts: hosts})
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
			fmt.Printf("shardgate console: http://%s/?token=%s (orchestration %s)\n", l.Addr(), c.Token(), root)
			if err := srv.Serve(l); err != http.ErrServerClosed {
				return err
			}
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve the console on")
	cmd.Flags().StringSliceVar(&hosts, "allow-host", nil, "host names the console answers to besides localhost and loopback addresses")
	rootCmd.AddCommand(cmd)
}
