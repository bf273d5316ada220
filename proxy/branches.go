package proxy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/shardgate/shardgate/backend"
	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/engine"
)

// Cross-node transactions (engine.Brancher). The session's transaction
// runs on its first master connection (pinned, where BEGIN ran) and, for
// each other group a statement of it routes to, on a branch: that group's
// master connection with a transaction of its own, begun as the session's
// was and with its savepoints. COMMIT commits the first connection, then
// each branch; ROLLBACK and savepoint statements run on every branch
// before the first connection. There is no two-phase commit: a COMMIT that
// fails on a branch after others committed leaves those committed, and the
// client's error names them.

// findBranch returns the session's branch on ds (nil: none).
func (s *session) findBranch(ds *engine.DataSource) *backend.Conn {
	for _, b := range s.branches {
		if b.Pool().Name == ds.Name {
			return b
		}
	}
	return nil
}

// join opens a branch on ds's master for the session's transaction or
// atomic write.
func (s *session) join(ds *engine.DataSource) (*backend.Conn, error) {
	if s.eng.Pinned() {
		// The engine plans no such statement; this guards state that
		// lives on one connection.
		return nil, &engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000",
			Message: "shardgate: the session holds state on one connection (temporary tables, locks, SQL PREPARE); a statement for another data node cannot join its transaction"}
	}
	if s.pinned != nil && !s.eng.InTx() {
		// Autocommit off, nothing run on the first connection yet: it
		// gets a transaction too, so that an implicit commit there is
		// seen (it ends the whole transaction).
		st, err := s.pinned.Exec("START TRANSACTION")
		if err != nil {
			return nil, err
		}
		s.eng.Done(engine.Begin, true, outcome(st, true))
	}
	bc, err := poolOf(ds).GetFor(context.Background(), s.connFlags(true))
	if err != nil {
		return nil, err
	}
	if err := s.begin(bc); err != nil {
		bc.Broken = true // a branch half begun is not given to anyone
		bc.Pool().Put(bc)
		return nil, err
	}
	s.branches = append(s.branches, bc)
	return bc, nil
}

// begin brings a branch to the session's state and transaction.
func (s *session) begin(bc *backend.Conn) error {
	if err := s.sync(bc); err != nil {
		return err
	}
	begin := s.txBegin
	if begin == "" || s.atomic {
		begin = "START TRANSACTION"
	}
	if _, err := bc.Exec(begin); err != nil {
		return err
	}
	for _, sp := range s.savepoints {
		if _, err := bc.Exec("SAVEPOINT " + quoteName(sp)); err != nil {
			return err
		}
	}
	return nil
}

// forgetTx drops what a new branch would replay of the transaction (its
// BEGIN text and savepoints), once it ended.
func (s *session) forgetTx() { s.savepoints, s.txBegin = s.savepoints[:0], "" }

func quoteName(n string) string { return "`" + strings.ReplaceAll(n, "`", "``") + "`" }

// releaseBranch handles a branch given back after a statement: kept until
// the transaction ends, unless its connection broke, which loses its part
// of the transaction.
func (s *session) releaseBranch(i int) {
	bc := s.branches[i]
	if !bc.Broken {
		return
	}
	s.branches = slices.Delete(s.branches, i, i+1)
	if !s.atomic {
		s.eng.LostBranch(bc.Pool().Name)
	}
	bc.Pool().Put(bc)
}

// branchIndex is bc's index in the branches (-1: not one).
func (s *session) branchIndex(bc *backend.Conn) int {
	for i, b := range s.branches {
		if b == bc {
			return i
		}
	}
	return -1
}

// endBranches gives the branches back once their transactions ended.
func (s *session) endBranches() {
	for _, b := range s.branches {
		if b.NewGTID {
			s.noteGTID(b)
		}
		b.Pool().Put(b)
	}
	clear(s.branches)
	s.branches = s.branches[:0]
}

// rollbackBranches rolls back every branch and gives them back (one whose
// rollback fails is closed, which rolls it back on its server).
func (s *session) rollbackBranches() {
	for _, b := range s.branches {
		if _, err := b.Exec("ROLLBACK"); err != nil {
			b.Broken = true
		}
	}
	s.endBranches()
}

