package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/proxy"
)

func init() {
	var configFile string
	cmd := &cobra.Command{
		Use:   "proxy --config FILE",
		Short: "Serve the MySQL protocol, splitting reads and writes over a master and its slaves",
		Long: `Serve the MySQL protocol on the config's listen address and route each
statement: writes, transactions and locking reads to the master, plain reads
to a slave chosen by masterSlaveRule.loadBalanceAlgorithmType.

SIGHUP reloads the config file; an invalid file is rejected and logged, and
the running config stays.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configFile == "" {
				return fmt.Errorf("--config is required")
			}
			cfg, err := config.Load(configFile)
			if err != nil {
				return err
			}
			rt, err := engine.NewRuntime(cfg)
			if err != nil {
				return err
			}
			defer rt.Close()
			srv, err := proxy.New(rt)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return err
			}
			slog.Info("proxy listening", "addr", ln.Addr().String(), "master", cfg.MasterSlaveRule.MasterDataSourceName,
				"slaves", cfg.MasterSlaveRule.SlaveDataSourceNames)

			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			ctx := cmd.Context()
			go func() {
				for {
					select {
					case <-ctx.Done():
						srv.Close()
						return
					case <-hup:
						next, err := config.Load(configFile)
						if err == nil {
							err = rt.Apply(next)
						}
						if err != nil {
							slog.Error("config reload rejected; keeping the running config", "err", err)
						} else {
							slog.Info("config reloaded", "file", configFile)
						}
					}
				}
			}()
			return srv.Serve(ln)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "proxy config file (YAML); see examples/")
	rootCmd.AddCommand(cmd)
}
