// Package enginetest has an engine.PoolFactory for tests of packages that
// route or watch a runtime but never reach a backend.
package enginetest

import (
	"context"
	"sync/atomic"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
)

// Pool is a pool that opens nothing. Down is the engine's report function;
// a test calls it to mark the data source down. The health monitor's
// connection fails with MonitorErr when set; otherwise it answers as a
// healthy server that replicates from nothing.
type Pool struct {
	Name       string
	ReadOnly   bool
	Down       func(error)
	MonitorErr atomic.Pointer[error]
	Closed     atomic.Bool
}

// Open is the engine.PoolFactory of Pools.
func Open(name string, _ *config.DataSource, readOnly bool, down func(error)) (engine.Pool, error) {
	return &Pool{Name: name, ReadOnly: readOnly, Down: down}, nil
}

// Monitor opens a connection that answers the health checks, unless
// MonitorErr is set.
func (p *Pool) Monitor(context.Context) (engine.MonitorConn, error) {
	if e := p.MonitorErr.Load(); e != nil {
		return nil, *e
	}
	return monitorConn{p}, nil
}

type monitorConn struct{ p *Pool }

func (m monitorConn) Query(_ context.Context, sql string) ([]string, [][]*string, error) {
	if e := m.p.MonitorErr.Load(); e != nil {
		return nil, nil, *e
	}
	// SHOW SLAVE STATUS: no rows (no replica); variables: none set.
	return nil, nil, nil
}

func (monitorConn) Close() error { return nil }

// DropIdle does nothing: there are no connections.
func (p *Pool) DropIdle() {}

// Stats are all zero.
func (p *Pool) Stats() (open, idle int, waits uint64) { return 0, 0, 0 }

// Close marks the pool closed.
func (p *Pool) Close() { p.Closed.Store(true) }