// endTx runs a transaction-control statement (class cls, text sql) of a
// cross-node transaction on its branches before bc, the first connection.
// done: it answered the client itself (a COMMIT) or failed (r says how).
func (s *session) endTx(bc *backend.Conn, cls engine.Class, sql string) (r engine.Result, done bool) {
	switch {
	case cls&engine.Savepoint != 0:
		if op, name := engine.SavepointName(sql); op != 'S' && !slices.ContainsFunc(s.savepoints, func(n string) bool { return strings.EqualFold(n, name) }) {
			return engine.Result{}, false // unknown here: the first node's own error
		}
		for _, b := range s.branches {
			if _, err := b.Exec(sql); err != nil {
				if isConnErr(err) {
					b.Broken = true
				}
				why := fmt.Sprintf("%q failed on %s (%v)", sql, b.Pool().Name, err)
				s.eng.Doom(why)
				return engine.Result{Failure: engine.Failed, Err: &engine.Error{Kind: engine.ErrTxAborted, Code: engine.ErrCodeTxAborted, SQLState: "XA100",
					Message: "shardgate: " + why + "; the transaction can only be rolled back"}}, true
			}
		}
		return engine.Result{}, false
	case cls&engine.Rollback != 0:
		for _, b := range s.branches {
			if _, err := b.Exec(sql); err != nil && isConnErr(err) {
				b.Broken = true // closed: its server rolls it back
			}
		}
		return engine.Result{}, false
	}
	// COMMIT: each branch still there (else nothing commits), then the
	// first connection, then each branch.
	for _, b := range s.branches {
		if err := b.Alive(); err != nil {
			b.Broken = true
			s.rollbackBranches()
			s.abandon(bc)
			return engine.Result{Failure: engine.Failed, Err: engine.CommitError("COMMIT", b.Pool().Name, fmt.Errorf("its connection was lost: %w", err), nil, nil)}, true
		}
	}
	st, err := bc.Exec(sql)
	if err != nil {
		s.rollbackBranches()
		s.abandon(bc)
		return engine.Result{Failure: engine.Failed, Err: engine.CommitError("COMMIT", bc.Pool().Name, err, nil, nil)}, true
	}
	if err := s.commitBranches(sql, "COMMIT", []string{bc.Pool().Name}); err != nil {
		s.eng.Done(cls, true, outcome(st, true))
		s.release(bc, true)
		return engine.Result{Failure: engine.Failed, Err: err}, true
	}
	// Answered as the first connection's server did.
	s.buf = wire.AppendOK(s.buf[:0], 0, 0, st, 0)
	s.cur.clientOK = s.c.WritePacket(s.buf) == nil
	s.cur.bc, s.cur.onMaster, s.cur.res = bc, true, wire.RelayResult{Status: st}
	return engine.Result{Failure: engine.Ran, Outcome: outcome(st, true)}, true
}

// commitBranches runs sql (a COMMIT) on every branch in order and gives
// them back. When one fails the rest roll back, and the error (what names
// the statement) says where it committed — first, then the branches
// before — and where not.
func (s *session) commitBranches(sql, what string, first []string) error {
	defer s.endBranches()
	for i, b := range s.branches {
		_, err := b.Exec(sql)
		if err == nil {
			continue
		}
		committed := slices.Clone(first)
		for _, c := range s.branches[:i] {
			committed = append(committed, c.Pool().Name)
		}
		var rolled []string
		for _, c := range s.branches[i:] {
			rolled = append(rolled, c.Pool().Name)
			if _, err := c.Exec("ROLLBACK"); err != nil {
				c.Broken = true
			}
		}
		if len(committed) > 0 {
			s.srv.log.Error("a cross-node commit failed after it committed on some nodes", "conn", s.id, "committed", committed, "rolledBack", rolled, "err", err)
		}
		return engine.CommitError(what, b.Pool().Name, err, committed, rolled)
	}
	return nil
}

// abandon rolls back the first connection of a transaction that failed to
// commit, and records that none is open.
func (s *session) abandon(bc *backend.Conn) {
	if _, err := bc.Exec("ROLLBACK"); err != nil {
		bc.Broken = true
	}
	s.eng.RolledBack()
	s.release(bc, true)
}

