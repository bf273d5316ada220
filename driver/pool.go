package driver

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
)

// maxBackendStmts bounds the prepared statements kept per backend
// connection (the server's max_prepared_stmt_count is global).
const maxBackendStmts = 128

// livenessAfter: a connection idle longer than this is checked for a dead
// socket before use (cheap, but a syscall the hot path skips).
const livenessAfter = time.Second

var errPoolClosed = errors.New("pool closed")

// pool is one data source's bounded pool of go-sql-driver connections.
type pool struct {
	name     string
	ds       config.DataSource
	mc       driver.Connector
	readOnly bool
	// down reports a failed dial to the engine's health of the data source.
	down func(error)

	idle   chan *bconn   // FIFO, so that all connections age alike
	sem    chan struct{} // one token per open connection
	closed atomic.Bool
}

// bconn is one backend connection.
type bconn struct {
	c     driver.Conn
	p     *pool
	stmts map[string]driver.Stmt
	// applied is how many of its owner session's replay statements this
	// connection has run; owner is that session (0: none, clean).
	applied int
	owner   uint64
	// broken connections are closed on release.
	broken    bool
	idleSince time.Time
}

// newPool builds the go-sql-driver connector of a data source. Parameters
// of a mysql:// URL (after '?') are go-sql-driver DSN parameters, e.g.
// mysql://127.0.0.1:3306/app?parseTime=true&loc=UTC.
//
// A readOnly pool (a slave's) never runs several statements per command and
// opens read-only sessions (tx_read_only = 1), so a write that reaches a
// slave fails there instead of changing it.
func newPool(name string, ds *config.DataSource, readOnly bool, down func(error)) (*pool, error) {
	cfg := mysql.NewConfig()
	if q, ok := strings.CutPrefix(ds.URL, "mysql://"); ok {
		if _, params, ok := strings.Cut(q, "?"); ok {
			var err error
			dsn := "tcp(" + ds.Addr + ")/?" + params
			if cfg, err = mysql.ParseDSN(dsn); err != nil {
				return nil, fmt.Errorf("url parameters: %w", err)
			}
		}
	}
	cfg.Net, cfg.Addr = "tcp", ds.Addr
	pw, err := ds.Secret()
	if err != nil {
		return nil, err
	}
	cfg.User, cfg.Passwd, cfg.DBName = ds.Username, pw, ds.Database
	tlsCfg, err := ds.ClientTLS(ds.Addr)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		cfg.TLS, cfg.TLSConfig = tlsCfg, ""
		cfg.AllowFallbackToPlaintext = ds.TLSMode() == config.TLSPreferred
	}
	key, err := ds.PublicKey()
	if err != nil {
		return nil, err
	}
	if key != nil {
		// go-sql-driver takes the key by a registered name.
		cfg.ServerPubKey = "shardgate/" + name + "/" + ds.ServerPublicKey
		mysql.RegisterServerPubKey(cfg.ServerPubKey, key)
	}
	// Without a key go-sql-driver asks the server for it whatever
	// allowPublicKeyRetrieval says (docs/security.md).
	if cfg.Timeout == 0 {
		cfg.Timeout = ds.ConnectTimeout
	}
	if readOnly {
		cfg.MultiStatements = false
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["tx_read_only"] = "1"
	}
	mc, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return &pool{
		name:     name,
		ds:       *ds,
		mc:       mc,
		readOnly: readOnly,
		down:     down,
		idle:     make(chan *bconn, ds.MaxPoolSize),
		sem:      make(chan struct{}, ds.MaxPoolSize),
	}, nil
}

// get returns an idle connection or opens one, waiting at most
// connectTimeout (and ctx) for a free slot. A dial error is returned as a
// *dialError.
func (p *pool) get(ctx context.Context) (*bconn, error) {
	for {
		if p.closed.Load() {
			return nil, errPoolClosed
		}
		select {
		case b := <-p.idle:
			if b = p.check(ctx, b); b != nil {
				return b, nil
			}
			continue
		default:
		}
		break
	}
	t := time.NewTimer(p.ds.ConnectTimeout)
	defer t.Stop()
	for {
		select {
		case b := <-p.idle:
			if b = p.check(ctx, b); b != nil {
				return b, nil
			}
			continue
		case p.sem <- struct{}{}:
		case <-t.C:
			return nil, fmt.Errorf("no free connection within %v (maxPoolSize %d)", p.ds.ConnectTimeout, p.ds.MaxPoolSize)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		break
	}
	b, err := p.dial(ctx)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return b, nil
}

// dial opens a connection in a slot the caller holds. An unreachable
// server is a *dialError, reported down.
func (p *pool) dial(ctx context.Context) (*bconn, error) {
	c, err := p.mc.Connect(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			return nil, err // the server answered: reachable
		}
		p.down(err)
		return nil, &dialError{err: err}
	}
	return &bconn{c: c, p: p}, nil
}

