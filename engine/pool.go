package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/gtid"
)

// Pool is one data source's connection pool as the engine sees it. Each
// front end has its own (the proxy's speaks the wire protocol, the
// driver's is go-sql-driver's) and reaches it again through
// DataSource.Pool; the engine only watches over it.
type Pool interface {
	// Monitor opens a connection for the health monitor, outside the
	// pool's bound (see MonitorConn).
	Monitor(ctx context.Context) (MonitorConn, error)
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
// cannot connect, so that routing skips the data source until the health
// monitor has seen it answer again.
type PoolFactory func(name string, ds *config.DataSource, readOnly bool, down func(error)) (Pool, error)

// Health is a data source's fitness to serve, owned by the engine: the
// health monitor checks it every healthCheckInterval (out after
// props.healthFailures failed checks in a row, back after
// props.healthSuccesses good ones; a slave lagging beyond
// props.maxReplicationLag out until below half of it), and a failed
// connect of a statement takes it out at once.
type Health struct {
	name string
	// level is the routing level: up, degraded (answers, replication
	// stopped or behind), down (does not answer).
	level atomic.Int32
	mu    sync.Mutex
	err   error
	pool  Pool
	// checked is the level the checks settled on; fails and succ count
	// consecutive checks worse and better than it; lagging: out for lag.
	checked     int32
	fails, succ int
	lagging     bool
	since       time.Time
	transitions uint64
	last        Check
	// outs are when it last left the read set; held: kept out for flapping.
	outs []time.Time
	held bool
	// applied is the replication position the data source is known to
	// have applied (causal reads): the monitor's gtid_slave_pos, raised
	// by the waits that succeeded there since. Immutable once stored.
	applied atomic.Pointer[gtid.Pos]
	// behind is when a causal read last waited here in vain (unix ns):
	// for behindHold after, reads that need a wait go to other slaves.
	behind atomic.Int64
}

// behindHold is how long a slave that made a causal read wait in vain is
// passed over by the reads that would wait there.
const behindHold = time.Second

// NoteBehind records that a causal read's wait here timed out.
func (h *Health) NoteBehind() { h.behind.Store(time.Now().UnixNano()) }

// wasBehind reports whether a wait here timed out within behindHold of now.
func (h *Health) wasBehind(now time.Time) bool {
	b := h.behind.Load()
	return b != 0 && now.UnixNano()-b < int64(behindHold)
}

// Applied reports whether the data source is known to have applied every
// GTID of p.
func (h *Health) Applied(p gtid.Pos) bool {
	a := h.applied.Load()
	return a != nil && a.CoversAll(p)
}

// NoteApplied records that the data source has applied p (a wait for it
// returned).
func (h *Health) NoteApplied(p gtid.Pos) {
	for {
		old := h.applied.Load()
		var m gtid.Pos
		if old != nil {
			if old.CoversAll(p) {
				return
			}
			m = old.Merge(p)
		} else {
			m = append(m, p...)
		}
		if h.applied.CompareAndSwap(old, &m) {
			return
		}
	}
}

// setApplied replaces the known position with what a check read (the
// server's own word, also when it went back: a replica reset).
func (h *Health) setApplied(s string) {
	p, err := gtid.ParsePos(s)
	if err != nil || len(p) == 0 {
		h.applied.Store(nil)
		return
	}
	h.applied.Store(&p)
}

// Healthy reports whether the data source is in the read set.
func (h *Health) Healthy() bool { return h.level.Load() == levelUp }

// Reachable reports whether the data source answers (perhaps with stale
// data: replication stopped or behind).
func (h *Health) Reachable() bool { return h.level.Load() < levelDown }

// LastError is the error that took the data source out, or the last
// failed check's.
func (h *Health) LastError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// MarkDown takes the data source out at once after a connection error of
// a statement; the monitor brings it back.
func (h *Health) MarkDown(err error) {
	h.mu.Lock()
	h.err = err
	h.succ, h.fails = 0, 0
	was := h.checked
	h.checked = levelDown
	h.publishLocked()
	h.mu.Unlock()
	if was != levelDown {
		slog.Warn("data source down", "dataSource", h.name, "err", err)
	}
	if h.pool != nil {
		h.pool.DropIdle()
	}
}

// member is one open pool with its health and the monitor watching it.
type member struct {
	cfg      config.DataSource
	readOnly bool
	pool     Pool
	health   *Health
	damp     atomic.Pointer[Damping]
	stop     chan struct{}
	done     chan struct{}
}

var errNoPool = errors.New("the pool factory returned no pool")

func openMember(name string, ds *config.DataSource, readOnly bool, open PoolFactory, d Damping) (*member, error) {
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
	m.damp.Store(&d)
	go m.monitor()
	return m, nil
}

func (m *member) close() {
	close(m.stop)
	<-m.done
	m.pool.Close()
}
