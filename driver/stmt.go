package driver

import (
	"context"
	"database/sql/driver"
	"errors"
	"reflect"

	"github.com/shardgate/shardgate/engine"
)

// stmt is a prepared statement, routed at each execution.
type stmt struct {
	s     *conn
	query string
	cls   engine.Class
}

var (
	_ driver.Stmt             = (*stmt)(nil)
	_ driver.StmtExecContext  = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
)

// Close implements driver.Stmt. Backend statements stay cached on their
// connections, which close them when they close or overflow the cache.
func (st *stmt) Close() error { return nil }

// NumInput is -1: the count is known only to the backend.
func (st *stmt) NumInput() int { return -1 }

func (st *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return st.s.exec(ctx, st.query, st.cls, args, true)
}

func (st *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return st.s.query(ctx, st.query, st.cls, args, true)
}

func (st *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return st.ExecContext(context.Background(), named(args))
}

func (st *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return st.QueryContext(context.Background(), named(args))
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

// tx is a transaction pinned to one backend connection.
type tx struct {
	s     *conn
	btx   driver.Tx
	opts  driver.TxOptions // its branches begin alike
	slave bool
	ds    *engine.DataSource
	done  bool
}

var _ driver.Tx = (*tx)(nil)

// Commit commits, unless the instance was circuit-broken (or, for a
// transaction on the master, the master disabled) meanwhile: then the
// transaction is rolled back and Commit returns that error.
func (t *tx) Commit() error {
	if t.done {
		return driver.ErrBadConn
	}
	s := t.s
	snap := s.c.rt.Snapshot()
	var rerr error
	if t.slave {
		if err := snap.Admit(engine.EndTx); err != nil {
			rerr = routeError(err, "")
		}
	} else if _, err := snap.Plan(s.units[:0], engine.EndTx, &s.eng, nil); err != nil {
		rerr = routeError(err, "")
	}
	if rerr != nil {
		s.rollbackBranches()
		if err := t.btx.Rollback(); err != nil {
			s.pinned.broken = true
			t.end()
			return withSuffix(rerr, " (the open transaction was aborted: its connection was closed)")
		}
		t.end()
		return withSuffix(rerr, " (the open transaction was rolled back)")
	}
	if len(s.branches) > 0 {
		return t.commitBranches()
	}
	err := t.btx.Commit()
	if err != nil && !s.pinned.valid() {
		t.end()
		return dsErr(t.ds, err)
	}
	t.end()
	if err != nil {
		return dsErr(t.ds, err)
	}
	return nil
}

// Rollback always works, circuit breaker or not.
func (t *tx) Rollback() error {
	if t.done {
		return driver.ErrBadConn
	}
	t.s.rollbackBranches()
	err := t.btx.Rollback()
	t.end()
	if err != nil {
		return dsErr(t.ds, err)
	}
	return nil
}

// commitBranches commits a cross-node transaction: each branch still
// there (else nothing commits), the first connection, then each branch.
func (t *tx) commitBranches() error {
	s := t.s
	for _, b := range s.branches {
		if !b.valid() {
			name := b.p.name
			s.rollbackBranches()
			t.btx.Rollback()
			t.end()
			return routeError(engine.CommitError("COMMIT", name, errors.New("its connection was lost"), nil, nil), "")
		}
	}
	if err := t.btx.Commit(); err != nil {
		s.rollbackBranches()
		t.end()
		return routeError(engine.CommitError("COMMIT", t.ds.Name, err, nil, nil), "")
	}
	if !t.slave && s.pinned != nil && s.causal() {
		s.noteCommit(context.Background(), s.pinned)
	}
	err := s.endAll(context.Background(), true, "COMMIT", []string{t.ds.Name})
	t.end()
	return routeError(err, "")
}

// end unpins the transaction's connection.
func (t *tx) end() {
	s := t.s
	t.done = true
	s.tx = nil
	s.savepoints = s.savepoints[:0]
	b := s.pinned
	if !t.slave {
		s.txOpen = false
		s.eng.Done(engine.EndTx, true, s.outcome(true))
	}
	if b != nil {
		s.release(b, !t.slave)
	}
}

func withSuffix(err error, suffix string) error {
	if e, ok := err.(*Error); ok {
		c := *e
		c.Message += suffix
		return &c
	}
	return err
}

// rows streams a backend result; the backend connection goes back when
// the rows are closed.
type rows struct {
	s        *conn
	b        *bconn
	onMaster bool
	r        driver.Rows
}

var (
	_ driver.Rows                           = (*rows)(nil)
	_ driver.RowsNextResultSet              = (*rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
	_ driver.RowsColumnTypeLength           = (*rows)(nil)
	_ driver.RowsColumnTypeNullable         = (*rows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*rows)(nil)
)

func (r *rows) Columns() []string { return r.r.Columns() }

func (r *rows) Next(dest []driver.Value) error { return r.r.Next(dest) }

func (r *rows) Close() error {
	if r.s == nil {
		return nil
	}
	err := r.r.Close()
	s, b, onMaster := r.s, r.b, r.onMaster
	*r = rows{}
	s.release(b, onMaster)
	if s.freeRows == nil {
		s.freeRows = r
	}
	return err
}

func (r *rows) HasNextResultSet() bool {
	if n, ok := r.r.(driver.RowsNextResultSet); ok {
		return n.HasNextResultSet()
	}
	return false
}

func (r *rows) NextResultSet() error {
	if n, ok := r.r.(driver.RowsNextResultSet); ok {
		return n.NextResultSet()
	}
	return errNoNextResultSet
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	if c, ok := r.r.(driver.RowsColumnTypeScanType); ok {
		return c.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if c, ok := r.r.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return c.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rows) ColumnTypeLength(i int) (int64, bool) {
	if c, ok := r.r.(driver.RowsColumnTypeLength); ok {
		return c.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *rows) ColumnTypeNullable(i int) (bool, bool) {
	if c, ok := r.r.(driver.RowsColumnTypeNullable); ok {
		return c.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if c, ok := r.r.(driver.RowsColumnTypePrecisionScale); ok {
		return c.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