// Monitor opens the health monitor's connection (engine.Pool), outside
// the pool's bound.
func (p *pool) Monitor(ctx context.Context) (engine.MonitorConn, error) {
	if p.closed.Load() {
		return nil, errPoolClosed
	}
	c, err := p.mc.Connect(ctx)
	if err != nil {
		return nil, err
	}
	q, ok := c.(driver.QueryerContext)
	if !ok {
		c.Close()
		return nil, errors.New("the MySQL driver's connection cannot run queries")
	}
	return &monitorConn{c: c, q: q}, nil
}

type monitorConn struct {
	c driver.Conn
	q driver.QueryerContext
}

func (m *monitorConn) Query(ctx context.Context, sql string) ([]string, [][]*string, error) {
	rows, err := m.q.QueryContext(ctx, sql, nil)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols := rows.Columns()
	var out [][]*string
	dest := make([]driver.Value, len(cols))
	for {
		if err := rows.Next(dest); err != nil {
			if errors.Is(err, io.EOF) {
				return cols, out, nil
			}
			return nil, nil, err
		}
		row := make([]*string, len(dest))
		for i, v := range dest {
			switch x := v.(type) {
			case nil:
			case []byte:
				s := string(x)
				row[i] = &s
			default:
				s := fmt.Sprint(x)
				row[i] = &s
			}
		}
		out = append(out, row)
	}
}

func (m *monitorConn) Close() error { return m.c.Close() }

// DropIdle closes the idle connections (engine.Pool).
func (p *pool) DropIdle() { p.drain() }

// Stats are the open and idle connections (engine.Pool); the driver's
// pool does not count waits.
func (p *pool) Stats() (open, idle int, waits uint64) { return len(p.sem), len(p.idle), 0 }

// Close closes the idle connections; those in use close when they come
// back (engine.Pool).
func (p *pool) Close() { p.close() }

// check returns b if it is still usable, else closes it and returns nil.
func (p *pool) check(ctx context.Context, b *bconn) *bconn {
	idle := time.Since(b.idleSince)
	if idle > p.ds.IdleTimeout {
		p.discard(b)
		return nil
	}
	if idle > livenessAfter {
		if r, ok := b.c.(driver.SessionResetter); ok && r.ResetSession(ctx) != nil {
			p.discard(b)
			return nil
		}
	}
	return b
}

// put gives b back; broken, session-bound or late connections are closed.
func (p *pool) put(b *bconn) {
	if b.broken || b.owner != 0 || p.closed.Load() {
		p.discard(b)
		return
	}
	if v, ok := b.c.(driver.Validator); ok && !v.IsValid() {
		p.discard(b)
		return
	}
	b.idleSince = time.Now()
	select {
	case p.idle <- b:
	default:
		p.discard(b)
	}
	if p.closed.Load() {
		p.drain()
	}
}

func (p *pool) discard(b *bconn) {
	b.closeStmts()
	b.c.Close()
	<-p.sem
}

// close closes the idle connections; those in use close when they come
// back.
func (p *pool) close() {
	p.closed.Store(true)
	p.drain()
}

func (p *pool) drain() {
	for {
		select {
		case b := <-p.idle:
			p.discard(b)
		default:
			return
		}
	}
}

// stmt returns the connection's prepared statement for query, preparing it
// on first use.
func (b *bconn) stmt(ctx context.Context, query string) (driver.Stmt, error) {
	if st := b.stmts[query]; st != nil {
		return st, nil
	}
	if len(b.stmts) >= maxBackendStmts {
		b.closeStmts()
	}
	st, err := b.c.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if b.stmts == nil {
		b.stmts = make(map[string]driver.Stmt)
	}
	b.stmts[query] = st
	return st, nil
}

func (b *bconn) closeStmts() {
	for q, st := range b.stmts {
		st.Close()
		delete(b.stmts, q)
	}
}

// valid reports whether the connection survived its last command (a
// cancelled context or a network error closes it inside go-sql-driver).
func (b *bconn) valid() bool {
	if b.broken {
		return false
	}
	if v, ok := b.c.(driver.Validator); ok && !v.IsValid() {
		b.broken = true
		return false
	}
	return true
}

// dialError is a failure to connect to a data source: a read may try
// another.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// openPool is the driver's engine.PoolFactory.
func openPool(name string, ds *config.DataSource, readOnly bool, down func(error)) (engine.Pool, error) {
	return newPool(name, ds, readOnly, down)
}
