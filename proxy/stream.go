package proxy

import (
	"github.com/shardgate/shardgate/backend"
	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/sharding"
)

// source is one unit of a streamed merge: its connection and current row.
type source struct {
	u        *engine.Unit
	bc       *backend.Conn
	onMaster bool
	buf      []byte   // the current row's packet (the connection reuses its own)
	row      [][]byte // its values, in buf
	done     bool
	status   uint16
	warnings uint16
}

// Stream runs a merged read whose rows merge one at a time and streams it
// to the client (engine.Streamer): every unit's query is sent first, so
// the nodes work at once; then rows go out as they arrive, the smallest
// current row of every unit first under ORDER BY, else unit after unit.
// Memory is one row per unit, whatever the row count.
func (s *session) Stream(plan *engine.Plan, cls engine.Class) (int, engine.Result, bool) {
	if s.eng.NeedsMasterConn() {
		// Held master connections (a transaction): units of one group
		// share one, so they are gathered one after the other.
		return 0, engine.Result{}, false
	}
	i, r := s.stream(plan)
	return i, r, true
}

func (s *session) stream(plan *engine.Plan) (int, engine.Result) {
	srcs := make([]source, len(plan.Units))
	started := 0
	// abort closes the connections of units whose answers were not read
	// to the end.
	abort := func() {
		for i := range srcs[:started] {
			if !srcs[i].done {
				srcs[i].bc.Broken = true
			}
			s.release(srcs[i].bc, srcs[i].onMaster)
		}
	}
	for i := range plan.Units {
		u := &plan.Units[i]
		ds := u.DS
		s.lastDS = ds.Name
		onMaster := ds.IsMaster()
		bc, err := s.acquire(ds, onMaster)
		if err != nil {
			abort()
			return i, failure(ds, err, false)
		}
		if u.Wait != nil {
			if r, ok := s.await(bc, u); !ok {
				abort()
				return i, r
			}
		}
		text, err := s.textOf(u)
		if err != nil {
			s.release(bc, onMaster)
			abort()
			return i, engine.Result{Failure: engine.Failed, Err: err}
		}
		if s.srv.showSQL() {
			s.srv.log.Info("actual sql", "conn", s.id, "dataSource", ds.Name, "sql", engine.Redact(text))
		}
		srcs[i] = source{u: u, bc: bc, onMaster: onMaster}
		started++
		s.cmd = append(append(s.cmd[:0], wire.ComQuery), text...)
		if err := bc.WriteCommand(s.cmd); err != nil {
			bc.Broken = true
			abort()
			return i, engine.Result{Failure: engine.ConnLost, Err: dsErr(ds, err)}
		}
	}
	// Each unit's column definitions; the first unit's go to the client.
	var defs [][]byte
	var cols []sharding.Column
	for i := range srcs {
		src := &srcs[i]
		d, c, res := readHeader(src.bc, i == 0)
		if res.Failure != engine.Ran {
			if res.Failure == engine.ConnLost {
				src.bc.Broken = true
				res.Err = dsErr(src.u.DS, res.Err)
			} else if res.Err != nil && src.bc.ReadOnly && isRefusedWrite(res.Err) {
				res.Failure = engine.Refused
			}
			src.done = res.Failure == engine.Failed // its answer was one ERR packet
			abort()
			return i, res
		}
		if i == 0 {
			defs, cols = d, c
		} else if c != nil && len(c) != len(cols) {
			abort()
			return i, engine.Result{Failure: engine.Failed, Err: &engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000",
				Message: "shardgate: data nodes answered with different columns; their tables differ"}}
		}
		srcs[i].row = make([][]byte, 0, len(cols))
	}
	m := plan.Merge
	less, err := m.Comparison(cols)
	if err != nil {
		abort()
		return 0, engine.Result{Failure: engine.Failed, Err: &engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000", Message: err.Error()}}
	}
	visible := m.Visible(len(cols))
	if s.cur.st != nil {
		if err := binaryLossy(defs[:visible]); err != nil {
			abort()
			return 0, engine.Result{Failure: engine.Failed, Err: err}
		}
	}
	w := rowWriter{c: s.c, status: s.status(), buf: s.buf, maxPacket: s.srv.rt.Snapshot().Config.Props.MaxAllowedPacket, binary: s.cur.st != nil}
	w.rawColumns(defs[:visible])
	skip, left := int64(0), int64(-1)
	if m.Limit {
		skip, left = m.Offset, m.Count
	}
	var failed *wire.SQLError
	next := func(src *source) bool {
		p, err := src.bc.ReadPacket()
		switch {
		case err != nil:
			src.bc.Broken = true
			src.done = true
			return false
		case wire.IsEOF(p):
			src.done, src.status, src.warnings = true, wire.EOFStatus(p), wire.EOFWarnings(p)
		case p[0] == 0xff:
			src.done = true
			if failed == nil {
				failed = wire.ParseError(p)
			}
		default:
			src.buf = append(src.buf[:0], p...)
			var ok bool
			if src.row, ok = splitRow(src.row[:0], src.buf, len(cols)); !ok {
				src.bc.Broken = true
				src.done = true
				return false
			}
		}
		return true
	}
	lost := false
	for i := range srcs {
		lost = !next(&srcs[i]) || lost
	}
	for !lost && failed == nil && left != 0 {
		// The next row: the smallest current one under ORDER BY, else
		// the first unit's that has rows left.
		var pick *source
		for i := range srcs {
			src := &srcs[i]
			if src.done {
				continue
			}
			if pick == nil {
				pick = src
				if less == nil {
					break
				}
			} else if less(src.row, pick.row) < 0 {
				pick = src
			}
		}
		if pick == nil {
			break
		}
		if skip > 0 {
			skip--
		} else {
			w.row(pick.row[:visible])
			if left > 0 {
				left--
			}
		}
		if !next(pick) {
			lost = true
		}
	}
	// Drain what the LIMIT left unread, so the connections stay usable.
	for i := range srcs {
		for !lost && !srcs[i].done {
			lost = !next(&srcs[i])
		}
	}
	s.buf = w.buf
	var o engine.Outcome
	var warnings uint16
	for i := range srcs {
		st := outcome(srcs[i].status, true)
		o.InTx, o.AutocommitOff = o.InTx || st.InTx, o.AutocommitOff || st.AutocommitOff
		warnings += srcs[i].warnings
		s.release(srcs[i].bc, srcs[i].onMaster)
	}
	switch {
	case lost:
		// Part of the answer went out: the client cannot recover.
		return 0, engine.Result{Failure: engine.CutOff, Err: engine.ErrCutOff}
	case failed != nil:
		// A node's error after some rows: the client reads it in place of
		// the end of the result, as from one server.
		s.cur.clientOK = w.err == nil && s.c.WritePacket(wire.AppendError(w.buf[:0], failed)) == nil
		return 0, engine.Result{Failure: engine.Ran, Outcome: engine.Outcome{OK: false}}
	}
	o.OK = true
	s.cur.clientOK = w.end(warnings) == nil
	return 0, engine.Result{Failure: engine.Ran, Outcome: o}
}

