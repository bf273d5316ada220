package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/shardgate/shardgate/backend"
	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/gtid"
)

// maxReplay and maxReplayBytes bound the SET statements replayed on each
// backend connection a session takes; past them the session is pinned to
// its master connection instead.
const (
	maxReplay      = 64
	maxReplayBytes = 16 << 10
)

// maxBackendStmts bounds the prepared statements kept per backend
// connection (the server's max_prepared_stmt_count is global).
const maxBackendStmts = 512

type session struct {
	srv       *Server
	raw       net.Conn // the client's TCP connection, also under TLS
	c         *wire.Conn
	id        uint32
	user      string
	caps      uint32
	collation byte
	tls       bool
	db        string
	initialDB string
	salt      []byte // the greeting's, for COM_CHANGE_USER

	eng engine.Session
	// pinned is the master connection held while the session is in a
	// transaction, has autocommit off, or is pinned for good.
	pinned *backend.Conn
	// roTx is the slave connection of a read-only transaction run there
	// (props.readOnlyTransactionsOnSlave, readonly.go), roDS its data
	// source; roOpen: the server still reports the transaction open.
	roTx   *backend.Conn
	roDS   *engine.DataSource
	roOpen bool
	// stmtUndo: a write on several nodes in a transaction runs, and
	// stmtConns got its savepoint (BeginStatement).
	stmtUndo  bool
	stmtConns []*backend.Conn
	// branches are the master connections of the other groups in the
	// session's cross-node transaction, or of an atomic write on several
	// nodes (branches.go); txBegin is how the transaction began (BEGIN's
	// text, for its branches) and savepoints its savepoints, in order.
	branches   []*backend.Conn
	txBegin    string
	savepoints []string
	atomic     bool
	// replay are the session's SET statements, in order; stateKey is
	// them joined (see backend.Conn.StateKey).
	replay   []string
	stateKey string

	// held is the connection of the previous statement when it ended with
	// warnings or an error, kept until the next command so that SHOW
	// WARNINGS / SHOW ERRORS read that connection's diagnostics.
	held       *backend.Conn
	heldMaster bool

	// pinPool is the pool whose PinSession counts this session (nil: not
	// pinned for good).
	pinPool *backend.Pool

	// counted is the user the session counts against (COM_CHANGE_USER
	// does not move it: the connection stays the first user's).
	counted string

	// lastInsertID is the last insert id the session's statements
	// produced, for LAST_INSERT_ID() on another connection.
	lastInsertID uint64

	// obs counts the session's statements (nil: no observer). lastDS and
	// lastErr describe the statement running, for it; ended is when it
	// ended (zero: not timed), which the serve loop takes as the time for
	// the idle deadline instead of a clock read of its own.
	obs     SessionObserver
	recent  engine.Recent // the texts it classified last
	ended   time.Time
	lastDS  string
	lastErr uint16

	stmts    map[uint32]*stmt
	nextStmt uint32
	units    []engine.Unit
	// cmd holds a command rewritten to a unit's SQL.
	cmd []byte
	cur current
	buf []byte
}

// stmt is a client's prepared statement.
type stmt struct {
	sql     string
	class   engine.Class
	params  uint16
	columns uint16
	// types are the parameter types last bound by the client; they are
	// always sent to the backend, whose statement other sessions share.
	types []byte
	long  [][]byte // COM_STMT_SEND_LONG_DATA packets waiting for execute
	// longBytes counts them; past maxAllowedPacket they are dropped and
	// the execute fails (longTooBig).
	longBytes  int
	longTooBig bool
	// sharded: on sharded or broadcast tables, routed at each execution
	// with its parameters.
	sharded bool
}

// maxSessionStmts bounds a session's prepared statements (MariaDB's own
// max_prepared_stmt_count default is 16382 for the whole server).
var maxSessionStmts = 16382 // a var: tests lower it

func newSession(srv *Server, nc net.Conn) *session {
	return &session{
		srv:   srv,
		raw:   nc,
		c:     wire.NewConn(nc, 16<<10),
		id:    srv.nextConnID.Add(1),
		stmts: map[uint32]*stmt{},
		units: make([]engine.Unit, 0, 1),
	}
}

// countLogin counts the session against its user's connection limit,
// telling the client when the user is at it.
func (s *session) countLogin() bool {
	if !s.srv.login(s.user) {
		s.fail(wire.NewError(1226, "42000", "User '%s' has exceeded the 'max_user_connections' resource (users[].maxConnections %d)", s.user, s.srv.rt.Snapshot().Config.UserMaxConnections(s.user)))
		return false
	}
	s.counted = s.user
	return true
}

