package engine

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shardgate/shardgate/gtid"
	"github.com/shardgate/shardgate/sharding"
)

// Executor runs a plan's units over a front end's transport: the proxy's
// over the MySQL wire protocol (relaying the answer to its client), the
// driver's over database/sql. Run calls it; it is the seam where sharding
// runs several units and merges their answers.
type Executor interface {
	// Execute runs u for a statement of class c and reports how it went.
	Execute(u *Unit, c Class) Result
	// Finish completes a unit that ran, once the session has recorded its
	// outcome (the front end keeps or gives back the connection).
	Finish(u *Unit, c Class)
	// Gather runs u of a merged plan and returns its whole answer, sent
	// to no one; the connection goes back to its pool. A result set of
	// more than maxRows rows fails (Result.Err).
	Gather(u *Unit, c Class, maxRows int) (Answer, Result)
	// Write sends a merged answer to the client.
	Write(a *Answer)
}

// Brancher is an Executor that runs cross-node transactions: inside the
// session's transaction a statement for another group runs on that
// group's master in a branch transaction of its own, begun as the
// session's was and ended with it (the front end sends the client's
// COMMIT or ROLLBACK to every branch). Outside one, a write on several
// nodes runs atomically: BeginAtomic, the units (Gather, each master
// connection in a transaction), then EndAtomic commits them all, or rolls
// them all back. There is no two-phase commit: a COMMIT that fails on one
// branch after others committed leaves those committed, and the error says
// which.
type Brancher interface {
	Executor
	BeginAtomic()
	// EndAtomic ends what BeginAtomic began; the error (commit only) says
	// where the write was committed and where not.
	EndAtomic(commit bool) error
	// BeginStatement and EndStatement bracket a write on several nodes
	// inside the session's transaction: each connection its units take
	// sets a savepoint first, and EndStatement(false) rolls each back to
	// it, so a statement that fails on one node leaves nothing on the
	// others and the transaction goes on, as one server undoes a failed
	// statement. An error: it could not (the transaction is doomed).
	BeginStatement()
	EndStatement(ok bool) error
}

// Batcher is an Executor that runs units of a merged write on different
// connections at once (GatherMany): every unit's statement is sent before
// any answer is read, so the nodes work in parallel. It returns -1 when
// every unit has its Answer and Result in out and res (ran, or failed on
// its own); or the index of a unit it could not start (res says why),
// having sent none of them.
type Batcher interface {
	GatherMany(us []*Unit, c Class, out []Answer, res []Result) (notStarted int)
}

// Streamer is an Executor that streams a merged read whose rows merge
// one at a time (sharding.Merge.Streams) to the client as the units'
// rows arrive: a k-way merge under ORDER BY, else one unit after the
// other, holding one row per unit, so memory does not grow with the rows.
// It returns the Result (Ran once an answer, rows or a node's error,
// reached the client) and, for a failure that allows another attempt, the
// index of the unit that failed; streamed false: it did nothing, the plan
// is gathered (units sharing a connection, inside a transaction).
type Streamer interface {
	Stream(plan *Plan, c Class) (failed int, r Result, streamed bool)
}

// ErrCodeCommit is ER_ERROR_DURING_COMMIT: a cross-node COMMIT (or an
// atomic write's) failed on a node.
const ErrCodeCommit = 1180

// CommitError is the client's error for a cross-node COMMIT (what: "COMMIT",
// or "the write" of an atomic one) that failed on node with err;
// committed and rolled name where it did and did not commit (committed
// empty: rolled back everywhere).
func CommitError(what, node string, err error, committed, rolled []string) error {
	msg := fmt.Sprintf("shardgate: %s failed on %s (%v): rolled back on every node", what, node, err)
	if len(committed) > 0 {
		msg = fmt.Sprintf("shardgate: %s failed on %s (%v) after it committed on %s: committed there and rolled back on %s (no two-phase commit; see docs/sharding.md)",
			what, node, err, strings.Join(committed, ", "), strings.Join(rolled, ", "))
	}
	return &Error{Kind: ErrTxAborted, Code: ErrCodeCommit, SQLState: "HY000", Message: msg}
}

// Answer is a unit's whole answer (Gather), or the merged answer of a plan
// (Write): a result set when Cols is set, else an OK.
type Answer struct {
	Cols []sharding.Column
	// Defs are the front end's own descriptions of the columns (the
	// proxy's column definition packets), written back as they came.
	Defs [][]byte
	Rows [][][]byte
	// Visible is how many columns the client sees (the rest were added
	// for ORDER BY).
	Visible            int
	Affected, InsertID uint64
	Warnings           uint16
	// Outcome is how the statement ended on a master, as its server
	// reported it (Gather).
	Outcome Outcome
}

