package proxy

import (
	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/engine"
)

// Read-only transactions on a slave (props.readOnlyTransactionsOnSlave):
// START TRANSACTION READ ONLY from a session in no transaction is planned
// as a read, so it begins on a slave (or on the master when
// read-your-writes sends the session's reads there, or no slave is up).
// On a slave the session keeps that connection (roTx) and every command
// runs there, without routing, until the server reports the transaction
// ended: COMMIT, ROLLBACK, or the connection's loss. A write in it gets
// the slave's own error, as a read-only transaction on one server would.
// Not with a sharding rule (its statements route to other groups).

// readOnlyBegin reports whether the command begins a read-only
// transaction that may run on a slave.
func (s *session) readOnlyBegin(p []byte, cls engine.Class, st *stmt) bool {
	if cls&engine.Begin == 0 || cls&(engine.Multi|engine.Pin) != 0 || st != nil || p[0] != wire.ComQuery {
		return false
	}
	snap := s.srv.rt.Snapshot()
	return snap.Config.Props.ReadOnlyTransactionsOnSlave && snap.Router == nil && !s.eng.NeedsMasterConn() &&
		len(s.branches) == 0 && engine.ReadOnlyBegin(string(p[1:]))
}

// inReadOnlyTx runs a command of the read-only transaction on its slave
// connection.
func (s *session) inReadOnlyTx(p []byte, cls engine.Class, st *stmt, kind wire.Response) bool {
	if cls&(engine.Begin|engine.AutocommitOff|engine.AutocommitOn|engine.Pin|engine.NextTx|engine.Multi) != 0 {
		s.writeErr(&engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000",
			Message: "shardgate: not inside a read-only transaction on a slave (props.readOnlyTransactionsOnSlave): BEGIN, SET autocommit, SET TRANSACTION, multi-statements and statements that keep a connection; COMMIT first"})
		return true
	}
	if err := s.srv.rt.Snapshot().Admit(cls); err != nil {
		if cls&engine.EndTx != 0 {
			// A COMMIT the breaker refuses: roll back, so that the
			// client, told COMMIT failed, knows nothing stays open.
			s.dropReadOnly()
			if re, ok := err.(*engine.Error); ok {
				err = re.WithSuffix(" (the open transaction was rolled back)")
			}
		}
		s.writeErr(err)
		return true
	}
	s.cur = current{p: p, st: st, kind: kind}
	u := engine.Unit{Group: s.roDS.Group, DS: s.roDS}
	res := s.Execute(&u, cls)
	if res.Failure != engine.Ran {
		s.cur = current{}
		if res.Failure == engine.CutOff {
			return false
		}
		s.writeErr(res.Err)
		return true
	}
	if s.cur.res.Err == nil {
		// An error packet carries no status, and a failed statement does
		// not end the transaction.
		s.roOpen = s.cur.res.Status&wire.StatusInTrans != 0
	}
	s.Finish(&u, cls)
	ok := s.cur.clientOK
	s.cur = current{}
	return ok
}

// dropReadOnly ends a read-only transaction on a slave by closing its
// connection (the server rolls it back; a reset would also drop the
// slave session's READ ONLY).
func (s *session) dropReadOnly() {
	if bc := s.roTx; bc != nil {
		bc.Broken = true
		s.release(bc, false)
	}
}
