package engine

import "errors"

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
)

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
func (r *Runtime) Run(c Class, s *Session, x Executor, buf []Unit) error {
	at := NewAttempt(r.Snapshot(), c, s)
	for {
		plan, err := at.Next(buf[:0])
		if err != nil {
			return err
		}
		u := &plan.Units[0]
		cls := at.Class()
		res := x.Execute(u, cls)
		switch res.Failure {
		case Ran:
			s.Done(cls, u.DS.IsMaster(), res.Outcome)
			x.Finish(u, cls)
			return nil
		case ConnLost:
			if at.Retry(u, res.Held) {
				continue
			}
		case Stale:
			if at.Stale(res.Held) {
				continue
			}
		case Refused:
			if cls&Read != 0 {
				at.Refused()
				continue
			}
		case PoolClosed:
			if at.Resnap(r.Snapshot()) {
				continue
			}
		}
		return res.Err
	}
}
