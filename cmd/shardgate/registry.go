package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/embedded"
)

func init() {
	var dataDir, clientURL, peerURL, configFile string
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run the embedded registry center (an in-process etcd) in the foreground",
		Long: `Runs shardgate's default registry center, an etcd server embedded in the
process, with its data kept in --data-dir. etcdctl and other shardgate
instances (registry type etcd) can use it. Ctrl-C stops it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg registry.Config
			if configFile != "" {
				b, err := os.ReadFile(configFile)
				if err != nil {
					return err
				}
				var file struct {
					Registry registry.Config `yaml:"registry"`
				}
				if err := yaml.Unmarshal(b, &file); err != nil {
					return fmt.Errorf("%s: %w", configFile, err)
				}
				cfg = file.Registry
			}
			cfg.Type = registry.TypeEmbedded
			if dataDir != "" {
				cfg.Embedded.DataDir = dataDir
			}
			if clientURL != "" {
				cfg.Embedded.ClientURL = clientURL
			}
			if peerURL != "" {
				cfg.Embedded.PeerURL = peerURL
			}
			cfg = cfg.WithDefaults()
			r, err := embedded.Open(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer r.Close()
			slog.Info("embedded registry ready", "clientURL", r.ClientURL, "dataDir", cfg.Embedded.DataDir)
			fmt.Printf("embedded registry (etcd) listening on %s, data in %s\n", r.ClientURL, cfg.Embedded.DataDir)
			fmt.Printf("try: ETCDCTL_API=3 etcdctl --endpoints=%s get --prefix /\n", r.ClientURL)
			<-cmd.Context().Done()
			slog.Info("stopping embedded registry")
			return nil
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML file with a registry: section")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "data directory (default "+registry.DefaultEmbeddedDataDir+")")
	cmd.Flags().StringVar(&clientURL, "client-url", "", "client URL (default "+registry.DefaultEmbeddedClient+")")
	cmd.Flags().StringVar(&peerURL, "peer-url", "", "peer URL (default "+registry.DefaultEmbeddedPeer+")")
	rootCmd.AddCommand(cmd)
}
