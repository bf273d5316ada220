package driver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/shardgate/shardgate/engine"
)

// Cross-node transactions (engine.Brancher), for transactions begun with
// database/sql's BeginTx: a statement of the transaction that routes to
// another group runs on that group's master connection, in a transaction
// of its own begun with the same options; Commit commits the first
// connection, then each branch; Rollback rolls them all back. No
// two-phase commit: a Commit that fails on a branch after others committed
// leaves those committed, and its error names them. A transaction begun
// with SQL (BEGIN, SET autocommit = 0) stays on one group here.

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
	if !s.atomic && (s.tx == nil || s.tx.slave) {
		return nil, routeError(&engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000", Message: fmt.Sprintf(
			"shardgate: the session's transaction is on %s and the statement routes to %s: the driver runs cross-node transactions begun with BeginTx, not with SQL (BEGIN, SET autocommit = 0)",
			s.pinned.p.name, p.name)}, "")
	}
	b, err := s.take(ctx, p)
	if err != nil {
		return nil, err
	}
	var opts driver.TxOptions
	if s.tx != nil && !s.atomic {
		opts = s.tx.opts
	}
	for _, q := range beginSQL(opts) {
		if _, err := b.c.(driver.ExecerContext).ExecContext(ctx, q, nil); err != nil {
			b.broken = true // a branch half begun is given to no one
			s.drop(b)
			return nil, err
		}
	}
	s.branches = append(s.branches, b)
	return b, nil
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
