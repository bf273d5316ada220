package engine

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/gtid"
	"github.com/shardgate/shardgate/sharding"
)

// MySQL error codes shardgate itself returns.
const (
	// ErrCodeUnavailable: the statement cannot run now (instance or data
	// source disabled, no reachable data source). ER_UNKNOWN_ERROR-like.
	ErrCodeUnavailable = 1105
)

// Server error codes by which a slave's read-only session refuses a write
// (ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, ER_OPTION_PREVENTS_STATEMENT):
// a statement classified as a read that gets one runs on the master.
const (
	ErrCodeReadOnlyTx     = 1792
	ErrCodeReadOnlyServer = 1290
)

// RefusedWrite reports whether a server error code is a read-only refusal.
func RefusedWrite(code uint16) bool {
	return code == ErrCodeReadOnlyTx || code == ErrCodeReadOnlyServer
}

// LastInsertIDSQL gives a backend connection the session's last insert
// id, before a statement that reads LAST_INSERT_ID() runs there.
func LastInsertIDSQL(id uint64) string {
	return "DO LAST_INSERT_ID(" + strconv.FormatUint(id, 10) + ")"
}

// Kinds of engine errors, matched with errors.Is against an *Error.
var (
	// ErrInstanceDisabled: the instance's registry node holds DISABLED
	// (circuit breaker). Every statement but a rollback fails with it.
	ErrInstanceDisabled = errors.New("shardgate: instance disabled (circuit breaker)")
	// ErrMasterDisabled: the master data source is disabled; statements
	// that need it fail, reads keep going to the slaves.
	ErrMasterDisabled = errors.New("shardgate: master data source disabled")
	// ErrNoDataSource: no data source can run the statement.
	ErrNoDataSource = errors.New("shardgate: no data source available")
	// ErrUnsupported: the statement cannot be planned.
	ErrUnsupported = errors.New("shardgate: statement not supported")
	// ErrTxAborted: the session's cross-node transaction lost part of its
	// work (a branch's connection, or a statement that ran on some of its
	// nodes only); it can only be rolled back.
	ErrTxAborted = errors.New("shardgate: transaction aborted")
)

// ErrCodeTxAborted is ER_XA_RBROLLBACK ("transaction branch was rolled
// back"), SQLSTATE XA100.
const ErrCodeTxAborted = 1402

// ErrCodeUnsupported is ER_NOT_SUPPORTED_YET.
const ErrCodeUnsupported = 1235