// Failure says how a unit's run ended, in the terms retries are decided on.
type Failure uint8

const (
	// Ran: the statement ran; its answer (rows, OK, or the server's own
	// error) is the client's.
	Ran Failure = iota
	// Failed: it did not run; Result.Err is for the client.
	Failed
	// ConnLost: the connection failed before any of the answer reached
	// the client; a read may run elsewhere.
	ConnLost
	// Stale: the pooled connection was found dead before the statement was
	// sent; any statement may run again on a fresh one.
	Stale
	// Refused: a slave's read-only session refused it (a read that
	// writes); it runs on the master.
	Refused
	// PoolClosed: a config change closed the unit's pool under it; the
	// statement is planned again on the new snapshot.
	PoolClosed
	// CutOff: the connection failed after part of the answer reached the
	// client, which cannot recover; Result.Err says so.
	CutOff
	// Behind: a causal read's slave did not apply the session's commits
	// (Unit.Wait) in time; the read runs on the master.
	Behind
)

// WaitSQL is the statement that waits, on a slave, until it applied p
// (at most timeout): it answers one row, 0 once applied, -1 on timeout.
func WaitSQL(p gtid.Pos, timeout time.Duration) string {
	return "SELECT MASTER_GTID_WAIT('" + p.String() + "', " + strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64) + ")"
}

// BehindError says why a causal read left slave ds (err: the wait's own
// failure, nil on a timeout); the client sees it only when the master
// cannot take the read either.
func BehindError(ds string, p gtid.Pos, timeout time.Duration, err error) error {
	why := fmt.Sprintf("had not applied %s within props.causalReadTimeout %v", p, timeout)
	if err != nil {
		why = fmt.Sprintf("could not wait for %s (%v)", p, err)
	}
	return &Error{Kind: ErrNoDataSource, Code: ErrCodeUnavailable, SQLState: "HY000", Message: "shardgate: slave " + ds + " " + why}
}

// Result is one unit's run as its Executor reports it.
type Result struct {
	Failure Failure
	// Err is what to tell the client when the statement does not run in
	// the end (nil with Ran).
	Err error
	// Held: the session held the connection (state only it has), so a
	// failure on it is never retried elsewhere.
	Held bool
	// Outcome is how a statement that ran on a master ended.
	Outcome Outcome
}

// ErrCutOff is matched (errors.Is) by the error Run returns when an answer
// was cut off after part of it reached the client.
var ErrCutOff = errors.New("shardgate: the answer was cut off after part of it reached the client")

// Run plans a statement of class c for session s on the current snapshot
// and runs it through x, planning again (other data source, new snapshot,
// the master) as long as a failure allows; the session records the
// outcome. It returns nil once the statement ran, else the error for the
// client: a plan's (an *Error), the executor's, or one matching ErrCutOff.
// buf is the unit buffer plans are built in.
func (r *Runtime) Run(c Class, sql []byte, args []any, s *Session, x Executor, buf []Unit) error {
	at := NewAttempt(r.Snapshot(), c, s)
	if c&Read != 0 {
		r.catchUp(at.snap, s)
	}
	_, at.branches = x.(Brancher)
	if err := at.Route(sql, args); err != nil {
		return err
	}
	for {
		plan, err := at.Next(buf[:0])
		if err != nil {
			return err
		}
		if plan.Combine == Merged {
			// A copy of its own: taking plan's address would move it to
			// the heap for every statement.
			mp := plan
			retry, err := r.runMerged(&at, &mp, x)
			if retry {
				continue
			}
			return err
		}
		u := &plan.Units[0]
		cls := at.Class()
		res := x.Execute(u, cls)
		switch res.Failure {
		case Ran:
			s.Done(cls, u.DS.IsMaster(), res.Outcome)
			s.on(u.Group)
			x.Finish(u, cls)
			return nil
		case ConnLost:
			if at.Retry(u, res.Held, res.Err) {
				continue
			}
		case Stale:
			if at.Stale(res.Held, res.Err) {
				continue
			}
		case Refused:
			if cls&Read != 0 {
				at.Refused()
				continue
			}
		case Behind:
			at.Behind(u, res.Err)
			continue
		case PoolClosed:
			if at.Resnap(r.Snapshot()) {
				continue
			}
		}
		return res.Err
	}
}