// afterTx updates the cross-node state after a statement (p, st): savepoints
// named, the transaction's beginning, branches ended with it (also by an
// implicit commit on the first connection, which commits them too).
func (s *session) afterTx(cls engine.Class, ok bool, p []byte, st *stmt) {
	if ok && cls&engine.Savepoint != 0 {
		op, name := engine.SavepointName(s.text(p, st))
		i := slices.IndexFunc(s.savepoints, func(n string) bool { return strings.EqualFold(n, name) })
		switch {
		case op == 'S':
			if i >= 0 {
				s.savepoints = slices.Delete(s.savepoints, i, i+1)
			}
			s.savepoints = append(s.savepoints, name)
		case op == 'R' && i >= 0:
			s.savepoints = s.savepoints[:i]
		case op == 'T' && i >= 0:
			s.savepoints = s.savepoints[:i+1]
		}
	}
	if ok && cls&engine.Begin != 0 && cls&engine.Pin == 0 {
		s.txBegin = "START TRANSACTION"
		if cls&engine.Multi == 0 {
			s.txBegin = s.text(p, st)
		}
	}
	// BEGIN inside a transaction commits it first, like an implicit
	// commit (DDL, LOCK TABLES, SET autocommit = 1, …) on the first
	// connection: the whole transaction ends, the branches commit too.
	implicit := ok && s.cur.wasInTx && (cls&engine.Begin != 0 || !s.eng.InTx() && cls&engine.EndTx == 0)
	if implicit && len(s.branches) > 0 {
		for _, b := range s.branches {
			if _, err := b.Exec("COMMIT"); err != nil {
				b.Broken = true
				s.srv.log.Error("a cross-node transaction ended by an implicit commit failed to commit on a node", "conn", s.id, "dataSource", b.Pool().Name, "err", err)
			}
		}
		s.endBranches()
	}
	if s.eng.InTx() {
		return
	}
	if cls&engine.EndTx != 0 && cls&engine.Savepoint == 0 || implicit {
		s.forgetTx()
		s.endBranches() // ended with the first connection's
	}
}

// BeginAtomic starts an atomic write on several nodes (engine.Brancher):
// every master connection the write takes begins a transaction.
func (s *session) BeginAtomic() { s.atomic = true }

// EndAtomic commits (or rolls back) every node of an atomic write
// (engine.Brancher).
func (s *session) EndAtomic(commit bool) error {
	defer func() { s.atomic = false }()
	if !commit {
		s.rollbackBranches()
		return nil
	}
	return s.commitBranches("COMMIT", "the write", nil)
}

// stmtSavepoint is the savepoint a write on several nodes in a
// transaction sets on each connection before its first unit there.
const stmtSavepoint = "SAVEPOINT `shardgate_statement`"

// BeginStatement starts a write on several nodes inside the transaction
// (engine.Brancher): each connection it takes sets stmtSavepoint first.
func (s *session) BeginStatement() { s.stmtUndo, s.stmtConns = true, s.stmtConns[:0] }

// EndStatement ends it; when it failed, every connection it ran on goes
// back to its savepoint.
func (s *session) EndStatement(ok bool) error {
	defer func() {
		clear(s.stmtConns)
		s.stmtUndo, s.stmtConns = false, s.stmtConns[:0]
	}()
	if ok {
		return nil
	}
	for _, bc := range s.stmtConns {
		if _, err := bc.Exec("ROLLBACK TO SAVEPOINT `shardgate_statement`"); err != nil {
			if isConnErr(err) {
				bc.Broken = true
			}
			return fmt.Errorf("undoing the statement on %s: %w", bc.Pool().Name, err)
		}
	}
	return nil
}

// savepointFor sets stmtSavepoint on bc, once per statement, while a
// write on several nodes in a transaction runs.
func (s *session) savepointFor(bc *backend.Conn) error {
	if !s.stmtUndo || slices.Contains(s.stmtConns, bc) {
		return nil
	}
	if _, err := bc.Exec(stmtSavepoint); err != nil {
		return err
	}
	s.stmtConns = append(s.stmtConns, bc)
	return nil
}

// resetBranches gives back the branches of a session that ends or resets:
// reset (rolling back) first, or closed if that fails.
func (s *session) resetBranches() {
	for _, b := range s.branches {
		if b.ResetSession() != nil {
			b.Broken = true
		}
	}
	s.endBranches()
}

// text is the statement a command runs.
func (s *session) text(p []byte, st *stmt) string {
	if st != nil {
		return st.sql
	}
	if len(p) > 0 && p[0] == wire.ComQuery {
		return string(p[1:])
	}
	return ""
}