// readHeader reads a text result's column count, definitions and EOF
// (copied when keep). A node's ERR is Failed with its error.
func readHeader(bc *backend.Conn, keep bool) ([][]byte, []sharding.Column, engine.Result) {
	lost := func(err error) ([][]byte, []sharding.Column, engine.Result) {
		return nil, nil, engine.Result{Failure: engine.ConnLost, Err: err}
	}
	p, err := bc.ReadPacket()
	switch {
	case err != nil:
		return lost(err)
	case len(p) == 0:
		return lost(wire.ErrMalformed)
	case p[0] == 0xff:
		return nil, nil, engine.Result{Failure: engine.Failed, Err: wire.ParseError(p)}
	case p[0] == 0x00:
		return lost(wire.ErrMalformed) // a SELECT answers rows
	}
	defs, cols, err := readDefs(bc, p, keep)
	if err != nil {
		return lost(err)
	}
	return defs, cols, engine.Result{Failure: engine.Ran}
}

// readDefs reads the column definitions and EOF after a result's column
// count packet p (definitions copied when keep).
func readDefs(bc *backend.Conn, p []byte, keep bool) ([][]byte, []sharding.Column, error) {
	n, _, ok := wire.ReadLenenc(p)
	if !ok || n == 0 || n > 4096 {
		return nil, nil, wire.ErrMalformed
	}
	defs := make([][]byte, n)
	cols := make([]sharding.Column, n)
	for i := range defs {
		p, err := bc.ReadPacket()
		if err != nil {
			return nil, nil, err
		}
		if keep {
			defs[i] = append([]byte(nil), p...)
		}
		cols[i] = columnOf(p)
	}
	if p, err := bc.ReadPacket(); err != nil || !wire.IsEOF(p) {
		return nil, nil, orMalformed(err)
	}
	return defs, cols, nil
}

// splitRow reads a text row's n values (nil for NULL) as slices of p.
func splitRow(row [][]byte, p []byte, n int) ([][]byte, bool) {
	for r := p; len(r) > 0; {
		if r[0] == 0xfb {
			row, r = append(row, nil), r[1:]
			continue
		}
		l, rest, ok := wire.ReadLenenc(r)
		if !ok || uint64(len(rest)) < l {
			return nil, false
		}
		row, r = append(row, rest[:l:l]), rest[l:]
	}
	return row, len(row) == n
}
