package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/shardgate/shardgate/backend"
	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/engine"
)

func (s *session) stmtOf(p []byte) *stmt {
	if len(p) < 5 {
		s.writeErr(wire.NewError(1243, "HY000", "Unknown prepared statement handler given to mysqld_stmt"))
		return nil
	}
	id := binary.LittleEndian.Uint32(p[1:])
	st := s.stmts[id]
	if st == nil {
		s.writeErr(wire.NewError(1243, "HY000", "Unknown prepared statement handler (%d) given to mysqld_stmt_execute", id))
	}
	return st
}

// prepare classifies the statement once, prepares it on the backend the
// statement would run on, and answers the client with its own statement id.
func (s *session) prepare(p []byte) bool {
	if len(s.stmts) >= maxSessionStmts {
		s.writeErr(wire.NewError(1461, "42000", "Can't create more than max_prepared_stmt_count statements (current value: %d) on this connection; close statements you no longer use", maxSessionStmts))
		return true
	}
	sql := string(p[1:])
	cls := s.srv.rt.Cache().Classify(p[1:])
	if ds, text, sharded, err := s.srv.rt.Snapshot().PrepareTarget(cls, &s.eng, sql); err != nil {
		s.writeErr(err)
		return true
	} else if sharded {
		return s.prepareSharded(ds, text, sql, cls)
	}
	at := engine.NewAttempt(s.srv.rt.Snapshot(), cls, &s.eng)
	for {
		plan, err := at.Next(s.units[:0])
		if err != nil {
			s.writeErr(err)
			return true
		}
		u := &plan.Units[0]
		ds := u.DS
		onMaster := ds.IsMaster()
		bc, err := s.acquire(ds, onMaster)
		if err != nil {
			if errors.Is(err, backend.ErrPoolClosed) && at.Resnap(s.srv.rt.Snapshot()) {
				continue
			}
			if isConnErr(err) && at.Retry(u, s.pinned != nil, err) {
				continue
			}
			s.writeErr(dsErr(ds, err))
			return true
		}
		if u.SQL != nil {
			// A prepared statement is kept by its client text (cache,
			// lazy prepare on other connections): none is rewritten yet.
			s.release(bc, onMaster)
			s.writeErr(&engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000",
				Message: "shardgate: a prepared statement whose SQL is rewritten per data source is not supported"})
			return true
		}
		held := s.pinned == bc
		bs, defs, err := backendPrepare(bc, sql, true)
		s.release(bc, onMaster)
		if err != nil && bc.ReadOnly && cls&engine.Read != 0 && isRefusedWrite(err) {
			at.Refused()
			cls = at.Class()
			s.srv.rt.Cache().Demote(p[1:])
			continue
		}
		if err != nil {
			if isConnErr(err) && at.Retry(u, held, err) {
				continue
			}
			s.writeErr(dsErr(ds, err))
			return true
		}
		s.prepared(&stmt{sql: sql, class: cls, params: bs.Params, columns: bs.Columns}, defs)
		return true
	}
}

// prepared registers st under a new id and answers the client's prepare
// with the backend's definitions.
func (s *session) prepared(st *stmt, defs [][]byte) {
	s.nextStmt++
	id := s.nextStmt
	s.stmts[id] = st
	ok := make([]byte, 0, 12)
	ok = append(ok, 0)
	ok = binary.LittleEndian.AppendUint32(ok, id)
	ok = binary.LittleEndian.AppendUint16(ok, st.columns)
	ok = binary.LittleEndian.AppendUint16(ok, st.params)
	ok = append(ok, 0, 0, 0)
	s.c.WritePacket(ok)
	for _, d := range defs {
		s.c.WritePacket(d)
	}
}

// prepareSharded prepares a statement on sharded or broadcast tables: its
// text for the first data node (tables renamed) is prepared on ds for the
// parameter and column definitions the client gets; each execution is
// routed with its parameters (routeExecute).
func (s *session) prepareSharded(ds *engine.DataSource, text, sql string, cls engine.Class) bool {
	onMaster := ds.IsMaster()
	bc, err := s.acquire(ds, onMaster)
	if err != nil {
		s.writeErr(dsErr(ds, err))
		return true
	}
	bs, defs, err := backendPrepare(bc, text, true)
	s.release(bc, onMaster)
	if err != nil {
		s.writeErr(dsErr(ds, err))
		return true
	}
	s.prepared(&stmt{sql: sql, class: cls, params: bs.Params, columns: bs.Columns, sharded: true}, defs)
	return true
}