// holdFor is how long a session keeps the previous statement's connection
// (for SHOW WARNINGS, ROW_COUNT(), FOUND_ROWS()) while its client is quiet:
// clients ask for them at once, and an idle session must not keep a
// pooled connection from others.
const holdFor = 50 * time.Millisecond

// awaitHeld waits up to holdFor for the next command while the session
// holds a connection, and gives it back if none comes. Peek consumes
// nothing, so a timeout leaves the stream intact. false: the client is gone.
func (s *session) awaitHeld(deadline time.Time) bool {
	s.raw.SetReadDeadline(time.Now().Add(holdFor))
	_, err := s.c.R.Peek(1)
	s.raw.SetReadDeadline(deadline)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		s.releaseHeld()
		return true
	}
	return err == nil
}

// preAuthMaxPacket bounds packets before login: a handshake response with
// connection attributes fits many times over.
const preAuthMaxPacket = 64 << 10

func (s *session) serve() {
	props := &s.srv.rt.Snapshot().Config.Props
	s.c.Max = preAuthMaxPacket
	s.raw.SetDeadline(time.Now().Add(props.HandshakeTimeout))
	defer func() {
		if s.counted != "" {
			s.srv.logout(s.counted)
		}
	}()
	if !s.handshake() {
		return
	}
	s.raw.SetDeadline(time.Time{})
	var deadline time.Time
	for {
		props = &s.srv.rt.Snapshot().Config.Props
		// One more byte: the command byte comes on top of the statement.
		s.c.Max = props.MaxAllowedPacket + 1
		// Idle clients are closed after waitTimeout, and after
		// idleTransactionTimeout while they hold a master connection (an
		// open transaction, autocommit off): their transaction is rolled
		// back and the connection freed for others. The deadline moves
		// forward at most once a second, not on every command.
		wait := props.WaitTimeout
		if t := props.IdleTransactionTimeout; t > 0 && t < wait && (s.pinned != nil && (s.eng.InTx() || s.eng.AutocommitOff()) || s.roTx != nil) {
			wait = t
		}
		now := s.ended // the clock read that timed the last statement
		if now.IsZero() {
			now = time.Now()
		}
		s.ended = time.Time{}
		if now.Add(wait).Before(deadline) || now.Add(wait).Sub(deadline) > time.Second {
			deadline = now.Add(wait)
			s.raw.SetReadDeadline(deadline)
		}
		if s.held != nil && !s.awaitHeld(deadline) {
			return
		}
		p, err := s.c.ReadPacket()
		if errors.Is(err, wire.ErrPacketTooLarge) {
			s.writeErr(wire.NewError(1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes (%d; props.maxAllowedPacket)", props.MaxAllowedPacket))
			s.c.Flush()
			return
		}
		if err != nil || len(p) == 0 {
			return
		}
		ok := s.dispatch(p)
		// Flush even when the connection ends: a last error must arrive.
		if s.c.Flush() != nil || !ok {
			return
		}
	}
}

// close releases the backend connection a session still holds: it is reset
// (rolling back any transaction, dropping temporary tables and locks)
// before it goes back to the pool, or closed if that fails.
func (s *session) close() {
	s.releaseHeld()
	s.dropReadOnly()
	s.resetBranches()
	if bc := s.pinned; bc != nil {
		s.pinned = nil
		bc.ResetSession()
		bc.Pool().Put(bc)
	}
	s.unpin()
	s.c.NC.Close()
	if s.obs != nil {
		s.obs.End()
	}
}

// pinFor admits a statement that will pin the session to its master
// connection for good: refused when the pool's share for pinned sessions
// is taken, so that they cannot starve everybody else.
func (s *session) pinFor(ds *engine.DataSource) error {
	if s.pinPool != nil || s.eng.Pinned() {
		return nil
	}
	if !poolOf(ds).PinSession() {
		return &engine.Error{Kind: engine.ErrNoDataSource, Code: engine.ErrCodeUnavailable, SQLState: "HY000", Message: fmt.Sprintf(
			"shardgate: %d of data source %s's %d connections are kept by sessions with temporary tables, user variables, locks, CALL or HANDLER state; "+
				"this statement would keep another one. Retry later, end such sessions, or raise dataSources.%s.maxPoolSize",
			poolOf(ds).MaxPinned(), ds.Name, poolOf(ds).Config().MaxPoolSize, ds.Name)}
	}
	s.pinPool = poolOf(ds)
	return nil
}

// unpin gives back the session's pinned share (session end or reset), and
// does when a statement meant to pin it did not.
func (s *session) unpin() {
	if s.pinPool != nil {
		s.pinPool.UnpinSession()
		s.pinPool = nil
	}
}

// dispatch handles one command; false ends the connection.
func (s *session) dispatch(p []byte) bool {
	if p[0] != wire.ComQuery {
		s.releaseHeld()
	}
	switch p[0] {
	case wire.ComQuery:
		return s.query(p)
	case wire.ComStmtExecute:
		return s.execute(p)
	case wire.ComStmtPrepare:
		return s.prepare(p)
	case wire.ComStmtClose:
		if len(p) >= 5 {
			delete(s.stmts, binary.LittleEndian.Uint32(p[1:]))
		}
		return true // no response
	case wire.ComStmtReset:
		if st := s.stmtOf(p); st != nil {
			st.long, st.longBytes, st.longTooBig = nil, 0, false
			s.writeOK(0, 0)
		}
		return true
	case wire.ComStmtSendLongData:
		if len(p) >= 7 {
			if st := s.stmts[binary.LittleEndian.Uint32(p[1:])]; st != nil {
				// Long data waits here until execute: bounded like one
				// packet, the error comes with the execute.
				if st.longBytes += len(p); st.longBytes > s.srv.rt.Snapshot().Config.Props.MaxAllowedPacket {
					st.long, st.longTooBig = nil, true
				} else {
					st.long = append(st.long, append([]byte(nil), p...))
				}
			}
		}
		return true // no response
	case wire.ComPing:
		if err := s.srv.rt.Snapshot().Admit(0); err != nil {
			s.writeErr(err)
			return true
		}
		s.writeOK(0, 0)
		return true
	case wire.ComQuit:
		return false
	case wire.ComInitDB:
		return s.initDB(string(p[1:]))
	case wire.ComFieldList:
		return s.forward(p, engine.Read, wire.FieldList)
	case wire.ComChangeUser:
		return s.changeUser(p)
	case wire.ComResetConnection:
		s.resetConnection()
		s.writeOK(0, 0)
		return true
	case wire.ComSetOption:
		return s.setOption(p)
	case wire.ComStatistics:
		return s.statistics(p)
	default:
		s.writeErr(wire.NewError(1047, "08S01", "Unknown command %d", p[0]))
		return true
	}
}

// setOption turns multi-statements on or off. New backend connections
// are taken with the new setting; a pinned one is switched with the client.
func (s *session) setOption(p []byte) bool {
	if len(p) < 3 {
		s.writeErr(wire.NewError(1047, "08S01", "Unknown command"))
		return true
	}
	on := binary.LittleEndian.Uint16(p[1:]) == 0
	if bc := s.pinned; bc != nil {
		if err := bc.WriteCommand(p); err != nil {
			bc.Broken = true
		} else if r, err := bc.ReadPacket(); err != nil || len(r) == 0 || r[0] == 0xff {
			bc.Broken = true
		}
		if bc.Broken {
			s.release(bc, true)
			s.writeErr(wire.NewError(2013, "HY000", "shardgate: lost the connection of the open transaction while setting an option"))
			return true
		}
		if on {
			bc.Flags |= backend.MultiStatements
		} else {
			bc.Flags &^= backend.MultiStatements
		}
	}
	if on {
		s.caps |= wire.ClientMultiStatements
	} else {
		s.caps &^= wire.ClientMultiStatements
	}
	s.c.WritePacket(wire.AppendEOF(s.buf[:0], s.status(), 0))
	return true
}

func (s *session) query(p []byte) bool {
	if stmt, ok := engine.IsPreview(p[1:]); ok {
		return s.preview(stmt)
	}
	cls := s.srv.rt.Cache().ClassifyRecent(&s.recent, p[1:])
	if cls&engine.Multi != 0 && s.caps&wire.ClientMultiStatements == 0 {
		s.writeErr(wire.NewError(1064, "42000", "You have an error in your SQL syntax: multi-statements are not enabled on this connection"))
		return true
	}
	if s.srv.showSQL() {
		s.srv.log.Info("sql", "conn", s.id, "class", cls.String(), "sql", engine.Redact(p[1:]))
	}
	if s.held != nil {
		if cls&engine.Diagnostics != 0 && cls&engine.Multi == 0 {
			return s.diagnostics(p)
		}
		s.releaseHeld()
	}
	return s.run(p, cls, nil)
}

// diagnostics runs SHOW WARNINGS / SHOW ERRORS on the held connection.
func (s *session) diagnostics(p []byte) bool {
	bc, onMaster := s.held, s.heldMaster
	s.held = nil
	if err := bc.WriteCommand(p); err != nil {
		bc.Broken = true
		s.release(bc, onMaster)
		s.writeErr(wire.NewError(2013, "HY000", "shardgate: lost the connection holding the diagnostics: %v", err))
		return true
	}
	res := wire.Relay(s.c, bc.Conn, wire.ResultSet)
	if res.BackendErr != nil {
		bc.Broken = true
	}
	s.release(bc, onMaster)
	if res.BackendErr != nil && res.Sent {
		return false
	}
	if res.BackendErr != nil {
		s.writeErr(wire.NewError(2013, "HY000", "shardgate: %v", res.BackendErr))
	}
	return res.ClientErr == nil
}

func (s *session) releaseHeld() {
	if bc := s.held; bc != nil {
		s.held = nil
		s.release(bc, s.heldMaster)
	}
}

// forward runs a command that returns a result of the given kind.
func (s *session) forward(p []byte, cls engine.Class, kind wire.Response) bool {
	return s.observe(p, cls, nil, kind)
}

func (s *session) run(p []byte, cls engine.Class, st *stmt) bool {
	return s.observe(p, cls, st, wire.ResultSet)
}

// observe runs a statement and tells the server's observer about it.
func (s *session) observe(p []byte, cls engine.Class, st *stmt, kind wire.Response) bool {
	obs := s.obs
	if obs == nil {
		return s.runKind(p, cls, st, kind)
	}
	start := time.Since(epoch)
	s.lastDS, s.lastErr = "", 0
	ok := s.runKind(p, cls, st, kind)
	end := time.Since(epoch)
	s.ended = epoch.Add(end)
	obs.Statement(s.lastDS, cls, end-start, s.lastErr)
	return ok
}

// epoch anchors the timing of statements: time.Since(epoch) reads the
// monotonic clock alone (39 ns here), time.Now the wall clock as well
// (67–129 ns), and epoch.Add of it is a time.Time that deadlines compare
// by its monotonic reading.
var epoch = time.Now()

// runKind runs a command through the engine (plan, attempts, session
// outcome) with the session as its executor, which sends the command and
// relays the answer. It returns false when the client connection must end.
func (s *session) runKind(p []byte, cls engine.Class, st *stmt, kind wire.Response) bool {
	if s.pinPool != nil && !s.eng.Pinned() {
		s.unpin() // a statement meant to pin the session failed before running
	}
	if s.roTx != nil {
		return s.inReadOnlyTx(p, cls, st, kind)
	}
	s.cur = current{p: p, st: st, kind: kind, wasInTx: s.eng.InTx()}
	if s.readOnlyBegin(p, cls, st) {
		cls, s.cur.roBegin = engine.Read, true // planned as a read: a slave's
	}
	var sql []byte
	var args []any
	switch {
	case st != nil && st.sharded:
		var err error
		if args, err = s.params(st, p); err != nil {
			s.cur = current{}
			s.writeErr(err)
			return true
		}
		sql = []byte(st.sql)
		s.cur.args = args
	case st != nil:
		if err := s.unsharded(st); err != nil {
			s.cur = current{}
			s.writeErr(err)
			return true
		}
	case p[0] == wire.ComQuery:
		sql = p[1:]
	}
	err := s.srv.rt.Run(cls, sql, args, &s.eng, s, s.units[:0])
	clientOK := s.cur.clientOK
	if len(s.branches) > 0 || (s.cur.wasInTx || cls&(engine.Begin|engine.EndTx|engine.Savepoint) != 0) && s.srv.rt.Snapshot().Router != nil {
		// Only a sharding rule makes cross-node transactions.
		s.afterTx(cls, err == nil && s.cur.res.Err == nil, p, st)
	}
	s.cur = current{}
	switch {
	case err == nil:
		return clientOK
	case errors.Is(err, engine.ErrCutOff):
		return false // half a result went out; the client cannot recover
	}
	s.writeErr(s.abortTx(cls, err))
	return true
}

// unsharded refuses a prepared statement prepared as unsharded whose
// tables a config change since made sharded or broadcast (prepare it again).
func (s *session) unsharded(st *stmt) error {
	rt := s.srv.rt.Snapshot().Router
	if rt == nil {
		return nil
	}
	r, err := rt.Route(st.sql, nil)
	if err == nil && r == nil {
		return nil
	}
	return &engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000",
		Message: "shardgate: this prepared statement's tables became sharded or broadcast after it was prepared; prepare it again"}
}

// current is the command runKind is running, for Execute and Finish.
type current struct {
	p    []byte
	st   *stmt
	kind wire.Response
	// args: a sharded prepared statement's parameters, for units run as
	// text (textOf).
	args []any
	// wasInTx: the session was in a transaction before the command.
	wasInTx bool
	// roBegin: the command begins a read-only transaction planned as a
	// read (readonly.go).
	roBegin bool
	// set by Execute when the unit ran, for Finish
	bc       *backend.Conn
	onMaster bool
	res      wire.RelayResult
	clientOK bool
}

// Execute runs one unit over the wire protocol (engine.Executor): take a
// connection of its data source, bring it to the session's state, send the
// command and relay the answer to the client byte for byte.
func (s *session) Execute(u *engine.Unit, cls engine.Class) engine.Result {
	p, st := s.cur.p, s.cur.st
	ds := u.DS
	s.lastDS = ds.Name
	onMaster := ds.IsMaster()
	if cls&engine.Pin != 0 && onMaster {
		if err := s.pinFor(ds); err != nil {
			return engine.Result{Failure: engine.Failed, Err: err}
		}
	}
	bc, err := s.acquire(ds, onMaster)
	if err != nil {
		return failure(ds, err, s.pinned != nil)
	}
	if u.Wait != nil {
		if r, ok := s.await(bc, u); !ok {
			return r
		}
	}
	if len(s.branches) > 0 && cls&(engine.EndTx|engine.Savepoint) != 0 {
		if r, done := s.endTx(bc, cls, s.text(p, st)); done {
			if r.Failure != engine.Ran && s.pinned == bc {
				s.release(bc, onMaster)
			}
			return r
		}
	}
	cmd := p
	if u.SQL != nil {
		cmd = append(append(s.cmd[:0], p[0]), u.SQL...)
		s.cmd = cmd
		if s.srv.showSQL() {
			s.srv.log.Info("actual sql", "conn", s.id, "dataSource", ds.Name, "sql", engine.Redact(u.SQL))
		}
	}
	if st != nil {
		if cmd, err = s.bindExecute(bc, st, p, u); err != nil {
			held := s.pinned != nil
			s.release(bc, onMaster)
			if bc.ReadOnly && !held && cls&engine.Read != 0 && isRefusedWrite(err) {
				s.demote(p, st, cls.Refused())
				return engine.Result{Failure: engine.Refused, Err: dsErr(ds, err)}
			}
			return failure(ds, err, held)
		}
	}
	if cls&engine.LastID != 0 && s.lastInsertID != 0 {
		// LAST_INSERT_ID() is the session's, whichever connection
		// produced it: give it to this one.
		if _, err := bc.Exec(engine.LastInsertIDSQL(s.lastInsertID)); err != nil {
			bc.Broken = isConnErr(err)
			s.release(bc, onMaster)
			return engine.Result{Failure: engine.Failed, Err: dsErr(ds, err)}
		}
	}
	if err := bc.Send(cmd); err != nil {
		bc.Broken = true
		held := s.pinned != nil
		s.release(bc, onMaster)
		return engine.Result{Failure: engine.ConnLost, Err: dsErr(ds, err), Held: held}
	}
	seq := s.c.Seq
	res := wire.Relay(s.c, bc.Conn, s.cur.kind)
	if res.Err != nil && bc.ReadOnly && res.Unflushed && s.pinned == nil && cls&engine.Read != 0 && engine.RefusedWrite(res.Err.Code) {
		// A read that writes (a function that modifies data, or text
		// the classifier misread) failed on the slave's read-only
		// session before the client saw anything: run it on the
		// master, and send that text there from now on.
		s.c.Discard(seq)
		s.release(bc, onMaster)
		s.demote(p, st, cls.Refused())
		return engine.Result{Failure: engine.Refused, Err: res.Err}
	}
	if res.BackendErr != nil {
		bc.Broken = true
		held := s.pinned != nil
		s.release(bc, onMaster)
		if res.Sent {
			return engine.Result{Failure: engine.CutOff, Err: engine.ErrCutOff}
		}
		return engine.Result{Failure: engine.ConnLost, Err: dsErr(ds, res.BackendErr), Held: held}
	}
	s.cur.bc, s.cur.onMaster, s.cur.res = bc, onMaster, res
	return engine.Result{Failure: engine.Ran, Outcome: outcome(res.Status, res.Err == nil)}
}

// failure is the Result of a connection that could not be taken or
// prepared.
func failure(ds *engine.DataSource, err error, held bool) engine.Result {
	switch {
	case errors.Is(err, backend.ErrPoolClosed):
		return engine.Result{Failure: engine.PoolClosed, Err: dsErr(ds, err)}
	case isConnErr(err):
		return engine.Result{Failure: engine.ConnLost, Err: dsErr(ds, err), Held: held}
	}
	return engine.Result{Failure: engine.Failed, Err: dsErr(ds, err)}
}

// Finish records what the statement changed in the session and keeps or
// gives back its connection (engine.Executor).
func (s *session) Finish(u *engine.Unit, cls engine.Class) {
	bc, onMaster, res, p := s.cur.bc, s.cur.onMaster, &s.cur.res, s.cur.p
	if s.cur.roBegin && !onMaster && res.Err == nil && res.Status&wire.StatusInTrans != 0 {
		s.roTx, s.roDS, s.roOpen = bc, u.DS, true // kept by release until it ends
	}
	if cls&engine.Pin != 0 && !s.eng.Pinned() {
		s.unpin() // the statement failed: nothing to keep
	}
	if res.LastInsertID != 0 {
		s.lastInsertID = res.LastInsertID
	}
	if res.Err == nil {
		s.after(bc, cls, p)
	} else {
		s.lastErr = res.Err.Code
	}
	if bc.NewGTID {
		s.noteGTID(bc) // before the next read, whether bc is held or not
	}
	// Hold the connection for SHOW WARNINGS, ROW_COUNT() and
	// FOUND_ROWS(), unless that could make other sessions wait for one.
	if (res.Warnings > 0 || res.Err != nil || cls&(engine.Write|engine.CalcFoundRows) != 0) && s.pinned == nil && !(onMaster && s.eng.NeedsMasterConn()) && bc.Pool().HasSpare() {
		s.held, s.heldMaster = bc, onMaster
	} else {
		s.release(bc, onMaster)
	}
	s.cur.clientOK = res.ClientErr == nil
}

func isRefusedWrite(err error) bool {
	var se *wire.SQLError
	return errors.As(err, &se) && engine.RefusedWrite(se.Code)
}

// demote records that a statement classified as a read writes.
func (s *session) demote(p []byte, st *stmt, cls engine.Class) {
	if st != nil {
		st.class = cls
		s.srv.rt.Cache().Demote([]byte(st.sql))
	} else if p[0] == wire.ComQuery {
		s.srv.rt.Cache().Demote(p[1:])
	}
	s.srv.log.Info("a read that writes was refused by a slave's read-only session and ran on the master", "conn", s.id)
}

// abortTx handles a COMMIT that cannot be routed (circuit breaker, master
// disabled): the open transaction is rolled back on its backend connection
// so that the client, told COMMIT failed, knows nothing was committed.
func (s *session) abortTx(cls engine.Class, err error) error {
	bc := s.pinned
	if cls&engine.EndTx == 0 || cls&engine.Rollback != 0 {
		return err
	}
	if len(s.branches) == 0 && !s.eng.Doomed() && (bc == nil || !s.eng.InTx()) {
		return err
	}
	s.rollbackBranches()
	var rerr error
	if bc != nil && s.eng.InTx() {
		var status uint16
		status, rerr = bc.Exec("ROLLBACK")
		if rerr != nil {
			bc.Broken = true
		}
		s.eng.Done(engine.EndTx|engine.Rollback, true, outcome(status, rerr == nil))
		s.release(bc, true)
	}
	s.eng.RolledBack()
	s.forgetTx()
	var re *engine.Error
	if errors.As(err, &re) {
		if rerr != nil {
			return re.WithSuffix(" (the open transaction was aborted: its connection was closed)")
		}
		return re.WithSuffix(" (the open transaction was rolled back)")
	}
	return err
}

// after records what a successful statement changed in the session.
func (s *session) after(bc *backend.Conn, cls engine.Class, p []byte) {
	if cls&engine.Use != 0 && p[0] == wire.ComQuery {
		if db := engine.UseTarget(string(p[1:])); db != "" {
			s.db, bc.DB = db, db
		}
	}
	if cls&engine.SetSession != 0 && cls&engine.Multi == 0 && p[0] == wire.ComQuery {
		s.setReplay(engine.AppendReplay(s.replay, string(p[1:])))
		bc.StateKey = s.stateKey
		if len(s.replay) > maxReplay || len(s.stateKey) > maxReplayBytes {
			// Too much to replay on every connection change: the session
			// keeps this master connection, whose state is its own.
			if s.pinPool == nil && bc.Pool().PinSession() {
				s.pinPool = bc.Pool()
			}
			s.eng.Pin()
			bc.Tainted = true
		}
	}
	if cls&(engine.Pin|engine.Multi) != 0 {
		// Server-side state only this connection has.
		bc.Tainted = true
	}
}

// acquire returns the connection to run on: the pinned one, or one from
// the data source's pool brought to the session's state.
func (s *session) acquire(ds *engine.DataSource, onMaster bool) (*backend.Conn, error) {
	if s.roTx != nil && !onMaster {
		return s.roTx, nil
	}
	if onMaster {
		if b := s.findBranch(ds); b != nil {
			return b, nil
		}
		if s.atomic || (s.pinned != nil && s.pinned.Pool().Name != ds.Name) {
			return s.join(ds)
		}
	}
	if s.pinned != nil {
		if onMaster {
			return s.pinned, nil
		}
		// Routing sends a pinned session to the master; never reached.
		return nil, errors.New("internal: pinned session routed to a slave")
	}
	bc, err := poolOf(ds).GetFor(context.Background(), s.connFlags(onMaster))
	if err != nil {
		return nil, err
	}
	if err := s.sync(bc); err != nil {
		if _, ok := err.(*wire.SQLError); !ok {
			bc.Broken = true
		}
		bc.Pool().Put(bc)
		return nil, err
	}
	return bc, nil
}

// sync brings a backend connection to this session's state: SET replay and
// default database.
func (s *session) sync(bc *backend.Conn) error {
	if bc.Tainted || bc.StateKey != s.stateKey {
		if bc.Tainted || bc.StateKey != "" {
			if err := bc.ResetSession(); err != nil {
				return err
			}
		}
		if err := bc.Replay(s.replay); err != nil {
			return err
		}
		bc.StateKey = s.stateKey
	}
	db := s.db
	if s.srv.rt.Snapshot().Router != nil {
		// Sharded: each data source's own database holds its actual
		// tables; the client's database name is a logical one.
		db = bc.Pool().Config().Database
	}
	if db != "" && bc.DB != db {
		return bc.InitDB(db)
	}
	return nil
}

// flags are the backend connection options this client asked for.
func (s *session) flags() backend.Flags {
	var f backend.Flags
	if s.caps&wire.ClientFoundRows != 0 {
		f |= backend.FoundRows
	}
	if s.caps&wire.ClientMultiStatements != 0 {
		f |= backend.MultiStatements
	}
	return f
}

// connFlags are the options of a connection for this session: the
// client's, and on a master the commits' GTIDs tracked for causal reads.
func (s *session) connFlags(onMaster bool) backend.Flags {
	f := s.flags()
	if onMaster && s.srv.rt.Snapshot().Config.Props.ReadYourWrites == config.RYWCausal {
		f |= backend.TrackGTID
	}
	return f
}

// noteGTID records, for causal reads, the GTID of a commit the master
// connection bc reported since it was last looked at.
func (s *session) noteGTID(bc *backend.Conn) {
	if !bc.NewGTID {
		return
	}
	bc.NewGTID = false
	if g, err := gtid.Parse(string(bc.GTID)); err == nil {
		s.srv.rt.Committed(&s.eng, bc.Pool().Name, g)
	} else {
		s.srv.log.Warn("causal reads: unreadable last_gtid from the master", "dataSource", bc.Pool().Name, "err", err)
	}
}

// await makes a causal read's slave connection wait until its server
// applied u.Wait, the session's commits (at most props.causalReadTimeout).
// On failure the connection is given back and r says how: Behind (it did
// not come in time: the read goes to the master) or a lost connection.
func (s *session) await(bc *backend.Conn, u *engine.Unit) (r engine.Result, ok bool) {
	timeout := s.srv.rt.Snapshot().Config.Props.CausalReadTimeout
	_, rows, err := bc.QueryNull(engine.WaitSQL(u.Wait, timeout))
	switch {
	case err == nil && len(rows) == 1 && len(rows[0]) == 1 && rows[0][0] != nil && *rows[0][0] == "0":
		u.DS.Health.NoteApplied(u.Wait)
		return engine.Result{}, true
	case err != nil && isConnErr(err):
		bc.Broken = true
		s.release(bc, false)
		return engine.Result{Failure: engine.ConnLost, Err: dsErr(u.DS, err)}, false
	}
	u.DS.Health.NoteBehind()
	s.release(bc, false)
	return engine.Result{Failure: engine.Behind, Err: engine.BehindError(u.DS.Name, u.Wait, timeout, err)}, false
}

// release keeps the connection pinned if the session now needs it, or
// gives it back.
func (s *session) release(bc *backend.Conn, onMaster bool) {
	if bc.NewGTID {
		s.noteGTID(bc)
	}
	if bc == s.roTx {
		if !bc.Broken && s.roOpen {
			return // the read-only transaction goes on there
		}
		s.roTx, s.roDS, s.roOpen = nil, nil, false
	}
	if i := s.branchIndex(bc); i >= 0 {
		s.releaseBranch(i)
		return
	}
	if onMaster && !bc.Broken && s.eng.NeedsMasterConn() {
		s.pinned = bc
		return
	}
	if s.pinned == bc {
		s.pinned = nil
	}
	if bc.Broken && s.pinned == nil {
		// The session lost its transaction with the connection.
		if s.eng.NeedsMasterConn() && len(s.branches) > 0 {
			s.eng.LostBranch(bc.Pool().Name)
		}
		s.eng.LostConn()
	}
	bc.Pool().Put(bc)
}

func (s *session) initDB(db string) bool {
	if err := s.srv.rt.Snapshot().Admit(0); err != nil {
		s.writeErr(err)
		return true
	}
	if err := s.checkDB(db); err != nil {
		s.writeErr(err)
		return true
	}
	s.db = db
	s.writeOK(0, 0)
	return true
}

// checkDB makes sure a database exists, on the pinned connection or the
// master.
func (s *session) checkDB(db string) error {
	if s.pinned != nil {
		return s.pinned.InitDB(db)
	}
	// A read: a slave that cannot be reached (dial failed, or the
	// connection died before the answer) is skipped like for any read.
	at := engine.NewAttempt(s.srv.rt.Snapshot(), engine.Read, &s.eng)
	for {
		plan, err := at.Next(s.units[:0])
		if err != nil {
			return err
		}
		u := &plan.Units[0]
		bc, err := poolOf(u.DS).Get(context.Background())
		if err == nil {
			err = bc.InitDB(db)
			bc.Pool().Put(bc)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, backend.ErrPoolClosed) && at.Resnap(s.srv.rt.Snapshot()):
		case isConnErr(err) && at.Retry(u, false, err):
		default:
			return dsErr(u.DS, err)
		}
	}
}

