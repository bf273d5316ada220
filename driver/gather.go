package driver

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/sharding"
)

// Gather runs one unit of a merged plan and reads its whole answer
// (engine.Executor); the connection goes back to its pool at once.
func (s *conn) Gather(u *engine.Unit, cls engine.Class, maxRows int) (engine.Answer, engine.Result) {
	o := &s.cur
	ds := u.DS
	onMaster := ds.IsMaster()
	text, args := s.unitText(u)
	if s.c.rt.Snapshot().Config.Props.SQLShow {
		s.c.log.Info("sql", "session", s.uid, "dataSource", ds.Name, "class", cls.String(), "sql", engine.Redact([]byte(text)))
	}
	b, err := s.acquire(o.ctx, ds.Pool.(*pool), onMaster)
	if err != nil {
		return engine.Answer{}, s.acquireFailure(ds, err)
	}
	if err := s.savepointFor(o.ctx, b); err != nil {
		return engine.Answer{}, engine.Result{Failure: s.failed(b, onMaster, err), Err: dsErr(ds, err)}
	}
	if u.Wait != nil {
		if r, ok := s.await(o.ctx, b, u); !ok {
			return engine.Answer{}, r
		}
	}
	var a engine.Answer
	if o.kind == opQuery {
		a, err = readRows(o, b, text, args, maxRows)
	} else {
		var res driver.Result
		if res, err = execOn(o.ctx, b, text, args); err == nil {
			n, _ := res.RowsAffected()
			id, _ := res.LastInsertId()
			a.Affected, a.InsertID = uint64(n), uint64(id)
		}
	}
	if err != nil {
		if errors.Is(err, sharding.ErrTooManyRows) {
			b.broken = true // rows were left unread
			s.release(b, onMaster)
			return engine.Answer{}, engine.Result{Failure: engine.Failed, Err: err}
		}
		if s.refusedOnSlave(cls, b, onMaster, o.query, err) {
			return engine.Answer{}, engine.Result{Failure: engine.Refused, Err: dsErr(ds, err)}
		}
		f := s.failed(b, onMaster, err)
		return engine.Answer{}, engine.Result{Failure: f, Err: dsErr(ds, err)}
	}
	s.release(b, onMaster)
	a.Outcome = s.outcome(true)
	return a, engine.Result{Failure: engine.Ran}
}

// GatherMany runs units of a merged write at once, each on its own
// connection in a goroutine of its own (engine.Batcher): the connections
// are taken (branches begun) first, then every statement runs.
func (s *conn) GatherMany(us []*engine.Unit, cls engine.Class, out []engine.Answer, res []engine.Result) int {
	o := &s.cur
	if o.kind != opExec {
		// A write run as a query answers rows (RETURNING): one by one.
		for i, u := range us {
			out[i], res[i] = s.Gather(u, cls, 0)
		}
		return -1
	}
	bs := make([]*bconn, len(us))
	for i, u := range us {
		b, err := s.acquire(o.ctx, u.DS.Pool.(*pool), true)
		if err == nil {
			if err = s.savepointFor(o.ctx, b); err != nil {
				res[i] = engine.Result{Failure: s.failed(b, true, err), Err: dsErr(u.DS, err)}
			}
		} else {
			res[i] = s.acquireFailure(u.DS, err)
		}
		if err != nil {
			for _, b := range bs[:i] {
				s.release(b, true) // nothing ran
			}
			return i
		}
		bs[i] = b
	}
	results := make([]driver.Result, len(us))
	errs := make([]error, len(us))
	var wg sync.WaitGroup
	for i, u := range us {
		text, args := s.unitText(u)
		if s.c.rt.Snapshot().Config.Props.SQLShow {
			s.c.log.Info("sql", "session", s.uid, "dataSource", u.DS.Name, "class", cls.String(), "sql", engine.Redact([]byte(text)))
		}
		wg.Go(func() { results[i], errs[i] = execOn(o.ctx, bs[i], text, args) })
	}
	wg.Wait()
	for i, u := range us {
		if err := errs[i]; err != nil {
			res[i] = engine.Result{Failure: s.failed(bs[i], true, err), Err: dsErr(u.DS, err)}
			continue
		}
		n, _ := results[i].RowsAffected()
		id, _ := results[i].LastInsertId()
		s.release(bs[i], true)
		out[i] = engine.Answer{Affected: uint64(n), InsertID: uint64(id), Outcome: s.outcome(true)}
		res[i] = engine.Result{Failure: engine.Ran}
	}
	return -1
}

