package engine

import (
	"errors"

	"github.com/shardgate/shardgate/sharding"
)

// Attempt is one statement's way through planning and retries, the one
// loop both front ends run:
//
//	at := engine.NewAttempt(rt.Snapshot(), cls, &sess)
//	for {
//		plan, err := at.Next(buf[:0])
//		if err != nil { /* send err */ }
//		// run plan.Units[0]; on a connection failure before anything
//		// reached the client: if at.Retry(u, held, err) { continue }
//	}
//
// It is a value the front end keeps on its stack; it allocates nothing.
type Attempt struct {
	snap  *Snapshot
	cls   Class
	s     *Session
	tried Tried
	swaps int
	stale int
	// sql and args are the statement, route its plan on sharded tables
	// (nil: not sharded).
	sql      []byte
	args     []any
	route    *sharding.Route
	routeErr error
	// branches: the executor runs transactions on several groups.
	branches bool
	// last is why the previous try failed (Retry, Stale).
	last error
}

// maxSwaps bounds how often one statement is planned again because a
// config change closed the pool it was given.
const maxSwaps = 3

// NewAttempt starts planning a statement of class c for session s on snap.
func NewAttempt(snap *Snapshot, c Class, s *Session) Attempt {
	return Attempt{snap: snap, cls: c, s: s}
}

// Snapshot is the snapshot the attempt plans on.
func (a *Attempt) Snapshot() *Snapshot { return a.snap }

// Class is the statement's class (Refused may have changed it).
func (a *Attempt) Class() Class { return a.cls }

// Next plans the statement, avoiding every data source it already failed
// on; the units are appended to dst.
func (a *Attempt) Next(dst []Unit) (Plan, error) {
	if a.routeErr != nil {
		return Plan{Units: dst}, a.routeErr
	}
	p, err := a.snap.plan(dst, a.cls, a.s, &a.tried, a.route, a.branches)
	if err != nil && a.last != nil {
		err = withLast(err, a.last)
	}
	return p, err
}

// withLast adds to "no data source left" what the last try met (a
// function of its own: its error variable would escape, and allocate, on
// every Next).
func withLast(err, last error) error {
	var ee *Error
	if errors.As(err, &ee) && ee.Kind == ErrNoDataSource {
		return ee.WithSuffix(" (it failed with: " + last.Error() + ")")
	}
	return err
}

// Route plans the statement's text on the snapshot's sharding rule (if it
// has one): a statement on sharded or broadcast tables gets its units from
// there. args are a prepared statement's parameters.
func (a *Attempt) Route(sql []byte, args []any) error {
	a.sql, a.args, a.route = sql, args, nil
	rt := a.snap.Router
	if rt == nil {
		return nil
	}
	if err := a.snap.Admit(a.cls); err != nil {
		return err
	}
	r, err := rt.Route(string(sql), args)
	if err != nil {
		return ShardingError(err)
	}
	a.route = r
	return nil
}

// ShardingError is the client's error for a statement the sharding rule
// cannot run or a merge it cannot finish (err from package sharding).
func ShardingError(err error) error {
	if errors.Is(err, sharding.ErrUnsupported) {
		return &Error{Kind: ErrUnsupported, Code: ErrCodeUnsupported, SQLState: "42000", Message: err.Error()}
	}
	return &Error{Kind: ErrNoDataSource, Code: ErrCodeUnavailable, SQLState: "HY000", Message: err.Error()}
}

// Retry reports whether the statement may run elsewhere after u failed
// with a connection failure (not an error the server answered) before
// anything of its answer reached the client: only a read, outside a
// transaction, when the session did not hold the connection (held: it
// carried state only that connection has). u's data source is not tried
// again.
func (a *Attempt) Retry(u *Unit, held bool, err error) bool {
	if a.cls&Read == 0 || held || a.s.NeedsMasterConn() {
		return false
	}
	a.tried.Add(u.DS)
	a.last = err
	return true
}

// Stale reports whether the statement may run again, on the same data
// source, after the pooled connection it was given proved dead before the
// statement was sent (the driver's ErrBadConn): any class may, a bounded
// number of times, unless the session held that connection or is in a
// transaction.
func (a *Attempt) Stale(held bool, err error) bool {
	if held || a.s.NeedsMasterConn() || a.stale >= maxSwaps {
		return false
	}
	a.stale++
	a.last = err
	return true
}

// Refused records that a slave's read-only session refused the statement
// (a read that writes): it runs on the master from now on.
func (a *Attempt) Refused() { a.cls = a.cls.Refused() }

// Behind records that u's slave did not apply the session's commits in
// time: the read goes to the master (none of u's group's slaves is tried
// again, so it does not wait twice).
func (a *Attempt) Behind(u *Unit, err error) {
	for _, ds := range u.Group.Slaves {
		a.tried.Add(ds)
	}
	a.last = err
}

// Resnap plans again on snap after a config change closed the pool the
// statement was given; false once that happened too often.
func (a *Attempt) Resnap(snap *Snapshot) bool {
	if a.swaps >= maxSwaps {
		return false
	}
	a.swaps++
	a.snap, a.tried = snap, Tried{}
	// The new snapshot's rule plans the statement; an error comes out of
	// Next (never a plan without the rule).
	a.routeErr = a.Route(a.sql, a.args)
	return true
}
