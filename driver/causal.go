package driver

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"strconv"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/gtid"
)

// Causal reads (props.readYourWrites causal) in the driver. go-sql-driver
// cannot track session state, so the GTID of a commit is asked for on its
// connection right after it (one round trip on the master per commit; the
// proxy reads it from the OK packet for free).

// causal reports whether the current config asks for causal reads.
func (s *conn) causal() bool {
	return s.c.rt.Snapshot().Config.Props.ReadYourWrites == config.RYWCausal
}

// noteCommit records the GTID of the commit that just ran on master
// connection b. Without one (binary log off, or the query failed) the
// session's reads go to the master, as in mode session.
func (s *conn) noteCommit(ctx context.Context, b *bconn) {
	v, err := queryOne(ctx, b.c, "SELECT @@last_gtid")
	if err != nil {
		if errors.Is(err, driver.ErrBadConn) {
			b.broken = true
		}
		s.c.log.Warn("causal reads: could not read the commit's GTID", "session", s.uid, "dataSource", b.p.name, "err", err)
		return
	}
	if v == "" {
		return
	}
	g, err := gtid.Parse(v)
	if err != nil {
		s.c.log.Warn("causal reads: unreadable last_gtid from the master", "dataSource", b.p.name, "err", err)
		return
	}
	s.c.rt.Committed(&s.eng, b.p.name, g)
}

// await makes a causal read's slave wait until it applied u.Wait (at most
// props.causalReadTimeout). On failure b is given back and r says how:
// Behind (the read goes to the master) or a failed connection.
func (s *conn) await(ctx context.Context, b *bconn, u *engine.Unit) (r engine.Result, ok bool) {
	timeout := s.c.rt.Snapshot().Config.Props.CausalReadTimeout
	v, err := queryOne(ctx, b.c, engine.WaitSQL(u.Wait, timeout))
	switch {
	case err == nil && v == "0":
		u.DS.Health.NoteApplied(u.Wait)
		return engine.Result{}, true
	case err != nil && (errors.Is(err, driver.ErrBadConn) || !b.valid() || ctx.Err() != nil):
		f := s.failed(b, false, err)
		return engine.Result{Failure: f, Err: dsErr(u.DS, err)}, false
	}
	u.DS.Health.NoteBehind()
	s.release(b, false)
	return engine.Result{Failure: engine.Behind, Err: engine.BehindError(u.DS.Name, u.Wait, timeout, err)}, false
}

// queryOne runs q on c and returns the first column of its one row ("" for
// NULL or no row).
func queryOne(ctx context.Context, c driver.Conn, q string) (string, error) {
	qc, ok := c.(driver.QueryerContext)
	if !ok {
		return "", errors.New("the connection cannot query")
	}
	rows, err := qc.QueryContext(ctx, q, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(vals); err != nil {
		if err == io.EOF {
			return "", nil
		}
		return "", err
	}
	switch v := vals[0].(type) {
	case []byte:
		return string(v), nil
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	}
	return "", nil
}
