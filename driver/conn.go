package driver

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/engine"
)

var sessionIDs atomic.Uint64

// conn is one shardgate session: one database/sql driver connection.
// database/sql never uses it from two goroutines at once.
type conn struct {
	c   *Connector
	uid uint64
	eng engine.Session
	// recent are the texts the connection classified last (database/sql
	// uses a connection from one goroutine at a time).
	recent engine.Recent
	// pinned is the backend connection held between statements: the
	// master's while in a transaction, with autocommit off or pinned for
	// good; a slave's during a read-only transaction there.
	pinned *bconn
	tx     *tx
	// branches are the master connections of other groups in the
	// session's cross-node transaction (database/sql's Tx), or of an
	// atomic write on several nodes (branches.go).
	branches []*bconn
	atomic   bool
	// txBegin is the text that began the SQL transaction, savepoints
	// those set in it so far: a branch that joins later begins alike.
	txBegin    string
	savepoints []string
	// stmtUndo: a write on several nodes in a transaction runs, and
	// stmtConns got its savepoint (BeginStatement).
	stmtUndo  bool
	stmtConns []*bconn
	// held are the connections that carry this session's SET/USE state
	// (replay), one per pool; they never go back to their pool.
	held   map[*pool]*bconn
	replay []string
	// txOpen and acOff mirror the master connection's status flags
	// (go-sql-driver does not expose them), for engine.Session.Done.
	txOpen, acOff bool
	closed        bool
	units         []engine.Unit
	cur           op
	freeRows      *rows
	// lastInsertID is the last insert id this session's statements
	// produced, given to another backend connection before a statement
	// there reads LAST_INSERT_ID().
	lastInsertID int64
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

func newConn(c *Connector) *conn {
	return &conn{c: c, uid: sessionIDs.Add(1), units: make([]engine.Unit, 0, 1)}
}

// classify returns the class of query from the engine's cache. The
// cache only reads the bytes (it copies the text when it stores it), so
// the string is viewed as bytes without a copy.
func (s *conn) classify(query string) engine.Class {
	return s.c.rt.Cache().ClassifyRecent(&s.recent, unsafe.Slice(unsafe.StringData(query), len(query)))
}

// opKind is what a driver call asks of the backend.
type opKind uint8

const (
	opExec opKind = iota
	opQuery
	opBegin
	opPing
)

// op is the call the session is running, for Execute and Finish (the
// session is the engine.Executor; its calls never overlap).
type op struct {
	ctx      context.Context
	kind     opKind
	query    string
	args     []driver.NamedValue
	prepared bool
	opts     driver.TxOptions
	// set by Execute when the unit ran
	b        *bconn
	onMaster bool
	ds       *engine.DataSource
	res      driver.Result
	rows     driver.Rows
	btx      driver.Tx
	held     bool // set by failed
	// merged is a merged plan's rows (Write, or Stream's open rows).
	merged driver.Rows
}

// run runs the session's current op through the engine (plan, attempts,
// session outcome). Inside a read-only transaction on a slave it runs on
// that transaction's connection, after the circuit breaker's check.
func (s *conn) run(cls engine.Class) error {
	if s.closed {
		return driver.ErrBadConn
	}
	if s.tx != nil && s.tx.slave {
		if err := s.c.rt.Snapshot().Admit(cls); err != nil {
			return routeError(err, "")
		}
		u := engine.Unit{Group: s.tx.ds.Group, DS: s.tx.ds}
		res := s.Execute(&u, cls)
		if res.Failure != engine.Ran {
			return res.Err
		}
		s.Finish(&u, cls)
		return nil
	}
	if s.cur.kind != opExec && s.cur.kind != opQuery || s.atomic {
		return s.runEngine(cls)
	}
	if len(s.branches) > 0 && (cls&engine.Savepoint != 0 || s.tx == nil && cls&engine.EndTx != 0) {
		err := s.endTx(cls, s.runEngine)
		if err == nil {
			s.afterTx(cls, s.cur.query, true)
		}
		return err
	}
	wasInTx := s.txOpen || s.acOff
	err := s.runEngine(cls)
	if err == nil && (cls&(engine.Savepoint|engine.Begin|engine.EndTx|engine.AutocommitOn) != 0 || wasInTx && cls&engine.Write != 0) {
		s.afterTx(cls, s.cur.query, wasInTx)
	}
	return err
}

// runEngine runs the session's current op through the engine.
func (s *conn) runEngine(cls engine.Class) error {
	var sql []byte
	var args []any
	if s.c.rt.Snapshot().Router != nil && (s.cur.kind == opExec || s.cur.kind == opQuery) {
		// Only a sharding rule reads the text and the arguments.
		sql = []byte(s.cur.query)
		for _, a := range s.cur.args {
			args = append(args, a.Value)
		}
	}
	if err := s.c.rt.Run(cls, sql, args, &s.eng, s, s.units[:0]); err != nil {
		return s.abortTx(cls, err)
	}
	return nil
}

// Execute runs one unit over database/sql (engine.Executor): take a
// connection of its data source (brought to the session's state) and run
// the op there.
func (s *conn) Execute(u *engine.Unit, cls engine.Class) engine.Result {
	o := &s.cur
	ds := u.DS
	onMaster := ds.IsMaster()
	text, args := s.unitText(u) // the unit's SQL when the plan rewrote it
	if s.c.rt.Snapshot().Config.Props.SQLShow {
		s.c.log.Info("sql", "session", s.uid, "dataSource", ds.Name, "class", cls.String(), "sql", engine.Redact([]byte(text)))
	}
	var b *bconn
	var err error
	if s.tx != nil && s.tx.slave {
		b = s.pinned // a read-only transaction's slave connection
	} else {
		b, err = s.acquire(o.ctx, ds.Pool.(*pool), onMaster)
	}
	if err != nil {
		return s.acquireFailure(ds, err)
	}
	if u.Wait != nil {
		if r, ok := s.await(o.ctx, b, u); !ok {
			return r
		}
	}
	switch o.kind {
	case opExec, opQuery:
		if err := s.giveLastInsertID(o.ctx, b, cls); err != nil {
			s.failed(b, onMaster, err)
			return engine.Result{Failure: engine.Failed, Err: dsErr(ds, err)}
		}
		if o.kind == opExec {
			if !o.prepared {
				o.res, err = b.c.(driver.ExecerContext).ExecContext(o.ctx, text, args)
			}
			if o.prepared || errors.Is(err, driver.ErrSkip) {
				var st driver.Stmt
				if st, err = b.stmt(o.ctx, text); err == nil {
					o.res, err = st.(driver.StmtExecContext).ExecContext(o.ctx, args)
				}
			}
		} else {
			if !o.prepared {
				o.rows, err = b.c.(driver.QueryerContext).QueryContext(o.ctx, text, args)
			}
			if o.prepared || errors.Is(err, driver.ErrSkip) {
				var st driver.Stmt
				if st, err = b.stmt(o.ctx, text); err == nil {
					o.rows, err = st.(driver.StmtQueryContext).QueryContext(o.ctx, args)
				}
			}
		}
		if err != nil && s.refusedOnSlave(cls, b, onMaster, o.query, err) {
			return engine.Result{Failure: engine.Refused, Err: dsErr(ds, err)}
		}
	case opBegin:
		o.btx, err = b.c.(driver.ConnBeginTx).BeginTx(o.ctx, o.opts)
		if err == nil && onMaster {
			s.txOpen = true
		}
	case opPing:
		if p, ok := b.c.(driver.Pinger); ok {
			err = p.Ping(o.ctx)
		}
		if err != nil {
			s.failed(b, onMaster, err)
			return engine.Result{Failure: engine.Failed, Err: dsErr(ds, err)}
		}
	}
	if err != nil {
		f := s.failed(b, onMaster, err)
		return engine.Result{Failure: f, Err: dsErr(ds, err), Held: s.cur.held}
	}
	if o.kind == opExec || o.kind == opQuery {
		s.track(cls, onMaster, b == s.pinned, o.query)
		if onMaster && o.kind == opExec && commits(cls, s.txOpen || s.acOff) && s.causal() {
			s.noteCommit(o.ctx, b)
		}
	}
	o.b, o.onMaster, o.ds = b, onMaster, ds
	return engine.Result{Failure: engine.Ran, Outcome: s.outcome(true)}
}

// Finish records what the op changed in the session (engine.Executor):
// session state to replay, the transaction, the rows the caller reads.
func (s *conn) Finish(_ *engine.Unit, cls engine.Class) {
	o := &s.cur
	b := o.b
	switch o.kind {
	case opExec:
		if id, err := o.res.LastInsertId(); err == nil && id != 0 {
			s.lastInsertID = id
		}
		s.after(b, cls, o.query, len(o.args), o.onMaster)
		s.release(b, o.onMaster)
	case opQuery:
		s.after(b, cls, o.query, len(o.args), o.onMaster)
	case opBegin:
		s.tx = &tx{s: s, btx: o.btx, opts: o.opts, slave: !o.onMaster, ds: o.ds}
		s.pinned = b
	case opPing:
		s.release(b, o.onMaster)
	}
}

// acquireFailure is the Result of a connection that could not be taken.
func (s *conn) acquireFailure(ds *engine.DataSource, err error) engine.Result {
	var de *dialError
	switch {
	case errors.Is(err, errPoolClosed) && !s.c.closed.Load():
		return engine.Result{Failure: engine.PoolClosed, Err: dsErr(ds, err)}
	case errors.As(err, &de) && s.cur.ctx.Err() == nil:
		// The pool reported it down: routing skips it until the
		// engine's probe reaches it.
		return engine.Result{Failure: engine.ConnLost, Err: dsErr(ds, err), Held: s.pinned != nil}
	}
	return engine.Result{Failure: engine.Failed, Err: dsErr(ds, err)}
}

// acquire returns the connection to run on: the pinned one, the one that
// holds the session's state on that pool, or one from the pool brought to
// the session's state.
func (s *conn) acquire(ctx context.Context, p *pool, onMaster bool) (*bconn, error) {
	if onMaster {
		if b := s.findBranch(p); b != nil {
			return b, nil
		}
		if s.atomic || (s.pinned != nil && s.pinned.p.name != p.name) {
			return s.join(ctx, p)
		}
	}
	if s.pinned != nil && onMaster {
		return s.pinned, nil
	}
	return s.take(ctx, p)
}

// take returns the connection that holds the session's state on p, or
// one from p brought to that state.
func (s *conn) take(ctx context.Context, p *pool) (*bconn, error) {
	if b := s.held[p]; b != nil {
		if err := s.sync(ctx, b); err != nil {
			s.drop(b)
			return nil, err
		}
		return b, nil
	}
	b, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	if len(s.replay) > 0 {
		s.hold(b)
		if err := s.sync(ctx, b); err != nil {
			s.drop(b)
			return nil, err
		}
	}
	return b, nil
}

func (s *conn) hold(b *bconn) {
	if s.held == nil {
		s.held = map[*pool]*bconn{}
	}
	if old := s.held[b.p]; old != nil && old != b && old != s.pinned {
		old.broken = true
		old.p.put(old)
	}
	b.owner = s.uid
	s.held[b.p] = b
}

// drop forgets a session-bound connection and closes it.
func (s *conn) drop(b *bconn) {
	if s.held[b.p] == b {
		delete(s.held, b.p)
	}
	if s.pinned == b {
		s.pinned = nil
	}
	b.broken = true
	b.p.put(b)
}

// sync replays the session's SET/USE statements the connection lacks. A
// slave's connection is made read-only again afterwards, whatever they set.
func (s *conn) sync(ctx context.Context, b *bconn) error {
	ran := false
	for b.applied < len(s.replay) {
		if _, err := b.c.(driver.ExecerContext).ExecContext(ctx, s.replay[b.applied], nil); err != nil {
			return fmt.Errorf("replaying session state %q: %w", s.replay[b.applied], err)
		}
		b.applied++
		ran = true
	}
	if ran && b.p.readOnly {
		if _, err := b.c.(driver.ExecerContext).ExecContext(ctx, "SET SESSION TRANSACTION READ ONLY", nil); err != nil {
			b.broken = true
			return fmt.Errorf("making the slave session read-only again: %w", err)
		}
	}
	return nil
}

// giveLastInsertID sets the session's last insert id on b before a
// statement that reads LAST_INSERT_ID(): the backend connection that
// produced it may be another session's by now.
func (s *conn) giveLastInsertID(ctx context.Context, b *bconn, cls engine.Class) error {
	if cls&engine.LastID == 0 || s.lastInsertID == 0 {
		return nil
	}
	_, err := b.c.(driver.ExecerContext).ExecContext(ctx, engine.LastInsertIDSQL(uint64(s.lastInsertID)), nil)
	return err
}

// refusedOnSlave: a statement routed to a slave as a read was refused by
// its read-only session (it writes): the caller runs it on the master and
// the text goes there from now on. The connection has been released.
func (s *conn) refusedOnSlave(cls engine.Class, b *bconn, onMaster bool, query string, err error) bool {
	var me *mysql.MySQLError
	if onMaster || !b.p.readOnly || s.tx != nil || b == s.pinned || cls&engine.Read == 0 ||
		!errors.As(err, &me) || !engine.RefusedWrite(me.Number) {
		// Inside a read-only transaction on a slave the refusal is the
		// answer: the write was the caller's, in a transaction it asked
		// to be read-only.
		return false
	}
	s.release(b, onMaster)
	s.c.rt.Cache().Demote([]byte(query))
	s.c.log.Info("a read that writes was refused by a slave's read-only session and ran on the master", "session", s.uid)
	return true
}

// release ends a statement's use of b: it stays pinned or held when the
// session needs it, else goes back to its pool.
func (s *conn) release(b *bconn, onMaster bool) {
	if !b.valid() {
		if s.pinned == b {
			// The transaction (or pinned state) died with the connection.
			s.lost()
		}
		if i := slices.Index(s.branches, b); i >= 0 {
			s.lostBranch(i)
		}
		s.drop(b)
		return
	}
	if slices.Contains(s.branches, b) {
		return // kept until the transaction (or atomic write) ends
	}
	if onMaster && s.eng.NeedsMasterConn() || s.tx != nil && s.pinned == b {
		s.pinned = b
		return
	}
	if s.pinned == b {
		s.pinned = nil
	}
	if s.held[b.p] == b {
		return
	}
	b.p.put(b)
}

// lost forgets transaction state after its connection died.
func (s *conn) lost() {
	s.txOpen = false
	if len(s.branches) > 0 {
		s.rollbackBranches() // the transaction is gone on its first node
	}
	s.eng.LostConn()
	s.savepoints = s.savepoints[:0]
	if s.tx != nil {
		s.tx.done = true
		s.tx = nil
	}
}

// after records what a statement that succeeded on b changed in the
// session.
func (s *conn) after(b *bconn, cls engine.Class, query string, nargs int, onMaster bool) {
	if !onMaster {
		return
	}
	if cls&(engine.SetSession|engine.Use) != 0 && cls&engine.Multi == 0 {
		if nargs == 0 {
			// A connection not yet held was taken while the session had
			// no state (acquire holds and syncs the others): it has run
			// exactly this statement.
			s.replay = append(s.replay, query)
			if s.held[b.p] != b {
				s.hold(b)
			}
			b.applied = len(s.replay)
		} else {
			// State with bound values is not replayable: keep this
			// connection for the session, and never pool it again.
			s.eng.Pin()
			b.owner = s.uid
		}
	}
	if cls&(engine.Pin|engine.Multi) != 0 {
		b.owner = s.uid // server state of this connection only: never pooled again
	}
}

// track follows the transaction and autocommit state a statement that
// succeeded on the master leaves (go-sql-driver does not expose the
// server's status flags): DDL and the like on the transaction's first
// connection end it, as on the server.
func (s *conn) track(cls engine.Class, onMaster, first bool, query string) {
	if !onMaster {
		return
	}
	if s.txOpen && first && engine.ImplicitCommit(cls, query) {
		s.txOpen = false
	}
	if cls&engine.Begin != 0 {
		s.txOpen = true
	}
	if cls&engine.EndTx != 0 {
		s.txOpen = false
	}
	if cls&engine.AutocommitOff != 0 {
		s.acOff = true
	}
	if cls&engine.AutocommitOn != 0 {
		s.acOff, s.txOpen = false, false // SET autocommit=1 commits
	}
}

// commits reports whether a statement of class cls that ran on a master
// committed something: a COMMIT, or a write outside a transaction (inTx:
// one is open after it, or autocommit is off).
func commits(cls engine.Class, inTx bool) bool {
	if cls&engine.EndTx != 0 {
		return cls&(engine.Rollback|engine.Savepoint) == 0
	}
	return cls&engine.Write != 0 && !inTx
}

// outcome is what the session's master connection reports, as the
// driver tracks it (go-sql-driver does not expose the status flags).
func (s *conn) outcome(ok bool) engine.Outcome {
	return engine.Outcome{OK: ok, InTx: s.txOpen, AutocommitOff: s.acOff}
}

// abortTx handles a COMMIT that cannot be routed (circuit breaker, master
// disabled): the open transaction is rolled back on its connection, so a
// caller told COMMIT failed knows nothing was committed.
func (s *conn) abortTx(cls engine.Class, err error) error {
	b := s.pinned
	if cls&engine.EndTx == 0 || cls&engine.Rollback != 0 {
		return routeError(err, "")
	}
	open := b != nil && (s.eng.InTx() || s.acOff)
	if len(s.branches) > 0 && !s.atomic {
		s.rollbackBranches()
	}
	s.savepoints = s.savepoints[:0]
	if !open {
		s.eng.RolledBack() // a doomed transaction ends here
		return routeError(err, "")
	}
	_, rerr := b.c.(driver.ExecerContext).ExecContext(context.Background(), "ROLLBACK", nil)
	if rerr != nil {
		b.broken = true
	}
	s.txOpen = false
	s.eng.Done(engine.EndTx|engine.Rollback, true, s.outcome(rerr == nil))
	s.release(b, true)
	if rerr != nil {
		return routeError(err, " (the open transaction was aborted: its connection was closed)")
	}
	return routeError(err, " (the open transaction was rolled back)")
}

// failed releases b after err and says how it failed: Stale when a
// pooled connection refused the statement before anything was sent
// (driver.ErrBadConn), ConnLost when the connection died, else Failed. A
// connection that carried session state or was pinned is Held: never
// retried, its state went with it.
func (s *conn) failed(b *bconn, onMaster bool, err error) engine.Failure {
	bound := b.owner != 0 || b == s.pinned || s.tx != nil
	if errors.Is(err, driver.ErrBadConn) {
		b.broken = true
	}
	dead := !b.valid()
	s.release(b, onMaster)
	s.cur.held = bound
	switch {
	case !dead || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return engine.Failed
	case errors.Is(err, driver.ErrBadConn):
		return engine.Stale
	}
	return engine.ConnLost
}

func dsErr(ds *engine.DataSource, err error) error {
	if ds == nil {
		return err
	}
	return fmt.Errorf("shardgate: data source %s: %w", ds.Name, err)
}

// exec runs a statement that returns no rows.
func (s *conn) exec(ctx context.Context, query string, cls engine.Class, args []driver.NamedValue, prepared bool) (driver.Result, error) {
	s.cur = op{ctx: ctx, kind: opExec, query: query, args: args, prepared: prepared}
	err := s.run(cls)
	res := s.cur.res
	s.cur = op{}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// query runs a statement that returns rows; the backend connection stays
// taken until the rows are closed.
func (s *conn) query(ctx context.Context, query string, cls engine.Class, args []driver.NamedValue, prepared bool) (driver.Rows, error) {
	s.cur = op{ctx: ctx, kind: opQuery, query: query, args: args, prepared: prepared}
	err := s.run(cls)
	o := s.cur
	s.cur = op{}
	if err != nil {
		return nil, err
	}
	if o.merged != nil {
		return o.merged, nil
	}
	rs := s.freeRows
	if rs != nil {
		s.freeRows = nil
	} else {
		rs = &rows{}
	}
	*rs = rows{s: s, b: o.b, onMaster: o.onMaster, r: o.rows}
	return rs, nil
}

// ExecContext implements driver.ExecerContext.
func (s *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return s.exec(ctx, query, s.classify(query), args, false)
}

// QueryContext implements driver.QueryerContext.
func (s *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if stmt, ok := engine.IsPreview(unsafe.Slice(unsafe.StringData(query), len(query))); ok && len(args) == 0 {
		return s.preview(stmt)
	}
	return s.query(ctx, query, s.classify(query), args, false)
}

// preview answers PREVIEW <statement> as the proxy does: each unit's data
// source and SQL, nothing run.
func (s *conn) preview(stmt []byte) (driver.Rows, error) {
	if s.closed {
		return nil, driver.ErrBadConn
	}
	units, err := s.c.rt.Preview(bytes.Clone(stmt), &s.eng)
	if err != nil {
		return nil, err
	}
	r := &mergedRows{cols: []string{"data_source_name", "actual_sql"}}
	for _, u := range units {
		r.rows = append(r.rows, [][]byte{[]byte(u.DataSource), []byte(u.SQL)})
	}
	return r, nil
}

// PrepareContext returns a statement routed at each execution: it is
// prepared on a backend connection the first time it runs there (and kept
// for that connection), so syntax errors surface at execution.
func (s *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if s.closed {
		return nil, driver.ErrBadConn
	}
	return &stmt{s: s, query: query, cls: s.classify(query)}, nil
}

// Prepare implements driver.Conn.
func (s *conn) Prepare(query string) (driver.Stmt, error) {
	return s.PrepareContext(context.Background(), query)
}

// Begin implements driver.Conn.
func (s *conn) Begin() (driver.Tx, error) {
	return s.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx starts a transaction pinned to one backend connection: the
// master's, or with opts.ReadOnly and props.readOnlyTransactionsOnSlave a
// slave's (unless read-your-writes sends the session's reads to the
// master).
func (s *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if s.tx != nil || s.eng.InTx() {
		return nil, errors.New("shardgate: a transaction is already open on this connection")
	}
	cls := engine.Begin
	if opts.ReadOnly && s.c.rt.Snapshot().Config.Props.ReadOnlyTransactionsOnSlave {
		cls = engine.Read
	}
	s.cur = op{ctx: ctx, kind: opBegin, query: "BEGIN", opts: opts}
	err := s.run(cls)
	s.cur = op{}
	if err != nil {
		return nil, err
	}
	return s.tx, nil
}

// Ping checks the instance and one data source a read would go to.
func (s *conn) Ping(ctx context.Context) error {
	s.cur = op{ctx: ctx, kind: opPing, query: "/* ping */"}
	err := s.run(engine.Read)
	s.cur = op{}
	return err
}

// ResetSession forgets the session's state before database/sql hands the
// connection to another user, like COM_RESET_CONNECTION: routing state
// (read-your-writes, pinning) is cleared and backend connections carrying
// SET/USE state or an open transaction are closed.
func (s *conn) ResetSession(ctx context.Context) error {
	if s.closed {
		return driver.ErrBadConn
	}
	s.reset()
	return nil
}

func (s *conn) reset() {
	for _, b := range s.branches {
		b.broken = true // closing it rolls its transaction back
	}
	s.endBranches()
	s.atomic = false
	if b := s.pinned; b != nil {
		s.pinned = nil
		if s.txOpen || s.acOff || s.tx != nil {
			b.broken = true // closing it rolls the transaction back
		}
		if s.held[b.p] != b {
			b.p.put(b)
		}
	}
	for p, b := range s.held {
		delete(s.held, p)
		b.p.put(b) // owner set: closed
	}
	if s.tx != nil {
		s.tx.done = true
		s.tx = nil
	}
	s.replay = s.replay[:0]
	s.savepoints, s.txBegin = s.savepoints[:0], ""
	s.txOpen, s.acOff = false, false
	s.lastInsertID = 0
	s.eng.Reset()
}

// IsValid implements driver.Validator.
func (s *conn) IsValid() bool { return !s.closed }

// CheckNamedValue passes unsigned integers through unchanged (the default
// converter rejects uint64 values with the high bit set; go-sql-driver
// sends them as unsigned), and leaves everything else to database/sql's
// default converter.
func (s *conn) CheckNamedValue(nv *driver.NamedValue) error {
	switch nv.Value.(type) {
	case uint64, uint:
		return nil
	}
	return driver.ErrSkip
}

// Close releases the session's backend connections.
func (s *conn) Close() error {
	if s.closed {
		return nil
	}
	s.reset()
	s.closed = true
	return nil
}
