package driver

import (
	"database/sql/driver"
	"errors"
	"io"
	"strings"

	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/sharding"
)

// source is one unit of a streamed merge: its connection, its rows and
// the current row (vals as the backend driver gave them, text for the
// comparison).
type source struct {
	b        *bconn
	onMaster bool
	r        driver.Rows
	vals     []driver.Value
	text     [][]byte
	done     bool
}

// Stream runs a merged read whose rows merge one at a time
// (engine.Streamer): every unit's query runs at once, each on its own
// connection, and the caller's rows take the smallest current row of
// every unit under ORDER BY (else unit after unit) as it reads, holding
// one row per unit whatever the row count. Inside a transaction the units
// share connections, so they are gathered instead.
func (s *conn) Stream(plan *engine.Plan, cls engine.Class) (int, engine.Result, bool) {
	o := &s.cur
	if o.kind != opQuery || s.tx != nil || s.eng.NeedsMasterConn() {
		return 0, engine.Result{}, false
	}
	srcs := make([]source, 0, len(plan.Units))
	abort := func() {
		for i := range srcs {
			srcs[i].r.Close()
			s.release(srcs[i].b, srcs[i].onMaster)
		}
	}
	var cols []sharding.Column
	for i := range plan.Units {
		u := &plan.Units[i]
		ds := u.DS
		onMaster := ds.IsMaster()
		text, args := s.unitText(u)
		if s.c.rt.Snapshot().Config.Props.SQLShow {
			s.c.log.Info("sql", "session", s.uid, "dataSource", ds.Name, "class", cls.String(), "sql", engine.Redact([]byte(text)))
		}
		b, err := s.acquire(o.ctx, ds.Pool.(*pool), onMaster)
		if err != nil {
			abort()
			return i, s.acquireFailure(ds, err), true
		}
		if u.Wait != nil {
			if r, ok := s.await(o.ctx, b, u); !ok {
				abort()
				return i, r, true
			}
		}
		r, err := startQuery(o, b, text, args)
		if err != nil {
			abort()
			if s.refusedOnSlave(cls, b, onMaster, o.query, err) {
				return i, engine.Result{Failure: engine.Refused, Err: dsErr(ds, err)}, true
			}
			return i, engine.Result{Failure: s.failed(b, onMaster, err), Err: dsErr(ds, err)}, true
		}
		c := columnsOf(r)
		if i == 0 {
			cols = c
		} else if len(c) != len(cols) {
			r.Close()
			s.release(b, onMaster)
			abort()
			return i, engine.Result{Failure: engine.Failed, Err: &engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000",
				Message: "shardgate: data nodes answered with different columns; their tables differ"}}, true
		}
		srcs = append(srcs, source{b: b, onMaster: onMaster, r: r, vals: make([]driver.Value, len(c)), text: make([][]byte, len(c))})
	}
	m := plan.Merge
	ss := make([]sharding.Source, len(srcs))
	for i := range srcs {
		ss[i] = &srcs[i]
	}
	// Stream reads every unit's first row (every row, for groups the
	// nodes cannot order as the merge does): a failure is the statement's.
	merged, err := m.Stream(cols, ss)
	if err != nil {
		abort()
		return 0, engine.Result{Failure: engine.Failed, Err: mergeErr(err)}, true
	}
	st := &streamRows{s: s, srcs: srcs, merged: merged}
	st.cols = make([]string, m.Visible(len(cols)))
	for i := range st.cols {
		st.cols[i] = cols[i].Name
	}
	o.merged = st
	return 0, engine.Result{Failure: engine.Ran, Outcome: s.outcome(true)}, true
}

// startQuery runs a unit's query on b and returns its open rows.
func startQuery(o *op, b *bconn, text string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := b.c.(driver.QueryerContext).QueryContext(o.ctx, text, args)
	if errors.Is(err, driver.ErrSkip) {
		var st driver.Stmt
		if st, err = b.stmt(o.ctx, text); err == nil {
			r, err = st.(driver.StmtQueryContext).QueryContext(o.ctx, args)
		}
	}
	return r, err
}

// columnsOf is what a merge needs of each column of r.
func columnsOf(r driver.Rows) []sharding.Column {
	names := r.Columns()
	cols := make([]sharding.Column, len(names))
	typed, _ := r.(driver.RowsColumnTypeDatabaseTypeName)
	for i, n := range names {
		cols[i].Name = n
		if typed != nil {
			t := typed.ColumnTypeDatabaseTypeName(i)
			cols[i].Numeric = numericType(t)
			cols[i].Binary = strings.Contains(t, "BINARY") || strings.Contains(t, "BLOB") || strings.Contains(t, "DATE") || strings.Contains(t, "TIME")
			cols[i].Exact = cols[i].Numeric || cols[i].Binary
			cols[i].Enum = t == "ENUM" || t == "SET"
		}
	}
	return cols
}

// streamRows are a streamed merge's rows: each Next takes the next row of
// the merge from the units' open rows.
type streamRows struct {
	s      *conn
	srcs   []source
	cols   []string
	merged *sharding.Streamed
	err    error
	closed bool
}

func (r *streamRows) Columns() []string { return r.cols }

// Next reads src's next row (sharding.Source): the backend driver's
// values, and their text for the merge.
func (src *source) Next() ([][]byte, bool, error) {
	if src.done {
		return nil, false, nil
	}
	err := src.r.Next(src.vals)
	if err == io.EOF {
		src.done = true
		return nil, false, nil
	}
	if err != nil {
		src.done = true
		return nil, false, err
	}
	for i, v := range src.vals {
		if v == nil {
			src.text[i] = nil
			continue
		}
		buf := src.text[i][:0]
		if buf == nil {
			buf = []byte{} // not NULL: an empty value
		}
		src.text[i] = appendText(buf, v)
	}
	return src.text, true, nil
}

func (r *streamRows) Next(dest []driver.Value) error {
	if r.err != nil {
		return r.err
	}
	row, from, err := r.merged.Next()
	switch {
	case err != nil:
		err = mergeErr(err)
		r.err = err
		return err
	case row == nil:
		r.err = io.EOF
		return io.EOF
	case from >= 0:
		// A node's row unchanged: its values as its driver gave them.
		copy(dest, r.srcs[from].vals[:len(dest)])
		return nil
	}
	for i := range dest {
		if v := row[i]; v != nil {
			dest[i] = v
		} else {
			dest[i] = nil
		}
	}
	return nil
}

// mergeErr is a streamed merge's error for the caller: the merge's own
// (a bound, an unsupported comparison) as an engine error, a node's as
// its driver gave it.
func mergeErr(err error) error {
	if errors.Is(err, sharding.ErrUnsupported) {
		return engine.ShardingError(err)
	}
	return err
}

// Close closes every unit's rows (reading what is left, so the
// connections stay usable) and gives the connections back.
func (r *streamRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	var first error
	for i := range r.srcs {
		if err := r.srcs[i].r.Close(); err != nil && first == nil {
			first = err
		}
		r.s.release(r.srcs[i].b, r.srcs[i].onMaster)
	}
	return first
}
