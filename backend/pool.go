package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardgate/shardgate/config"
)

// ErrPoolClosed is returned by Get after Close.
var ErrPoolClosed = errors.New("pool closed")

// Pool is a bounded pool of connections to one data source.
type Pool struct {
	Name string
	cfg  config.DataSource

	// idle connections, FIFO so all age alike, one queue per Flags value.
	idle [numFlavours]chan *Conn
	// readOnly: a slave's pool (see Conn.ReadOnly); its connections never
	// run several statements per command.
	readOnly bool
	sem      chan struct{} // one token per open connection
	// down reports a failed dial to the data source's owner (the engine's
	// health), whose monitor checks it back in over Monitor's connection.
	down func(error)
	// waits counts Gets that found the pool full and had to wait.
	waits atomic.Uint64
	// pinned counts sessions that keep one of the pool's connections for
	// good (temporary tables, user variables, locks …), see PinSession.
	pinned atomic.Int64
	// closed is set by Close; connections coming back are closed.
	closed atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// NewPool creates a pool; it connects lazily. It starts one goroutine for
// the idle sweep, stopped by Close. A readOnly pool (a slave's) opens
// read-only sessions without multi-statements. down (may be nil) is told
// of every failed dial.
func NewPool(name string, ds *config.DataSource, readOnly bool, down func(error)) *Pool {
	if down == nil {
		down = func(error) {}
	}
	p := &Pool{
		Name:     name,
		cfg:      *ds,
		readOnly: readOnly,
		down:     down,
		sem:      make(chan struct{}, ds.MaxPoolSize),
		stop:     make(chan struct{}),
	}
	for i := range p.idle {
		p.idle[i] = make(chan *Conn, ds.MaxPoolSize)
	}
	p.wg.Add(1)
	go p.maintain()
	return p
}

// MaxPinned is how many of the pool's connections sessions may keep for
// good: a quarter (at least one) stays for everybody else, so sessions
// with unreplayable state cannot starve the others; a pool of one
// connection is all one session's.
func (p *Pool) MaxPinned() int {
	return max(1, p.cfg.MaxPoolSize-max(1, p.cfg.MaxPoolSize/4))
}

// PinSession counts a session that will keep a connection for good; false
// when MaxPinned sessions already do.
func (p *Pool) PinSession() bool {
	for {
		n := p.pinned.Load()
		if n >= int64(p.MaxPinned()) {
			return false
		}
		if p.pinned.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// UnpinSession undoes PinSession when the session ends or resets.
func (p *Pool) UnpinSession() { p.pinned.Add(-1) }

// ReadOnly reports whether the pool is a slave's.
func (p *Pool) ReadOnly() bool { return p.readOnly }

// Config is the data source the pool connects to.
func (p *Pool) Config() *config.DataSource { return &p.cfg }

// DropIdle closes the idle connections (the data source was found
// unreachable: they are likely dead too).
func (p *Pool) DropIdle() { p.closeIdle() }

func (p *Pool) closeIdle() {
	for _, idle := range p.idle {
	drain:
		for {
			select {
			case c := <-idle:
				p.discard(c)
			default:
				break drain
			}
		}
	}
}

// Get returns an idle connection or opens one, waiting at most
// connectTimeout for a free slot.
func (p *Pool) Get(ctx context.Context) (*Conn, error) { return p.GetFor(ctx, 0) }

// GetFor is Get for a client with the given flags: the connection it
// returns was opened with them (a read-only pool ignores MultiStatements).
func (p *Pool) GetFor(ctx context.Context, flags Flags) (*Conn, error) {
	if p.closed.Load() {
		return nil, ErrPoolClosed
	}
	if p.readOnly {
		flags &^= MultiStatements
	}
	idle := p.idle[flags]
	for {
		select {
		case c := <-idle:
			if c.usable() {
				return c, nil
			}
			p.discard(c)
			continue
		default:
		}
		break
	}
	t := time.NewTimer(p.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case c := <-idle:
		return c, nil // just put back: hot
	case p.sem <- struct{}{}:
	default:
		// Full: trade an idle connection of another kind for a new one.
		p.waits.Add(1)
		if !p.closeOtherIdle(flags) {
			select {
			case c := <-idle:
				return c, nil
			case p.sem <- struct{}{}:
			case <-t.C:
				return nil, fmt.Errorf("%s: no free connection within %v (maxPoolSize %d)", p.Name, p.cfg.ConnectTimeout, p.cfg.MaxPoolSize)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	c, err := p.dial(ctx, flags)
	if err != nil {
		<-p.sem
		p.down(err)
		return nil, err
	}
	return c, nil
}

// closeOtherIdle closes one idle connection opened with other flags, keeping
// its slot for the caller; false when there is none.
func (p *Pool) closeOtherIdle(flags Flags) bool {
	for f, idle := range p.idle {
		if Flags(f) == flags {
			continue
		}
		select {
		case c := <-idle:
			c.Close()
			return true
		default:
		}
	}
	return false
}

func (p *Pool) dial(ctx context.Context, flags Flags) (*Conn, error) {
	c, err := dial(ctx, &p.cfg, flags, p.readOnly)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", p.Name, p.cfg.Addr, err)
	}
	c.pool = p
	return c, nil
}

// Put gives a connection back. Broken connections, and any after Close,
// are closed.
func (p *Pool) Put(c *Conn) {
	if c.Broken || p.closed.Load() {
		p.discard(c)
		return
	}
	c.lastUsed = monoNow()
	select {
	case p.idle[c.Flags] <- c:
	default: // cannot happen: idle holds at most the open count
		p.discard(c)
	}
}

func (p *Pool) discard(c *Conn) {
	c.Close()
	<-p.sem
}

// Close stops the maintenance goroutine and closes idle connections;
// connections in use are closed when they come back (drain).
func (p *Pool) Close() {
	if p.closed.Swap(true) {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.closeIdle()
}

// HasSpare reports whether another Get would not wait: an idle connection
// or room to open one.
func (p *Pool) HasSpare() bool {
	if len(p.sem) < cap(p.sem) {
		return true
	}
	for _, idle := range p.idle {
		if len(idle) > 0 {
			return true
		}
	}
	return false
}

// Stats returns the open and idle connection counts and the Gets that
// found the pool full and had to wait, since it opened.
func (p *Pool) Stats() (open, idle int, waits uint64) {
	for _, q := range p.idle {
		idle += len(q)
	}
	return len(p.sem), idle, p.waits.Load()
}

func (p *Pool) maintain() {
	defer p.wg.Done()
	tick := time.NewTicker(p.cfg.HealthCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.sweep()
	}
}

// monoEpoch anchors monoNow.
var monoEpoch = time.Now()

// monoNow reads the monotonic clock alone: one vDSO call where time.Now
// makes two (wall and monotonic), and Put reads it on every statement.
func monoNow() time.Duration { return time.Since(monoEpoch) }

// sweep closes connections idle longer than idleTimeout.
func (p *Pool) sweep() {
	cutoff := monoNow() - p.cfg.IdleTimeout
	for _, idle := range p.idle {
	sweep:
		for n := len(idle); n > 0; n-- {
			select {
			case c := <-idle:
				if c.lastUsed < cutoff {
					p.discard(c)
				} else {
					idle <- c
				}
			default:
				break sweep
			}
		}
	}
}