// backendPrepare prepares sql on bc (or finds it prepared there). With
// keep, it also returns copies of the parameter and column definition
// packets (with their EOFs) for the client.
func backendPrepare(bc *backend.Conn, sql string, keep bool) (*backend.Stmt, [][]byte, error) {
	key := backend.StmtKey{DB: bc.DB, SQL: sql}
	if st := bc.Stmts[key]; st != nil && !keep {
		return st, nil, nil
	}
	if len(bc.Stmts) >= maxBackendStmts {
		for _, st := range bc.Stmts {
			var b [5]byte
			b[0] = wire.ComStmtClose
			binary.LittleEndian.PutUint32(b[1:], st.ID)
			if err := bc.WriteCommand(b[:]); err != nil {
				bc.Broken = true
				return nil, nil, err
			}
		}
		clear(bc.Stmts)
	}
	cmd := append([]byte{wire.ComStmtPrepare}, sql...)
	if err := bc.WriteCommand(cmd); err != nil {
		bc.Broken = true
		return nil, nil, err
	}
	r, err := bc.ReadPacket()
	if err != nil {
		bc.Broken = true
		return nil, nil, err
	}
	if len(r) > 0 && r[0] == 0xff {
		return nil, nil, wire.ParseError(r)
	}
	if len(r) < 9 || r[0] != 0 {
		bc.Broken = true
		return nil, nil, fmt.Errorf("bad prepare response")
	}
	st := &backend.Stmt{ID: binary.LittleEndian.Uint32(r[1:]), Columns: binary.LittleEndian.Uint16(r[5:]), Params: binary.LittleEndian.Uint16(r[7:])}
	var defs [][]byte
	for _, n := range []uint16{st.Params, st.Columns} {
		if n == 0 {
			continue
		}
		for i := 0; i <= int(n); i++ { // definitions, then EOF
			d, err := bc.ReadPacket()
			if err != nil {
				bc.Broken = true
				return nil, nil, err
			}
			if keep {
				defs = append(defs, append([]byte(nil), d...))
			}
		}
	}
	if old := bc.Stmts[key]; old != nil {
		// Prepared twice on this connection: free the older one.
		var b [5]byte
		b[0] = wire.ComStmtClose
		binary.LittleEndian.PutUint32(b[1:], old.ID)
		if err := bc.WriteCommand(b[:]); err != nil {
			bc.Broken = true
			return nil, nil, err
		}
	}
	bc.Stmts[key] = st
	return st, defs, nil
}

// execute runs a prepared statement natively on the backend it routes to.
func (s *session) execute(p []byte) bool {
	st := s.stmtOf(p)
	if st == nil {
		return true
	}
	if len(p) < 10 {
		s.writeErr(wire.NewError(1210, "HY000", "Incorrect arguments to mysqld_stmt_execute"))
		return true
	}
	if st.params > 0 {
		nb := (int(st.params) + 7) / 8
		if len(p) < 10+nb+1 {
			s.writeErr(wire.NewError(1210, "HY000", "Incorrect arguments to mysqld_stmt_execute"))
			return true
		}
		if p[10+nb] == 1 {
			if len(p) < 11+nb+2*int(st.params) {
				s.writeErr(wire.NewError(1210, "HY000", "Incorrect arguments to mysqld_stmt_execute"))
				return true
			}
			st.types = append(st.types[:0], p[11+nb:11+nb+2*int(st.params)]...)
		} else if st.types == nil {
			s.writeErr(wire.NewError(1210, "HY000", "Incorrect arguments to mysqld_stmt_execute: parameter types were never sent"))
			return true
		}
	}
	if st.longTooBig {
		st.long, st.longBytes, st.longTooBig = nil, 0, false
		s.writeErr(wire.NewError(1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes: long data of this statement exceeds props.maxAllowedPacket"))
		return true
	}
	ok := s.run(p, st.class, st)
	st.long, st.longBytes = nil, 0
	return ok
}

// bindExecute prepares the statement on bc if needed, sends pending long
// data, and returns the COM_STMT_EXECUTE packet for bc: the backend's id,
// no cursor, and the parameter types always bound.
func (s *session) bindExecute(bc *backend.Conn, st *stmt, p []byte, u *engine.Unit) ([]byte, error) {
	sql, params := st.sql, st.params
	if u.SQL != nil {
		// A sharded statement's text for this node: its parameters still
		// in place, or bound into it (Args false).
		sql = string(u.SQL)
		if !u.Args {
			params = 0
		}
	}
	bs, _, err := backendPrepare(bc, sql, false)
	if err != nil {
		return nil, err
	}
	if bs.Params != params {
		return nil, fmt.Errorf("shardgate: internal: the statement for this data node has %d parameters, %d expected", bs.Params, params)
	}
	for _, l := range st.long {
		binary.LittleEndian.PutUint32(l[1:], bs.ID)
		if err := bc.WriteCommand(l); err != nil {
			bc.Broken = true
			return nil, err
		}
	}
	b := append(s.buf[:0], p[:10]...)
	binary.LittleEndian.PutUint32(b[1:], bs.ID)
	b[5] = 0 // CURSOR_TYPE_NO_CURSOR: results come inline
	if params > 0 {
		nb := (int(st.params) + 7) / 8
		b = append(b, p[10:10+nb]...)
		b = append(b, 1)
		b = append(b, st.types...)
		rest := p[11+nb:]
		if p[10+nb] == 1 {
			rest = rest[2*int(st.params):]
		}
		b = append(b, rest...)
	}
	s.buf = b
	return b, nil
}
