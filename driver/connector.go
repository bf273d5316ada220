package driver

import (
	"context"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/internal/bootstrap"
	"github.com/shardgate/shardgate/internal/version"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
)

// StartTimeout bounds how long NewConnector waits for the registry.
const StartTimeout = 30 * time.Second

// live holds the orchestrations this process has a connector on.
var live = liveSet{m: map[string]bool{}}

type liveSet struct {
	sync.Mutex
	m map[string]bool
}

func (l *liveSet) release(key string) {
	l.Lock()
	delete(l.m, key)
	l.Unlock()
}

// Connector is one shardgate instance inside the application. It is safe
// for concurrent use; database/sql calls Close from sql.DB.Close.
type Connector struct {
	core *bootstrap.Core
	rt   *engine.Runtime
	key  string // in live
	log  *slog.Logger

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var (
	_ driver.Connector           = (*Connector)(nil)
	_ interface{ Close() error } = (*Connector)(nil)
)

// NewConnector starts an instance from f, in the proxy's order
// (internal/bootstrap): registry client, orchestration (the registry's
// config, or f's with overwrite), routing runtime with the registry's
// state in force, then registration of state/instances/{ip}@-@{pid}. Use
// it with sql.OpenDB; sql.DB.Close calls Close.
func NewConnector(f *orchestration.File) (*Connector, error) {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	return NewConnectorContext(ctx, f)
}

// NewConnectorContext is NewConnector with a context bounding the start.
func NewConnectorContext(ctx context.Context, f *orchestration.File) (*Connector, error) {
	rcfg := bootstrap.RegistryConfig(f)
	// One process is one instance ({ip}@-@{pid}): a second connector on
	// the same orchestration would share, and at Close delete, the first
	// one's node.
	key := rcfg.Type + " " + strings.Join(rcfg.ServerLists, ",") + " " + rcfg.Namespace
	if rcfg.Type == registry.TypeEmbedded {
		key = rcfg.Type + " " + rcfg.Namespace
	}
	live.Lock()
	if live.m[key] {
		live.Unlock()
		return nil, fmt.Errorf("shardgate: this process already has a connector on orchestration %s (%s registry): one process is one instance; share the *sql.DB", rcfg.Namespace, rcfg.Type)
	}
	live.m[key] = true
	live.Unlock()
	core, err := bootstrap.Start(ctx, f, openPool)
	if err != nil {
		live.release(key)
		return nil, fmt.Errorf("shardgate: %w", err)
	}
	c := &Connector{core: core, rt: core.Runtime, key: key, log: slog.Default().With("component", "shardgate-driver")}
	meta := &orchestration.InstanceMeta{Version: version.Version(), StartedAt: time.Now().UTC()}
	if err := core.Register(ctx, meta); err != nil {
		c.Close()
		return nil, fmt.Errorf("shardgate: %w", err)
	}
	c.log.Info("shardgate driver instance registered", "instance", c.ID(), "registry", rcfg.Type, "root", rcfg.Namespace,
		"master", core.Config.MasterSlaveRule.MasterDataSourceName, "slaves", core.Config.MasterSlaveRule.SlaveDataSourceNames)
	return c, nil
}

// ID is the instance id, {ip}@-@{pid}.
func (c *Connector) ID() string { return c.core.ID() }

// Status is the instance's orchestration status: circuit breaker,
// disabled data sources, config version and any rejected config.
func (c *Connector) Status() orchestration.Status { return c.core.Orchestrator.Status() }

// Snapshot is the routing snapshot in force.
func (c *Connector) Snapshot() *engine.Snapshot { return c.rt.Snapshot() }

// Connect returns a new session. It touches no backend: the first
// statement (or Ping) takes a backend connection.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return newConn(c), nil
}

// Driver returns the shardgate driver.
func (c *Connector) Driver() driver.Driver { return &Driver{} }

// Close stops the instance in the reverse order of its start: the
// orchestration stops following the registry, the instance node is
// deleted, the pools are closed, then the registry client. sql.DB.Close
// calls it after closing its connections. It may be called more than once.
func (c *Connector) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Connector) close() error {
	c.closed.Store(true)
	err := c.core.Close(nil)
	live.release(c.key)
	if err == nil {
		c.log.Info("shardgate driver instance closed", "instance", c.ID())
	}
	return err
}