// Error is an engine error, sent to a client as a MySQL error with Code
// and SQLState; errors.Is matches its kind.
type Error struct {
	Kind     error
	Code     uint16
	SQLState string
	Message  string
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// WithSuffix is the same error with more said at the end of its message.
func (e *Error) WithSuffix(s string) *Error {
	c := *e
	c.Message += s
	return &c
}

// Unit is one execution unit of a plan: a data source of a group and the
// statement to run there (nil SQL: the statement as received).
type Unit struct {
	Group *Group
	DS    *DataSource
	SQL   []byte
	// Args: SQL (when set) still holds the statement's parameters; false:
	// it was built with their values in it, and runs without them.
	Args bool
	// Wait (causal reads): the slave must first have applied this
	// position; the executor waits for it (MASTER_GTID_WAIT, at most
	// props.causalReadTimeout) and reports Behind when it does not come.
	Wait gtid.Pos
}

// Combine says how the results of a plan's units make the client's answer.
type Combine uint8

const (
	// PassThrough: one unit, whose answer goes to the client as it is.
	PassThrough Combine = iota
	// Merged: the units' answers are gathered and merged by Merge (rows
	// sorted, limited, aggregates folded; affected rows added).
	Merged
)

// Plan is how a statement runs: its units, and how their results combine.
type Plan struct {
	Units   []Unit
	Combine Combine
	// Merge says how (Merged plans).
	Merge *sharding.Merge
	// Write: a sharded statement that changes data or schema.
	Write bool
}

// Admit is the check every statement passes before it is planned: the
// circuit breaker (everything but a rollback fails while the instance is
// disabled).
func (snap *Snapshot) Admit(c Class) error {
	if snap.State.InstanceDisabled && c&Rollback == 0 {
		return &Error{Kind: ErrInstanceDisabled, Code: ErrCodeUnavailable, SQLState: "HY000", Message: fmt.Sprintf(
			"shardgate: this instance is disabled by registry node %s (circuit breaker); statement rejected. "+
				"Write an empty value to that node, or delete it, to enable the instance again", snap.State.InstancePath)}
	}
	return nil
}

// Plan appends to dst the units for a statement of class c in session s
// and returns the plan. tried holds the data sources a previous attempt of
// the same statement already failed on.
func (snap *Snapshot) Plan(dst []Unit, c Class, s *Session, tried *Tried) (Plan, error) {
	return snap.plan(dst, c, s, tried, nil, false)
}

// plan is Plan, on a sharded route when r is not nil.
func (snap *Snapshot) plan(dst []Unit, c Class, s *Session, tried *Tried, r *sharding.Route, branches bool) (Plan, error) {
	if err := snap.Admit(c); err != nil {
		return Plan{Units: dst}, err
	}
	if s.doomed != "" && c&Rollback == 0 {
		return Plan{Units: dst}, &Error{Kind: ErrTxAborted, Code: ErrCodeTxAborted, SQLState: "XA100", Message: "shardgate: " + s.doomed +
			"; the transaction cannot go on and is rolled back by the next ROLLBACK or COMMIT"}
	}
	if r != nil {
		return snap.planRoute(dst, c, s, tried, r, branches)
	}
	g := snap.Default
	ds, err := g.pick(snap.Config, c, s, tried)
	if err != nil {
		return Plan{Units: dst}, err
	}
	return Plan{Units: append(dst, Unit{Group: g, DS: ds, Wait: s.waitFor(ds)})}, nil
}

// planRoute gives each unit of a sharded route a data source of its group.
// branches: the front end can run a transaction on several groups (a
// Brancher); else one holding a master connection stays on its group.
func (snap *Snapshot) planRoute(dst []Unit, c Class, s *Session, tried *Tried, r *sharding.Route, branches bool) (Plan, error) {
	p := Plan{Units: dst, Write: r.Write}
	// State tied to one connection (temporary tables, locks, SET
	// TRANSACTION for the next one) cannot follow a statement elsewhere.
	oneConn := s.pinned || s.nextTx || (!branches && s.NeedsMasterConn())
	if len(r.Units) > 1 || r.Merge.Kind != sharding.One {
		p.Combine, p.Merge = Merged, &r.Merge
		if oneConn {
			return p, &Error{Kind: ErrUnsupported, Code: ErrCodeUnsupported, SQLState: "42000", Message: fmt.Sprintf(
				"shardgate: this statement runs on %d data nodes, and %s; run it outside, or route it to one node with its sharding key", len(r.Units), oneConnReason(s))}
		}
	}
	for i := range r.Units {
		ru := &r.Units[i]
		g := snap.byGroup[ru.Target]
		if g == nil {
			return p, &Error{Kind: ErrNoDataSource, Code: ErrCodeUnavailable, SQLState: "HY000", Message: fmt.Sprintf(
				"shardgate: data node %s is neither a master/slave group nor a data source", ru.Target)}
		}
		if oneConn && s.txGroup != nil && s.txGroup.Name != g.Name {
			return p, &Error{Kind: ErrUnsupported, Code: ErrCodeUnsupported, SQLState: "42000", Message: fmt.Sprintf(
				"shardgate: the session's transaction (or session state) is on %s, this statement routes to %s, and %s", s.txGroup.Name, g.Name, oneConnReason(s))}
		}
		ds, err := g.pick(snap.Config, c, s, tried)
		if err != nil {
			return p, err
		}
		p.Units = append(p.Units, Unit{Group: g, DS: ds, SQL: []byte(ru.SQL), Args: ru.Args, Wait: s.waitFor(ds)})
	}
	return p, nil
}

// oneConnReason says why a session's statement cannot leave its master
// connection's group.
func oneConnReason(s *Session) string {
	switch {
	case s.pinned:
		return "the session holds state on one connection (temporary tables, user locks, LOCK TABLES, SQL PREPARE, XA): cross-node transactions cannot carry it"
	case s.nextTx:
		return "a SET TRANSACTION waits on one connection for the next transaction: cross-node transactions cannot carry it"
	}
	return "this front end does not run cross-node transactions (it is no engine.Brancher)"
}

// pick chooses the group's data source for a statement: a usable slave for
// a plain read outside a transaction, else the master.
func (g *Group) pick(cfg *config.Config, c Class, s *Session, tried *Tried) (*DataSource, error) {
	if c&Read != 0 && !s.NeedsMasterConn() && !s.readsFromMaster(cfg) && len(g.Slaves) > 0 {
		var t Tried
		if tried != nil {
			t = *tried
		}
		if ds := g.balance.Next(g.Slaves, t); ds != nil {
			if s.marks != nil {
				return g.causal(ds, s.causalPos(g.Master.Name), &t), nil
			}
			return ds, nil
		}
		// No healthy slave: the master, unless it cannot take the read
		// either; then a slave that answers, stale (replication stopped or
		// behind) rather than no answer.
		if m := g.Master; m.Disabled || !m.Health.Reachable() || t.Has(m) {
			for _, ds := range g.Slaves {
				if !ds.Disabled && ds.Health.Reachable() && !t.Has(ds) {
					return ds, nil
				}
			}
		}
	}
	// No slave left: reads go to the master.
	m := g.Master
	if m.Disabled {
		return nil, &Error{Kind: ErrMasterDisabled, Code: ErrCodeUnavailable, SQLState: "HY000", Message: fmt.Sprintf(
			"shardgate: master data source %s is disabled by registry node %s; statement rejected. "+
				"Write an empty value to that node, or delete it, to enable it again", m.Name, m.DisabledPath)}
	}
	if tried.Has(m) {
		return nil, &Error{Kind: ErrNoDataSource, Code: ErrCodeUnavailable, SQLState: "HY000", Message: fmt.Sprintf(
			"shardgate: master data source %s failed and no other data source can run the statement", m.Name)}
	}
	return m, nil
}

// causal is the slave for a read that must see position p (nil: any):
// ds, the balancer's choice, when it is known to have applied p, else
// another usable slave that is, else one where no wait timed out lately
// (ds first), else ds. The read waits there for p.
func (g *Group) causal(ds *DataSource, p gtid.Pos, t *Tried) *DataSource {
	if p == nil || ds.Health.Applied(p) {
		return ds
	}
	now := time.Now()
	var fresh *DataSource
	if !ds.Health.wasBehind(now) {
		fresh = ds
	}
	for _, o := range g.Slaves {
		if o == ds || !usable(o, t) {
			continue
		}
		if o.Health.Applied(p) {
			return o
		}
		if fresh == nil && !o.Health.wasBehind(now) {
			fresh = o
		}
	}
	if fresh != nil {
		return fresh
	}
	return ds
}

// usable: a slave that may get a read now.
func usable(ds *DataSource, tried *Tried) bool {
	return !ds.Disabled && ds.Health.Healthy() && !tried.Has(ds)
}

// Tried is the set of data sources one statement already failed on. The
// zero value is empty; it allocates only past 64 data sources.
type Tried struct {
	bits uint64
	more []uint64
}

// Has reports whether ds is in the set (a nil set is empty).
func (t *Tried) Has(ds *DataSource) bool {
	if t == nil {
		return false
	}
	i := ds.ID
	if i < 64 {
		return t.bits&(1<<uint(i)) != 0
	}
	w := i/64 - 1
	return w < len(t.more) && t.more[w]&(1<<uint(i%64)) != 0
}

// Add puts ds in the set.
func (t *Tried) Add(ds *DataSource) {
	i := ds.ID
	if i < 64 {
		t.bits |= 1 << uint(i)
		return
	}
	w := i/64 - 1
	for len(t.more) <= w {
		t.more = append(t.more, 0)
	}
	t.more[w] |= 1 << uint(i%64)
}

// Session is one client session's routing state, private to the engine:
// front ends report what statements did (Done, with a neutral Outcome)
// and ask what it implies.
type Session struct {
	// txGroup is the group whose master connection the session holds
	// (while NeedsMasterConn).
	txGroup       *Group
	inTx          bool
	autocommitOff bool
	pinned        bool
	nextTx        bool
	wrote         bool
	// doomed says why the transaction can only be rolled back ("" while
	// it can go on).
	doomed string
	// writeAt is when the last write finished, for read-your-writes window.
	writeAt time.Time
	// marks are, per master, the position of the session's commits there
	// (readYourWrites: causal; nil until the first).
	marks []mark
	// sharedVersion is the runtime's shared commits last caught up with.
	sharedVersion uint64
}

// mark is what a session committed on one master.
type mark struct {
	master string
	pos    gtid.Pos
}

// Committed records that the session's commit on master got GTID g (a
// causal read after it waits for g on a slave of that master). Front ends
// call Runtime.Committed, which also shares it in scope instance.
func (s *Session) Committed(master string, g gtid.GTID) {
	for i := range s.marks {
		if s.marks[i].master == master {
			s.marks[i].pos = s.marks[i].pos.With(g)
			return
		}
	}
	s.marks = append(s.marks, mark{master: master, pos: gtid.Pos{g}})
}

// causalPos is the position a read of master's group must see.
func (s *Session) causalPos(master string) gtid.Pos {
	for i := range s.marks {
		if s.marks[i].master == master {
			return s.marks[i].pos
		}
	}
	return nil
}

// waitFor is what a read on slave ds waits for first: the session's
// commits on its master that ds is not known to have applied.
func (s *Session) waitFor(ds *DataSource) gtid.Pos {
	if s.marks == nil || ds.Group == nil || ds.IsMaster() {
		return nil
	}
	p := s.causalPos(ds.Group.Master.Name)
	if p == nil || ds.Health.Applied(p) {
		return nil
	}
	return p
}

// Outcome is how a statement that ran on a master ended, as its server
// reported it.
type Outcome struct {
	// OK: it succeeded (the server's final packet was OK/EOF, not an error).
	OK bool
	// InTx: a transaction is open after it; AutocommitOff: autocommit is
	// off. Read only when OK.
	InTx, AutocommitOff bool
}

// NeedsMasterConn reports whether the session holds on to one master
// connection between statements.
func (s *Session) NeedsMasterConn() bool { return s.inTx || s.autocommitOff || s.pinned || s.nextTx }

// InTx: the master connection reported a transaction open.
func (s *Session) InTx() bool { return s.inTx }

// AutocommitOff: the master connection reported autocommit off.
func (s *Session) AutocommitOff() bool { return s.autocommitOff }

// Pinned: temporary tables, user locks, LOCK TABLES, SQL PREPARE or state
// too large to replay tied the session to its master connection for good.
func (s *Session) Pinned() bool { return s.pinned }

func (s *Session) readsFromMaster(cfg *config.Config) bool {
	if !s.wrote {
		return false
	}
	switch cfg.Props.ReadYourWrites {
	case config.RYWSession:
		return true
	case config.RYWCausal:
		// Writes whose commits reported no GTID (not tracked, binary
		// log off): the master, as in mode session.
		return s.marks == nil
	case config.RYWWindow:
		return time.Since(s.writeAt) < cfg.Props.ReadYourWritesWindow
	}
	return false
}

// Done records the outcome of a statement of class c; onMaster: it ran on
// a master (what ran on a slave changes nothing).
func (s *Session) Done(c Class, onMaster bool, o Outcome) {
	if !onMaster {
		return
	}
	if c&EndTx != 0 && c&Savepoint == 0 && (o.OK || !o.InTx) {
		s.doomed = "" // rolled back (or committed) whatever the transaction held
	}
	s.nextTx = c&NextTx != 0 && o.OK
	if !o.OK {
		return
	}
	s.inTx, s.autocommitOff = o.InTx, o.AutocommitOff
	if c&Pin != 0 {
		s.pinned = true
	}
	if c&Write != 0 {
		s.wrote = true
		s.writeAt = time.Now()
	}
	if !s.NeedsMasterConn() {
		s.txGroup = nil
	}
}

// on records the group of the master connection a statement ran on.
func (s *Session) on(g *Group) {
	if !s.NeedsMasterConn() {
		s.txGroup = nil
	} else if s.txGroup == nil {
		s.txGroup = g
	}
}

// Doom records that the transaction lost part of its work (why says
// what): every statement but ROLLBACK fails until it ends. ROLLBACK, or a
// COMMIT (refused, which the front end turns into a rollback), ends it.
func (s *Session) Doom(why string) {
	if s.doomed == "" {
		s.doomed = why
	}
}

// LostBranch dooms the transaction because its connection to data source
// ds died (the server rolled its part there back).
func (s *Session) LostBranch(ds string) {
	s.Doom("the transaction's connection to " + ds + " was lost (its part there is rolled back)")
}

// Doomed reports whether the transaction can only be rolled back.
func (s *Session) Doomed() bool { return s.doomed != "" }

// RolledBack records that the front end rolled the transaction back on
// its own (a COMMIT that could not run): no transaction is open.
func (s *Session) RolledBack() {
	s.inTx, s.doomed = false, ""
	if !s.NeedsMasterConn() {
		s.txGroup = nil
	}
}

// Pin ties the session to its current master connection for good (state
// that cannot be replayed elsewhere).
func (s *Session) Pin() { s.pinned = true }

// LostConn records that the session's master connection died: whatever
// transaction it had is gone with it.
func (s *Session) LostConn() {
	s.inTx, s.autocommitOff = false, false
	if !s.NeedsMasterConn() {
		s.txGroup = nil
	}
}

// Reset forgets everything (COM_RESET_CONNECTION, COM_CHANGE_USER).
func (s *Session) Reset() { *s = Session{} }

// PrepareTarget is where a prepared statement on sharded or broadcast
// tables is prepared for its metadata (parameter and column definitions):
// the data source of its first data node, as a statement of class c in
// session s would pick it, and the statement's text there. sharded false:
// the statement names no rule table (it prepares as any other).
func (snap *Snapshot) PrepareTarget(c Class, s *Session, sql string) (ds *DataSource, text string, sharded bool, err error) {
	if snap.Router == nil {
		return nil, "", false, nil
	}
	if err := snap.Admit(c); err != nil {
		return nil, "", true, err
	}
	target, text, ok, err := snap.Router.Prepare(sql)
	if !ok {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", true, ShardingError(err)
	}
	g := snap.byGroup[target]
	if g == nil {
		return nil, "", true, &Error{Kind: ErrNoDataSource, Code: ErrCodeUnavailable, SQLState: "HY000", Message: fmt.Sprintf(
			"shardgate: data node %s is neither a master/slave group nor a data source", target)}
	}
	ds, err = g.pick(snap.Config, c, s, nil)
	return ds, text, true, err
}