// execOn runs a statement that returns no rows on b.
func execOn(ctx context.Context, b *bconn, text string, args []driver.NamedValue) (driver.Result, error) {
	res, err := b.c.(driver.ExecerContext).ExecContext(ctx, text, args)
	if errors.Is(err, driver.ErrSkip) {
		var st driver.Stmt
		if st, err = b.stmt(ctx, text); err == nil {
			res, err = st.(driver.StmtExecContext).ExecContext(ctx, args)
		}
	}
	return res, err
}

// unitText is the text a unit runs and the arguments that go with it.
func (s *conn) unitText(u *engine.Unit) (string, []driver.NamedValue) {
	if u.SQL == nil {
		return s.cur.query, s.cur.args
	}
	if !u.Args {
		return string(u.SQL), nil
	}
	return string(u.SQL), s.cur.args
}

// readRows runs a query and reads all its rows as text, as the server's
// text protocol would give them.
func readRows(o *op, b *bconn, text string, args []driver.NamedValue, maxRows int) (engine.Answer, error) {
	var a engine.Answer
	r, err := startQuery(o, b, text, args)
	if err != nil {
		return a, err
	}
	defer r.Close()
	a.Cols = columnsOf(r)
	dest := make([]driver.Value, len(a.Cols))
	for {
		if err := r.Next(dest); err != nil {
			if err == io.EOF {
				return a, nil
			}
			return a, err
		}
		if maxRows > 0 && len(a.Rows) >= maxRows {
			m := sharding.Merge{MaxRows: maxRows}
			return a, m.TooMany()
		}
		row := make([][]byte, len(dest))
		for i, v := range dest {
			row[i] = textOf(v)
		}
		a.Rows = append(a.Rows, row)
	}
}

func numericType(t string) bool {
	switch t {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "DECIMAL", "FLOAT", "DOUBLE", "YEAR",
		"UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT", "UNSIGNED INT", "UNSIGNED BIGINT":
		return true
	}
	return false
}

// textOf is a value as the text protocol carries it (nil: NULL).
func textOf(v driver.Value) []byte {
	if v == nil {
		return nil
	}
	return appendText([]byte{}, v)
}

// appendText appends a non-NULL value's text form to b.
func appendText(b []byte, v driver.Value) []byte {
	switch x := v.(type) {
	case []byte:
		return append(b, x...)
	case string:
		return append(b, x...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case float32:
		return strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	case bool:
		if x {
			return append(b, '1')
		}
		return append(b, '0')
	case time.Time:
		return x.AppendFormat(b, "2006-01-02 15:04:05.999999")
	}
	return b
}

// Write keeps a merged answer for the caller (engine.Executor).
func (s *conn) Write(a *engine.Answer) {
	if a.Cols == nil {
		if a.InsertID != 0 {
			s.lastInsertID = int64(a.InsertID)
		}
		s.cur.res = result{affected: int64(a.Affected), id: int64(a.InsertID)}
		return
	}
	names := make([]string, a.Visible)
	for i := range names {
		names[i] = a.Cols[i].Name
	}
	s.cur.merged = &mergedRows{cols: names, rows: a.Rows}
}

// result is a merged write's driver.Result.
type result struct{ affected, id int64 }

func (r result) LastInsertId() (int64, error) { return r.id, nil }
func (r result) RowsAffected() (int64, error) { return r.affected, nil }

// mergedRows are the rows of a merged plan, held in memory (bounded by
// props.shardingMaxRows), values as text.
type mergedRows struct {
	cols []string
	rows [][][]byte
}

func (r *mergedRows) Columns() []string { return r.cols }
func (r *mergedRows) Close() error      { r.rows = nil; return nil }
func (r *mergedRows) Next(dest []driver.Value) error {
	if len(r.rows) == 0 {
		return io.EOF
	}
	row := r.rows[0]
	r.rows = r.rows[1:]
	for i := range dest {
		if v := row[i]; v != nil {
			dest[i] = v
		} else {
			dest[i] = nil
		}
	}
	return nil
}
