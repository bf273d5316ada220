// Package bootstrap starts what every shardgate instance is made of, the
// proxy's and the embedded driver's alike, in the order that keeps the
// promises made to clients: registry client, orchestration (the
// registry's config, or the file's), engine runtime with the registry's
// state in force before the first statement; then, once the front end
// serves, the instance's registration. Close undoes it in reverse.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/health"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/connect"
)

// Core is a started instance without its front end.
type Core struct {
	// RegistryConfig is the registry client's config, its namespace the
	// orchestration root.
	RegistryConfig registry.Config
	Registry       registry.Registry
	Orchestrator   *orchestration.Orchestrator
	Runtime        *engine.Runtime
	// Health publishes the health monitor's reports under state/health.
	Health *orchestration.HealthPublisher
	// Workers claims the SNOWFLAKE worker id of the runtime's key
	// generator (once a key is asked for).
	Workers *orchestration.WorkerClaim
	// Config is the config in force at start.
	Config *config.Config
}

// RegistryConfig is the registry client config of f's orchestration (the
// defaults applied, the orchestration root as namespace).
func RegistryConfig(f *orchestration.File) registry.Config {
	oc := f.Orchestration
	rc := oc.Registry.WithDefaults()
	rc.Namespace = orchestration.Root(rc.Namespace, name(f))
	return rc
}

func name(f *orchestration.File) string {
	if f.Orchestration.Name == "" {
		return orchestration.DefaultName
	}
	return f.Orchestration.Name
}

// Start connects to the registry, reads the config and state there and
// opens the engine runtime with open's pools, following the registry from
// then on. Nothing is registered yet: see Register. On error everything
// opened is closed again.
func Start(ctx context.Context, f *orchestration.File, open engine.PoolFactory) (*Core, error) {
	ff := *f
	ff.Orchestration.Name = name(f)
	c := &Core{RegistryConfig: RegistryConfig(&ff)}
	reg, err := connect.Open(ctx, c.RegistryConfig)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", c.RegistryConfig.Type, err)
	}
	c.Registry = reg
	fail := func(err error) (*Core, error) {
		c.Close(nil)
		return nil, err
	}
	o, cfg, err := orchestration.New(ctx, reg, &ff)
	if err != nil {
		return fail(err)
	}
	c.Orchestrator, c.Config = o, cfg
	if c.Runtime, err = engine.NewRuntime(cfg, open); err != nil {
		return fail(err)
	}
	if err := o.Start(ctx, c.Runtime); err != nil {
		return fail(err)
	}
	c.Workers = orchestration.ClaimWorker(reg, o.ID(), c.Runtime.Keys())
	rt := c.Runtime
	c.Health = orchestration.PublishHealth(reg, o.ID(), time.Second, func() map[string]health.Report {
		snap := rt.Snapshot()
		out := make(map[string]health.Report, len(snap.ByName))
		for name, ds := range snap.ByName {
			out[name] = ds.Health.Report()
		}
		return out
	})
	return c, nil
}

// ID is the instance id, {ip}@-@{pid}.
func (c *Core) ID() string { return c.Orchestrator.ID() }

// Register publishes the instance's metadata and creates its ephemeral
// node: call it once the front end serves. The registry client re-creates
// both after a session loss; Close deletes them.
func (c *Core) Register(ctx context.Context, meta *orchestration.InstanceMeta) error {
	return c.Orchestrator.Register(ctx, meta)
}

// Close stops following the registry and deletes the instance's nodes,
// then runs stop (the front end stops serving, the runtime still in place
// for statements finishing), then releases the worker id and closes the
// pools and the registry client. stop may be nil. Errors of every step are joined.
func (c *Core) Close(stop func() error) error {
	var errs []error
	if c.Health != nil {
		errs = append(errs, c.Health.Close())
	}
	if c.Orchestrator != nil {
		errs = append(errs, c.Orchestrator.Close())
	}
	if stop != nil {
		errs = append(errs, stop())
	}
	if c.Workers != nil {
		// After the front end stopped: no statement asks for a key any more.
		errs = append(errs, c.Workers.Close())
	}
	if c.Runtime != nil {
		c.Runtime.Close()
	}
	if c.Registry != nil {
		errs = append(errs, c.Registry.Close())
	}
	return errors.Join(errs...)
}
