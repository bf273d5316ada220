package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardgate/shardgate/config"
)

// Pool is one data source's connection pool as the engine sees it. Each
// front end has its own (the proxy's speaks the wire protocol, the
// driver's is go-sql-driver's) and reaches it again through
// DataSource.Pool; the engine only watches over it.
type Pool interface {
	// Probe opens one connection and checks that it answers: the way a
	// data source marked down comes back. A connection it opened may join
	// the pool.
	Probe(ctx context.Context) error
	// DropIdle closes the idle connections: after a failed dial they are
	// likely dead too.
	DropIdle()
	// Stats are the open and idle connections and the gets that had to
	// wait for a free one.
	Stats() (open, idle int, waits uint64)
	// Close closes the pool; connections in use close when they come back.
	Close()
}

// PoolFactory opens the pool of a data source (readOnly: a slave's, whose
// sessions must refuse writes). The pool calls down with the error when it
// cannot connect, so that routing skips the data source until a probe
// reaches it.
type PoolFactory func(name string, ds *config.DataSource, readOnly bool, down func(error)) (Pool, error)

// Health is a data source's reachability, owned by the engine: marked
// down by the pool's failed dials (or a front end's), up again by the
// engine's probe, run every healthCheckInterval while it is down.
type Health struct {
	name string
	down atomic.Bool
	mu   sync.Mutex
	err  error
	pool Pool
}

// Healthy reports whether the data source is believed reachable.
func (h *Health) Healthy() bool { return !h.down.Load() }

// LastError is the error that marked the data source down, or the last
// failed probe's.
func (h *Health) LastError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// MarkDown marks the data source unreachable after a connection error.
func (h *Health) MarkDown(err error) {
	h.setErr(err)
	if !h.down.Swap(true) {
		slog.Warn("data source down", "dataSource", h.name, "err", err)
	}
	if h.pool != nil {
		h.pool.DropIdle()
	}
}

func (h *Health) setErr(err error) {
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
}

// member is one open pool with its health and the prober watching it.
type member struct {
	cfg      config.DataSource
	readOnly bool
	pool     Pool
	health   *Health
	stop     chan struct{}
	done     chan struct{}
}

var errNoPool = errors.New("the pool factory returned no pool")

func openMember(name string, ds *config.DataSource, readOnly bool, open PoolFactory) (*member, error) {
	h := &Health{name: name}
	p, err := open(name, ds, readOnly, h.MarkDown)
	if err == nil && p == nil {
		err = errNoPool
	}
	if err != nil {
		return nil, err
	}
	h.pool = p
	m := &member{cfg: *ds, readOnly: readOnly, pool: p, health: h, stop: make(chan struct{}), done: make(chan struct{})}
	go m.probe()
	return m, nil
}

// probe reconnects a data source marked down.
func (m *member) probe() {
	defer close(m.done)
	tick := time.NewTicker(m.cfg.HealthCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		if m.health.Healthy() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ConnectTimeout)
		err := m.pool.Probe(ctx)
		cancel()
		if err != nil {
			m.health.setErr(err)
			continue
		}
		m.health.down.Store(false)
		slog.Info("data source up", "dataSource", m.health.name)
	}
}

func (m *member) close() {
	close(m.stop)
	<-m.done
	m.pool.Close()
}
