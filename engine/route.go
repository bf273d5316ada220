package engine

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shardgate/shardgate/config"
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

// Error is a routing error, sent to the client as a MySQL error.
type Error struct {
	Code     uint16
	SQLState string
	Message  string
}

func (e *Error) Error() string { return e.Message }

// MasterTried is the bit of the master in a tried set; slave i is bit i.
const MasterTried = 1 << 63

// Unit is one execution unit of a route: a data source and the statement
// to run there (nil SQL: the statement as received).
type Unit struct {
	DS  *DataSource
	SQL []byte
}

// Session is one client session's routing state. The front end owns it and
// calls Route and Done from the session's goroutine only.
type Session struct {
	// InTx: the master connection reported a transaction open.
	InTx bool
	// AutocommitOff: the master connection reported autocommit off.
	AutocommitOff bool
	// Pinned: temporary tables, user locks, LOCK TABLES or SQL PREPARE
	// tied the session to its master connection for good.
	Pinned bool
	// NextTx: SET TRANSACTION ran on the master connection; the next
	// statement must run there too.
	NextTx bool
	wrote  bool
	// writeAt is when the last write finished, for read-your-writes window.
	writeAt time.Time
}

// NeedsMasterConn reports whether the session holds on to one master
// connection between statements.
func (s *Session) NeedsMasterConn() bool { return s.InTx || s.AutocommitOff || s.Pinned || s.NextTx }

// Route appends to dst the execution units for a statement of class c and
// returns them. tried is the set of data sources a previous attempt of the
// same statement already failed on (MasterTried, 1<<slave).
func (snap *Snapshot) Route(dst []Unit, c Class, s *Session, tried uint64) ([]Unit, error) {
	if snap.State.InstanceDisabled && c&Rollback == 0 {
		return dst, &Error{Code: ErrCodeUnavailable, SQLState: "HY000", Message: fmt.Sprintf(
			"shardgate: this instance is disabled by registry node %s (circuit breaker); statement rejected. "+
				"Write an empty value to that node, or delete it, to enable the instance again", snap.State.InstancePath)}
	}
	if c&Read == 0 || s.NeedsMasterConn() || s.readsFromMaster(snap.Config) {
		return snap.routeMaster(dst, tried)
	}
	if tried != 0 || len(snap.Slaves) > 0 {
		excluded := tried
		for _, sl := range snap.Slaves {
			if sl.Disabled || !sl.Health.Healthy() {
				excluded |= 1 << uint(sl.Slave)
			}
		}
		if ds := snap.balance.Next(snap.Slaves, excluded); ds != nil {
			return append(dst, Unit{DS: ds}), nil
		}
	}
	// No slave left: reads go to the master.
	return snap.routeMaster(dst, tried)
}

func (snap *Snapshot) routeMaster(dst []Unit, tried uint64) ([]Unit, error) {
	m := snap.Master
	if m.Disabled {
		return dst, &Error{Code: ErrCodeUnavailable, SQLState: "HY000", Message: fmt.Sprintf(
			"shardgate: master data source %s is disabled by registry node %s; statement rejected. "+
				"Write an empty value to that node, or delete it, to enable it again", m.Name, m.DisabledPath)}
	}
	if tried&MasterTried != 0 {
		return dst, &Error{Code: ErrCodeUnavailable, SQLState: "HY000", Message: fmt.Sprintf(
			"shardgate: master data source %s failed and no other data source can run the statement", m.Name)}
	}
	return append(dst, Unit{DS: m}), nil
}

func (s *Session) readsFromMaster(cfg *config.Config) bool {
	if !s.wrote {
		return false
	}
	switch cfg.Props.ReadYourWrites {
	case config.RYWSession:
		return true
	case config.RYWWindow:
		return time.Since(s.writeAt) < cfg.Props.ReadYourWritesWindow
	}
	return false
}

// Done records the outcome of a statement that ran on the master. status
// is the server status of its final OK/EOF (haveStatus false when it ended
// in an error): it tells whether a transaction is open and whether
// autocommit is on, which is sturdier than parsing BEGIN/COMMIT.
func (s *Session) Done(c Class, onMaster bool, status uint16, haveStatus bool) {
	if !onMaster {
		return
	}
	if c&NextTx != 0 {
		s.NextTx = haveStatus
	} else {
		s.NextTx = false
	}
	if !haveStatus {
		return
	}
	const inTrans, autocommit = 0x0001, 0x0002
	s.InTx = status&inTrans != 0
	s.AutocommitOff = status&autocommit == 0
	if c&Pin != 0 {
		s.Pinned = true
	}
	if c&Write != 0 {
		s.wrote = true
		s.writeAt = time.Now()
	}
}

// Pin ties the session to its current master connection for good (state
// that cannot be replayed elsewhere).
func (s *Session) Pin() { s.Pinned = true }

// Reset forgets everything (COM_RESET_CONNECTION, COM_CHANGE_USER).
func (s *Session) Reset() { *s = Session{} }