func (s *session) statistics(p []byte) bool {
	plan, err := s.srv.rt.Snapshot().Plan(s.units[:0], engine.Write, &s.eng, nil)
	if err != nil {
		s.writeErr(err)
		return true
	}
	ds := plan.Units[0].DS
	bc, err := s.acquire(ds, true)
	if err != nil {
		s.writeErr(dsErr(ds, err))
		return true
	}
	defer s.release(bc, true)
	if err := bc.WriteCommand(p); err != nil {
		bc.Broken = true
		s.writeErr(dsErr(ds, err))
		return true
	}
	r, err := bc.ReadPacket()
	if err != nil {
		bc.Broken = true
		s.writeErr(dsErr(ds, err))
		return true
	}
	s.c.WritePacket(r)
	return true
}

func (s *session) resetConnection() {
	s.releaseHeld()
	s.dropReadOnly()
	s.resetBranches()
	s.forgetTx()
	if bc := s.pinned; bc != nil {
		s.pinned = nil
		bc.ResetSession()
		bc.Pool().Put(bc)
	}
	s.unpin()
	s.eng.Reset()
	s.lastInsertID = 0
	s.setReplay(nil)
	if names := s.srv.setNames(s.collation); names != "" {
		s.setReplay([]string{names})
	}
	s.db = s.initialDB
	clear(s.stmts)
}

