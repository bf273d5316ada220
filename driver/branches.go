package driver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shardgate/shardgate/engine"
)

// Cross-node transactions (engine.Brancher), begun with database/sql's
// BeginTx or with SQL (BEGIN, START TRANSACTION …, SET autocommit = 0): a
// statement of the transaction that routes to another group runs on that
// group's master connection, in a transaction of its own begun as the
// session's was (BeginTx's options, or the BEGIN text) and with its
// savepoints. COMMIT commits the first connection, then each branch;
// ROLLBACK and savepoint statements run on every branch first. No
// two-phase commit: a COMMIT that fails on a branch after others committed
// leaves those committed, and its error names them.

func (s *conn) findBranch(p *pool) *bconn {
	for _, b := range s.branches {
		if b.p.name == p.name {
			return b
		}
	}
	return nil
}

// join opens a branch on p for the session's transaction or atomic write.
func (s *conn) join(ctx context.Context, p *pool) (*bconn, error) {
	sqlTx := s.tx == nil && (s.txOpen || s.acOff)
	if !s.atomic && (s.eng.Pinned() || s.tx == nil && !sqlTx || s.tx != nil && s.tx.slave) {
		// The engine plans no such statement; this guards state that
		// lives on one connection.
		return nil, routeError(&engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000", Message: fmt.Sprintf(
			"shardgate: the session holds state on one connection of %s (temporary tables, locks, SQL PREPARE, SET TRANSACTION, a read-only transaction on a slave) and the statement routes to %s",
			s.pinned.p.name, p.name)}, "")
	}
	b, err := s.take(ctx, p)
	if err != nil {
		return nil, err
	}
	var begin []string
	switch {
	case s.atomic:
		begin = beginSQL(driver.TxOptions{})
	case s.tx != nil:
		begin = beginSQL(s.tx.opts)
	case s.txBegin != "" && s.txOpen:
		begin = []string{s.txBegin}
	default:
		begin = []string{"START TRANSACTION"}
	}
	if !s.atomic {
		for _, sp := range s.savepoints {
			begin = append(begin, "SAVEPOINT "+quoteName(sp))
		}
	}
	for _, q := range begin {
		if _, err := b.c.(driver.ExecerContext).ExecContext(ctx, q, nil); err != nil {
			b.broken = true // a branch half begun is given to no one
			s.drop(b)
			return nil, err
		}
	}
	s.branches = append(s.branches, b)
	return b, nil
}

func quoteName(n string) string { return "`" + strings.ReplaceAll(n, "`", "``") + "`" }

// endTx runs a transaction-control statement (class cls) of a cross-node
// transaction: a savepoint statement or ROLLBACK on every branch before
// the first connection; COMMIT on the first connection (each branch
// checked first), then on each branch. first runs the current op (of the
// class given) on the first connection, through the engine.
func (s *conn) endTx(cls engine.Class, first func(engine.Class) error) error {
	ctx, q := s.cur.ctx, s.cur.query
	switch {
	case s.eng.Doomed() && cls&engine.Rollback == 0:
		return first(cls) // refused by the engine, which rolls everything back
	case cls&engine.Savepoint != 0:
		if op, name := engine.SavepointName(q); op != 'S' && !slices.ContainsFunc(s.savepoints, func(n string) bool { return strings.EqualFold(n, name) }) {
			return first(cls) // unknown here: the first node's own error
		}
		for _, b := range s.branches {
			if _, err := b.c.(driver.ExecerContext).ExecContext(ctx, q, nil); err != nil {
				b.valid() // a lost connection is marked broken
				why := fmt.Sprintf("%q failed on %s (%v)", q, b.p.name, err)
				s.eng.Doom(why)
				return routeError(&engine.Error{Kind: engine.ErrTxAborted, Code: engine.ErrCodeTxAborted, SQLState: "XA100",
					Message: "shardgate: " + why + "; the transaction can only be rolled back"}, "")
			}
		}
		return first(cls)
	case cls&engine.Rollback != 0:
		s.rollbackBranches()
		return first(cls)
	}
	name := ""
	if s.pinned != nil {
		name = s.pinned.p.name
	}
	for _, b := range s.branches {
		if !b.valid() {
			// Its part of the transaction is gone: nothing commits.
			lost := b.p.name
			s.rollbackBranches()
			s.cur.query, s.cur.args = "ROLLBACK", nil
			first(engine.EndTx | engine.Rollback)
			return routeError(engine.CommitError("COMMIT", lost, errors.New("its connection was lost"), nil, nil), "")
		}
	}
	if err := first(cls); err != nil {
		if len(s.branches) > 0 {
			s.rollbackBranches()
		}
		return err
	}
	return routeError(s.endAll(ctx, true, "COMMIT", []string{name}), "")
}

