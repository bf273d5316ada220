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
// a test calls it to mark the data source down. Probe fails with ProbeErr
// when set.
type Pool struct {
	Name     string
	ReadOnly bool
	Down     func(error)
	ProbeErr atomic.Pointer[error]
	Closed   atomic.Bool
}

// Open is the engine.PoolFactory of Pools.
func Open(name string, _ *config.DataSource, readOnly bool, down func(error)) (engine.Pool, error) {
	return &Pool{Name: name, ReadOnly: readOnly, Down: down}, nil
}

// Probe succeeds unless ProbeErr is set.
func (p *Pool) Probe(context.Context) error {
	if e := p.ProbeErr.Load(); e != nil {
		return *e
	}
	return nil
}

// DropIdle does nothing: there are no connections.
func (p *Pool) DropIdle() {}

// Stats are all zero.
func (p *Pool) Stats() (open, idle int, waits uint64) { return 0, 0, 0 }

// Close marks the pool closed.
func (p *Pool) Close() { p.Closed.Store(true) }