func (s *session) setReplay(r []string) {
	s.replay = r
	s.stateKey = strings.Join(r, ";\n")
}

func (s *session) status() uint16 {
	var st uint16
	if !s.eng.AutocommitOff() {
		st |= wire.StatusAutocommit
	}
	if s.eng.InTx() {
		st |= wire.StatusInTrans
	}
	return st
}

func (s *session) writeOK(affected, lastID uint64) {
	s.buf = wire.AppendOK(s.buf[:0], affected, lastID, s.status(), 0)
	s.c.WritePacket(s.buf)
}

// writeErr sends an error: a server's own, or shardgate's.
func (s *session) writeErr(err error) {
	se := sqlError(err)
	s.lastErr = se.Code
	s.buf = wire.AppendError(s.buf[:0], se)
	s.c.WritePacket(s.buf)
}

// fail sends an error during the handshake and flushes it.
func (s *session) fail(err error) {
	s.writeErr(err)
	s.c.Flush()
}

func (srv *Server) showSQL() bool { return srv.rt.Snapshot().Config.Props.SQLShow }

// outcome is the engine's reading of a master's final status flags.
func outcome(status uint16, ok bool) engine.Outcome {
	return engine.Outcome{OK: ok, InTx: status&wire.StatusInTrans != 0, AutocommitOff: status&wire.StatusAutocommit == 0}
}

// isConnErr: not a server's SQL error, so another server may do better.
func isConnErr(err error) bool {
	var se *wire.SQLError
	return !errors.As(err, &se)
}

// dsErr names the data source in errors that are not the server's own.
func dsErr(ds *engine.DataSource, err error) error {
	var se *wire.SQLError
	if errors.As(err, &se) {
		return se
	}
	var ee *engine.Error
	if errors.As(err, &ee) {
		return ee
	}
	code := uint16(2013) // CR_SERVER_LOST: the connection failed
	if oe := (*net.OpError)(nil); errors.As(err, &oe) && oe.Op == "dial" {
		code = 2003 // CR_CONN_HOST_ERROR: no connection was made
	}
	return &wire.SQLError{Code: code, State: "HY000", Message: "shardgate: data source " + ds.Name + ": " + err.Error()}
}