// runMerged gathers every unit's answer, merges them and writes the
// result. Nothing reaches the client before the merge, so a read may be
// planned again after any connection failure; a write only while none of
// its units ran (retry: plan again).
func (r *Runtime) runMerged(at *Attempt, plan *Plan, x Executor) (retry bool, err error) {
	cls, s, m := at.Class(), at.s, plan.Merge
	if sx, ok := x.(Streamer); ok && !plan.Write && m.Streams() {
		i, res, streamed := sx.Stream(plan, cls)
		switch {
		case !streamed:
			break
		case res.Failure == Ran:
			s.Done(cls, plan.Units[0].DS.IsMaster(), res.Outcome)
			return false, nil
		case res.Failure == ConnLost:
			return at.Retry(&plan.Units[i], false, res.Err), res.Err
		case res.Failure == Stale:
			return at.Stale(false, res.Err), res.Err
		case res.Failure == Refused:
			at.Refused()
			return true, nil
		case res.Failure == Behind:
			at.Behind(&plan.Units[i], res.Err)
			return true, nil
		case res.Failure == PoolClosed:
			return at.Resnap(r.Snapshot()), res.Err
		default:
			return false, res.Err
		}
	}
	// A write on several nodes outside a transaction runs in one on each
	// (when the front end can); inside one, in the session's branches.
	bx, atomic := x.(Brancher)
	atomic = atomic && plan.Write && len(plan.Units) > 1 && !s.NeedsMasterConn()
	inTx := plan.Write && s.NeedsMasterConn()
	if atomic {
		bx.BeginAtomic()
	}
	undo := inTx && len(plan.Units) > 1 && bx != nil
	if undo {
		bx.BeginStatement()
	}
	answers := make([]Answer, 0, len(plan.Units))
	ran := make([]int, 0, len(plan.Units)) // the units answers are of
	for _, round := range rounds(plan, x) {
		fail, res := -1, Result{}
		if len(round) == 1 {
			a, r := x.Gather(round[0], cls, m.MaxRows)
			if r.Failure == Ran {
				answers, ran = append(answers, a), append(ran, unitIndex(plan, round[0]))
			} else {
				fail, res = unitIndex(plan, round[0]), r
			}
		} else {
			out, rs := make([]Answer, len(round)), make([]Result, len(round))
			if j := x.(Batcher).GatherMany(round, cls, out, rs); j >= 0 {
				fail, res = unitIndex(plan, round[j]), rs[j]
			} else {
				for j := range round {
					if rs[j].Failure == Ran {
						answers, ran = append(answers, out[j]), append(ran, unitIndex(plan, round[j]))
					} else if fail < 0 {
						fail, res = unitIndex(plan, round[j]), rs[j]
					}
				}
			}
		}
		if fail < 0 {
			continue
		}
		u := &plan.Units[fail]
		if atomic {
			// Nothing of the write stays: it may run again, or fails
			// with the node's own error.
			bx.EndAtomic(false)
			answers, ran = answers[:0], ran[:0]
		}
		if undo {
			// A node refused its part (a duplicate key, say): undone
			// everywhere, the node's own error, the transaction goes on.
			// A lost connection lost part of the transaction: doomed.
			if bx.EndStatement(false) == nil && res.Failure == Failed {
				return false, res.Err
			}
		}
		if len(answers) == 0 || !plan.Write {
			switch res.Failure {
			case ConnLost:
				if !plan.Write && at.Retry(u, false, res.Err) {
					return true, nil
				}
			case Stale:
				if at.Stale(false, res.Err) {
					return true, nil
				}
			case Refused:
				if cls&Read != 0 {
					at.Refused()
					return true, nil
				}
			case Behind:
				at.Behind(u, res.Err)
				return true, nil
			case PoolClosed:
				if at.Resnap(r.Snapshot()) {
					return true, nil
				}
			}
		}
		if len(answers) > 0 && plan.Write {
			err := partial(plan, ran, fail, res.Err)
			if inTx {
				s.Doom(err.Error())
			}
			return false, err
		}
		return false, res.Err
	}
	if atomic {
		if err := bx.EndAtomic(true); err != nil {
			return false, err
		}
	}
	if undo {
		bx.EndStatement(true)
	}
	out := Answer{}
	switch m.Kind {
	case sharding.Rows:
		first := &answers[0]
		sets := make([][][][]byte, len(answers))
		for i := range answers {
			if len(answers[i].Cols) != len(first.Cols) {
				return false, &Error{Kind: ErrUnsupported, Code: ErrCodeUnsupported, SQLState: "42000", Message: fmt.Sprintf(
					"shardgate: data nodes answered with %d and %d columns; their tables differ", len(first.Cols), len(answers[i].Cols))}
			}
			sets[i] = answers[i].Rows
			out.Warnings += answers[i].Warnings
		}
		rows, err := m.MergeRows(first.Cols, sets)
		if err != nil {
			return false, ShardingError(err)
		}
		out.Cols, out.Defs, out.Rows, out.Visible = first.Cols, first.Defs, rows, m.Visible(len(first.Cols))
	case sharding.Same:
		out = answers[0]
	default:
		for i := range answers {
			out.Affected += answers[i].Affected
			out.Warnings += answers[i].Warnings
			if out.InsertID == 0 {
				out.InsertID = answers[i].InsertID
			}
		}
		if m.InsertID != 0 {
			out.InsertID = uint64(m.InsertID)
		}
	}
	// The session's transaction state is its units' (any still in a
	// transaction keeps the session in one).
	o := Outcome{OK: true}
	for i := range answers {
		o.InTx = o.InTx || answers[i].Outcome.InTx
		o.AutocommitOff = o.AutocommitOff || answers[i].Outcome.AutocommitOff
	}
	if atomic {
		o.InTx = false // its own transactions, committed by EndAtomic
	}
	s.Done(cls, plan.Units[0].DS.IsMaster(), o)
	x.Write(&out)
	return false, nil
}

