package backend

import (
	"context"
	"time"

	"github.com/shardgate/shardgate/engine"
)

// monitorConn is the health monitor's connection to a data source
// (engine.MonitorConn): dialled like the pool's, outside its bound.
type monitorConn struct{ c *Conn }

// Monitor implements engine.Pool.
func (p *Pool) Monitor(ctx context.Context) (engine.MonitorConn, error) {
	if p.closed.Load() {
		return nil, ErrPoolClosed
	}
	c, err := dial(ctx, &p.cfg, 0, p.readOnly)
	if err != nil {
		return nil, err
	}
	return &monitorConn{c: c}, nil
}

func (m *monitorConn) Query(ctx context.Context, sql string) ([]string, [][]*string, error) {
	if d, ok := ctx.Deadline(); ok {
		m.c.NC.SetDeadline(d)
		defer m.c.NC.SetDeadline(time.Time{})
	}
	return m.c.QueryNull(sql)
}

func (m *monitorConn) Close() error { return m.c.Close() }
