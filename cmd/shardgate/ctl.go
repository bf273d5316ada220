package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/ctl"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/connect"
)

// registryFlags select an orchestration's registry for ctl and console.
type registryFlags struct {
	configFile, regType, servers, namespace, name, credential, dataDir string
}

func (f *registryFlags) add(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.configFile, "config", "", "instance config file whose orchestration section names the registry")
	pf.StringVar(&f.regType, "registry", "", "registry type: etcd, zookeeper or embedded (an embedded registry is reached at its client URL)")
	pf.StringVar(&f.servers, "servers", "", "registry servers, comma-separated host:port")
	pf.StringVar(&f.namespace, "namespace", "", "registry namespace (ZooKeeper deployments use one)")
	pf.StringVar(&f.name, "name", "", "orchestration name (default "+orchestration.DefaultName+")")
	pf.StringVar(&f.credential, "credential", "", "file holding the registry's user:password (default for --registry embedded: the one beside its --data-dir)")
	pf.StringVar(&f.dataDir, "data-dir", "", "the embedded registry's data directory, whose credential file is read (default "+registry.DefaultEmbeddedDataDir+")")
}

// open connects to the registry as a client rooted at the orchestration.
func (f *registryFlags) open(ctx context.Context) (registry.Registry, string, error) {
	oc := orchestration.Config{Name: orchestration.DefaultName}
	if f.configFile != "" {
		file, err := orchestration.LoadFile(f.configFile)
		if err != nil {
			return nil, "", err
		}
		oc = file.Orchestration
	}
	if f.regType != "" {
		oc.Registry.Type = f.regType
	}
	if f.servers != "" {
		oc.Registry.ServerLists = strings.Split(f.servers, ",")
	}
	if f.namespace != "" {
		oc.Registry.Namespace = f.namespace
	}
	if f.name != "" {
		oc.Name = f.name
	}
	if f.credential != "" {
		oc.Registry.CredentialFile = f.credential
	}
	if f.dataDir != "" {
		oc.Registry.Embedded.DataDir = f.dataDir
	}
	rc := oc.Registry.WithDefaults()
	if rc.Type == registry.TypeEmbedded {
		// A tool is a client: it must not start a registry of its own. It
		// logs in with the root credential the registry wrote on this host.
		rc.Type = registry.TypeEtcd
		if len(rc.ServerLists) == 0 {
			rc.ServerLists = []string{strings.TrimPrefix(strings.TrimPrefix(rc.Embedded.ClientURL, "http://"), "https://")}
		}
		if rc.CredentialFile == "" && rc.Username == "" {
			rc.CredentialFile = rc.Embedded.CredentialPath()
		}
	}
	rc.Namespace = orchestration.Root(rc.Namespace, oc.Name)
	reg, err := connect.Open(ctx, rc)
	if err != nil {
		return nil, "", fmt.Errorf("registry %s %v: %w", rc.Type, rc.ServerLists, err)
	}
	return reg, rc.Namespace, nil
}

func init() {
	var (
		rf     registryFlags
		output string
	)
	root := &cobra.Command{
		Use:   "ctl",
		Short: "Operate running instances through the registry: list, disable/enable, show and apply config",
		Long: `ctl reads and writes the same registry nodes operators drive with zkCli.sh
or etcdctl. Point it at a registry with --config (an instance's config file:
its orchestration section is used) or with --registry/--servers/--namespace/--name.`,
	}
	rf.add(root)
	root.PersistentFlags().StringVarP(&output, "output", "o", "table", "output: table or json")

	// with opens the registry and runs fn with a Ctl.
	with := func(cmd *cobra.Command, fn func(context.Context, *ctl.Ctl) error) error {
		if output != "table" && output != "json" {
			return fmt.Errorf("--output: want table or json, got %q", output)
		}
		reg, root, err := rf.open(cmd.Context())
		if err != nil {
			return err
		}
		defer reg.Close()
		return fn(cmd.Context(), &ctl.Ctl{Reg: reg, Root: root, Out: os.Stdout, In: os.Stdin, JSON: output == "json"})
	}
	run := func(fn func(context.Context, *ctl.Ctl, []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			return with(cmd, func(ctx context.Context, c *ctl.Ctl) error { return fn(ctx, c, args) })
		}
	}

	root.AddCommand(&cobra.Command{
		Use: "instances", Short: "List running instances", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, c *ctl.Ctl, _ []string) error { return c.PrintInstances(ctx) }),
	})
	root.AddCommand(&cobra.Command{
		Use: "datasources", Short: "List data sources with role and state", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, c *ctl.Ctl, _ []string) error { return c.PrintDataSources(ctx) }),
	})
	root.AddCommand(&cobra.Command{
		Use: "preview SQL", Short: "Show the data nodes and the SQL a statement would run as, with the registry's sharding rule (nothing runs)", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, c *ctl.Ctl, args []string) error { return c.PrintPreview(ctx, args[0]) }),
	})
	root.AddCommand(&cobra.Command{
		Use: "health", Short: "List what each instance's health monitor sees of each data source (status, lag, errors)", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, c *ctl.Ctl, _ []string) error { return c.PrintHealth(ctx) }),
	})
	for _, disable := range []bool{true, false} {
		verb := "enable"
		if disable {
			verb = "disable"
		}
		cmd := &cobra.Command{Use: verb, Short: verb + " an instance or a data source"}
		cmd.AddCommand(&cobra.Command{
			Use: "instance ID", Short: verb + " an instance (circuit breaker)", Args: cobra.ExactArgs(1),
			RunE: run(func(ctx context.Context, c *ctl.Ctl, a []string) error { return c.SetInstance(ctx, a[0], disable) }),
		})
		cmd.AddCommand(&cobra.Command{
			Use: "datasource NAME", Short: verb + " a data source (reads leave a disabled slave)", Args: cobra.ExactArgs(1),
			RunE: run(func(ctx context.Context, c *ctl.Ctl, a []string) error { return c.SetDataSource(ctx, a[0], disable) }),
		})
		root.AddCommand(cmd)
	}
	cfgCmd := &cobra.Command{Use: "config", Short: "Show or apply the configuration in the registry"}
	cfgCmd.AddCommand(&cobra.Command{
		Use: "show", Short: "Print the config nodes", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, c *ctl.Ctl, _ []string) error { return c.ConfigShow(ctx) }),
	})
	var yes bool
	apply := &cobra.Command{
		Use: "apply FILE", Short: "Validate FILE's config, show the diff, and write it to the registry", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, c *ctl.Ctl, a []string) error { return c.ConfigApply(ctx, a[0], yes) }),
	}
	apply.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cfgCmd.AddCommand(apply)
	root.AddCommand(cfgCmd)
	rootCmd.AddCommand(root)
}