// rounds orders a merged plan's units for Gather: one after the other,
// or, for a write through a Batcher, in rounds of units on different
// groups (each group's connection takes one unit a round), run at once.
func rounds(plan *Plan, x Executor) [][]*Unit {
	out := make([][]*Unit, 0, len(plan.Units))
	if _, ok := x.(Batcher); !ok || !plan.Write || plan.Merge.Kind == sharding.Rows {
		for i := range plan.Units {
			out = append(out, []*Unit{&plan.Units[i]})
		}
		return out
	}
	seen := map[string]int{} // units of each group placed so far
	for i := range plan.Units {
		u := &plan.Units[i]
		r := seen[u.DS.Name]
		seen[u.DS.Name] = r + 1
		if r == len(out) {
			out = append(out, nil)
		}
		out[r] = append(out[r], u)
	}
	return out
}

func unitIndex(plan *Plan, u *Unit) int {
	for i := range plan.Units {
		if &plan.Units[i] == u {
			return i
		}
	}
	return -1
}

// partial is the error of a write that ran on some of its nodes (the
// units ran) and failed on another (unit failed): the client learns which
// nodes keep its changes.
func partial(plan *Plan, ran []int, failed int, err error) error {
	names := make([]string, len(ran))
	for i, j := range ran {
		names[i] = plan.Units[j].DS.Name
	}
	msg := fmt.Sprintf("shardgate: the statement ran on %s and then failed on %s (%v); the nodes where it ran keep its changes, the others did not run it",
		strings.Join(names, ", "), plan.Units[failed].DS.Name, err)
	return &Error{Kind: ErrNoDataSource, Code: ErrCodeUnavailable, SQLState: "HY000", Message: msg}
}

// PreviewUnit is one unit of a plan as PREVIEW shows it.
type PreviewUnit struct {
	DataSource string
	SQL        string
}

// IsPreview reports whether sql is "PREVIEW <statement>" (ShardingSphere's
// DistSQL, any case) and returns the statement.
func IsPreview(sql []byte) ([]byte, bool) {
	const kw = "preview"
	i := 0
	for i < len(sql) && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\r' || sql[i] == '\n') {
		i++
	}
	if len(sql)-i <= len(kw) || !bytes.EqualFold(sql[i:i+len(kw)], []byte(kw)) {
		return nil, false
	}
	rest := sql[i+len(kw):]
	if c := rest[0]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
		return nil, false
	}
	stmt := bytes.TrimSpace(rest)
	return stmt, len(stmt) > 0
}

// Preview plans sql as Run would for session s, without running it: the
// data source and the SQL of each unit. An INSERT's generated keys are
// drawn (and not used).
func (r *Runtime) Preview(sql []byte, s *Session) ([]PreviewUnit, error) {
	c := r.Cache().Classify(sql)
	at := NewAttempt(r.Snapshot(), c, s)
	if err := at.Route(sql, nil); err != nil {
		return nil, err
	}
	plan, err := at.Next(nil)
	if err != nil {
		return nil, err
	}
	out := make([]PreviewUnit, len(plan.Units))
	for i, u := range plan.Units {
		text := u.SQL
		if text == nil {
			text = sql
		}
		out[i] = PreviewUnit{DataSource: u.DS.Name, SQL: string(text)}
	}
	return out, nil
}
