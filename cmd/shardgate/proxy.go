package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/instance"
	"github.com/shardgate/shardgate/orchestration"
)

func init() {
	var configFile, cpuProfile string
	cmd := &cobra.Command{
		Use:   "proxy --config FILE",
		Short: "Serve the MySQL protocol, splitting reads and writes over a master and its slaves",
		Long: `Serve the MySQL protocol on the config's listen address and route each
statement: writes, transactions and locking reads to the master, plain reads
to a slave chosen by masterSlaveRule.loadBalanceAlgorithmType.

The instance is orchestrated through the registry center of the file's
orchestration section (an embedded etcd when there is none): it registers
state/instances/{ip}@-@{pid}, obeys DISABLED in that node (circuit breaker)
and in state/datasources/{name}, and applies config/ changes live.

With overwrite: true, or when the registry holds no config yet, the file's
dataSources, masterSlaveRule, props and users are written to the registry;
otherwise the registry's config wins and the file may hold only the
orchestration section (plus listen and tls).

SIGHUP publishes the file's config to the registry (validated first), so
that every instance applies it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configFile == "" {
				return fmt.Errorf("--config is required")
			}
			f, err := orchestration.LoadFile(configFile)
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			ctx := cmd.Context()
			// Before the start: a SIGHUP that arrives once the instance is
			// registered (a tool may send it at once) must not find the
			// default action, which ends the process.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			in, err := instance.Start(ctx, f)
			if err != nil {
				return err
			}
			go func() {
				for {
					select {
					case <-ctx.Done():
						in.Close()
						return
					case <-hup:
						next, err := orchestration.LoadFile(configFile)
						if err == nil && !next.HasShared() {
							err = fmt.Errorf("%s has no dataSources to publish", configFile)
						}
						if err == nil {
							err = in.Orchestrator.Publish(ctx, &next.Config)
						}
						if err != nil {
							slog.Error("config reload rejected; keeping the running config", "file", configFile, "err", err)
						} else {
							slog.Info("config file published to the registry", "file", configFile)
						}
					}
				}
			}()
			err = in.Wait()
			in.Close()
			return err
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "instance config file (YAML); see examples/")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the whole run to this file (for bench/sysbench.sh PROFILE=1)")
	rootCmd.AddCommand(cmd)
}

// startCPUProfile profiles until the returned stop runs (the proxy's exit on
// SIGTERM/SIGINT), so a benchmark can look at the statement path under load.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			slog.Error("writing the CPU profile", "file", path, "err", err)
		}
	}, nil
}