// afterTx updates the cross-node state after a statement (class cls,
// text q) that succeeded: savepoints named, the transaction's BEGIN text,
// and the branches an implicit commit ended (BEGIN inside a transaction,
// SET autocommit = 1, DDL, …: one server would commit the whole
// transaction).
func (s *conn) afterTx(cls engine.Class, q string, wasInTx bool) {
	if cls&engine.Savepoint != 0 {
		op, name := engine.SavepointName(q)
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
		return
	}
	implicit := wasInTx && (cls&engine.Begin != 0 || cls&engine.AutocommitOn != 0 || !s.txOpen && engine.ImplicitCommit(cls, q))
	if implicit || cls&engine.EndTx != 0 {
		s.savepoints = s.savepoints[:0]
		if implicit && len(s.branches) > 0 && !s.atomic {
			if err := s.endAll(s.cur.ctx, true, "the implicit commit", nil); err != nil {
				s.c.log.Error("a cross-node transaction ended by an implicit commit failed to commit on a node", "session", s.uid, "err", err)
			}
		}
	}
	if cls&engine.Begin != 0 && cls&(engine.Pin|engine.Multi) == 0 {
		s.txBegin = q
	}
}

// beginSQL begins a branch as BeginTx with opts would.
func beginSQL(opts driver.TxOptions) []string {
	var out []string
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelReadUncommitted:
		out = append(out, "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
	case sql.LevelReadCommitted:
		out = append(out, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
	case sql.LevelRepeatableRead:
		out = append(out, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
	case sql.LevelSerializable:
		out = append(out, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
	}
	if opts.ReadOnly {
		return append(out, "START TRANSACTION READ ONLY")
	}
	return append(out, "START TRANSACTION")
}

// lostBranch records that branch i's connection died: its part of the
// transaction is gone, so the transaction can only be rolled back.
func (s *conn) lostBranch(i int) {
	b := s.branches[i]
	s.branches = append(s.branches[:i], s.branches[i+1:]...)
	if !s.atomic {
		s.eng.LostBranch(b.p.name)
	}
}

// endBranches gives the branches back (to the session's held set or their
// pool) once their transactions ended.
func (s *conn) endBranches() {
	bs := s.branches
	s.branches = s.branches[:0]
	for _, b := range bs {
		if !b.valid() {
			s.drop(b)
		} else if s.held[b.p] != b {
			b.p.put(b)
		}
	}
	clear(bs[len(s.branches):cap(bs)])
}

// endAll runs COMMIT (or ROLLBACK) on every branch; on a COMMIT that
// fails, the rest roll back and the error names both lists (what: the
// statement's name in it; first: a node that committed before them).
func (s *conn) endAll(ctx context.Context, commit bool, what string, first []string) error {
	q := "ROLLBACK"
	if commit {
		q = "COMMIT"
	}
	defer s.endBranches()
	for i, b := range s.branches {
		_, err := b.c.(driver.ExecerContext).ExecContext(ctx, q, nil)
		if err == nil {
			if commit && s.causal() {
				s.noteCommit(ctx, b)
			}
			continue
		}
		b.broken = !commit || !b.valid()
		if !commit {
			continue // closed: its server rolls it back
		}
		committed := append([]string(nil), first...)
		for _, c := range s.branches[:i] {
			committed = append(committed, c.p.name)
		}
		var rolled []string
		for _, c := range s.branches[i:] {
			rolled = append(rolled, c.p.name)
			if c != b {
				if _, err := c.c.(driver.ExecerContext).ExecContext(ctx, "ROLLBACK", nil); err != nil {
					c.broken = true
				}
			}
		}
		if len(committed) > 0 {
			s.c.log.Error("a cross-node commit failed after it committed on some nodes", "session", s.uid, "committed", committed, "rolledBack", rolled, "err", err)
		}
		return engine.CommitError(what, b.p.name, err, committed, rolled)
	}
	return nil
}

// rollbackBranches rolls back and gives back every branch.
func (s *conn) rollbackBranches() { s.endAll(context.Background(), false, "", nil) }

// BeginStatement starts a write on several nodes inside the transaction
// (engine.Brancher): each connection it takes sets a savepoint first.
func (s *conn) BeginStatement() { s.stmtUndo, s.stmtConns = true, s.stmtConns[:0] }

// EndStatement ends it; when it failed, every connection it ran on goes
// back to its savepoint.
func (s *conn) EndStatement(ok bool) error {
	defer func() {
		clear(s.stmtConns)
		s.stmtUndo, s.stmtConns = false, s.stmtConns[:0]
	}()
	if ok {
		return nil
	}
	ctx := s.cur.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	for _, b := range s.stmtConns {
		if _, err := b.c.(driver.ExecerContext).ExecContext(ctx, "ROLLBACK TO SAVEPOINT `shardgate_statement`", nil); err != nil {
			b.valid() // a lost connection is marked broken
			return fmt.Errorf("undoing the statement on %s: %w", b.p.name, err)
		}
	}
	return nil
}

// savepointFor sets the statement's savepoint on b, once per statement,
// while a write on several nodes in a transaction runs.
func (s *conn) savepointFor(ctx context.Context, b *bconn) error {
	if !s.stmtUndo || slices.Contains(s.stmtConns, b) {
		return nil
	}
	if _, err := b.c.(driver.ExecerContext).ExecContext(ctx, "SAVEPOINT `shardgate_statement`", nil); err != nil {
		return err
	}
	s.stmtConns = append(s.stmtConns, b)
	return nil
}

// BeginAtomic starts an atomic write on several nodes (engine.Brancher).
func (s *conn) BeginAtomic() { s.atomic = true }

// EndAtomic commits or rolls back every node of the atomic write.
func (s *conn) EndAtomic(commit bool) error {
	defer func() { s.atomic = false }()
	ctx := s.cur.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	return s.endAll(ctx, commit, "the write", nil)
}
