package proxy

import (
	"errors"

	"github.com/shardgate/shardgate/backend"
	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/sharding"
)

// source is one unit of a streamed merge: its connection and current row
// (sharding.Source).
type source struct {
	u        *engine.Unit
	bc       *backend.Conn
	onMaster bool
	n        int      // columns
	buf      []byte   // the current row's packet (the connection reuses its own)
	row      [][]byte // its values, in buf
	done     bool
	status   uint16
	warnings uint16
	// failed is the node's ERR in place of its rows' end; lost: the
	// connection failed or sent what is not a row.
	failed *wire.SQLError
	lost   error
}

// errNodeStream ends a merge whose source failed (source.failed or lost
// says how).
var errNodeStream = errors.New("shardgate: a data node's answer ended early")

func (src *source) Next() ([][]byte, bool, error) {
	if src.done {
		return nil, false, nil
	}
	p, err := src.bc.ReadPacket()
	switch {
	case err != nil:
		src.bc.Broken, src.done, src.lost = true, true, err
		return nil, false, errNodeStream
	case wire.IsEOF(p):
		src.done, src.status, src.warnings = true, wire.EOFStatus(p), wire.EOFWarnings(p)
		return nil, false, nil
	case p[0] == 0xff:
		src.done, src.failed = true, wire.ParseError(p)
		return nil, false, errNodeStream
	}
	src.buf = append(src.buf[:0], p...)
	var ok bool
	if src.row, ok = splitRow(src.row[:0], src.buf, src.n); !ok {
		src.bc.Broken, src.done, src.lost = true, true, wire.ErrMalformed
		return nil, false, errNodeStream
	}
	return src.row, true, nil
}

// Stream runs a merged read whose rows merge as they arrive and streams
// it to the client (engine.Streamer): every unit's query is sent first,
// so the nodes work at once; then rows go out as they arrive, the
// smallest current row of every unit first under ORDER BY, else unit
// after unit, groups folded as their rows (sorted by the nodes) end.
// Memory is one row per unit and the open group, whatever the row count.
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
		src.n, src.row = len(cols), make([][]byte, 0, len(cols))
	}
	m := plan.Merge
	visible := m.Visible(len(cols))
	if s.cur.st != nil {
		if err := binaryLossy(defs[:visible]); err != nil {
			abort()
			return 0, engine.Result{Failure: engine.Failed, Err: err}
		}
	}
	ss := make([]sharding.Source, len(srcs))
	for i := range srcs {
		ss[i] = &srcs[i]
	}
	// Stream reads every unit's first row (or, for groups the nodes
	// cannot order as the merge does, every row): nothing went to the
	// client yet, so a failure here is the statement's.
	merged, err := m.Stream(cols, ss)
	if err != nil {
		i, res := streamFailure(srcs, err)
		abort()
		return i, res
	}
	w := rowWriter{c: s.c, status: s.status(), buf: s.buf, maxPacket: s.srv.rt.Snapshot().Config.Props.MaxAllowedPacket, binary: s.cur.st != nil}
	w.rawColumns(defs[:visible])
	for {
		var row [][]byte
		if row, _, err = merged.Next(); err != nil || row == nil {
			break
		}
		w.row(row)
	}
	// Drain what the LIMIT left unread, so the connections stay usable;
	// a node's error here still reaches the client, as it would from one
	// server.
	for i := range srcs {
		for !srcs[i].done {
			srcs[i].Next()
		}
	}
	s.buf = w.buf
	var o engine.Outcome
	var warnings uint16
	var failed *wire.SQLError
	lost := false
	for i := range srcs {
		st := outcome(srcs[i].status, true)
		o.InTx, o.AutocommitOff = o.InTx || st.InTx, o.AutocommitOff || st.AutocommitOff
		warnings += srcs[i].warnings
		lost = lost || srcs[i].lost != nil
		if failed == nil {
			failed = srcs[i].failed
		}
		s.release(srcs[i].bc, srcs[i].onMaster)
	}
	if failed == nil && err != nil && !errors.Is(err, errNodeStream) {
		// The merge's own (a bound reached while folding): in place of
		// the end of the result.
		failed = sqlError(engine.ShardingError(err))
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

// streamFailure is the result of a streamed merge that failed before its
// first row went out: the unit whose connection failed (which may be
// retried), a node's error, or the merge's.
func streamFailure(srcs []source, err error) (int, engine.Result) {
	for i := range srcs {
		switch {
		case srcs[i].lost != nil:
			return i, engine.Result{Failure: engine.ConnLost, Err: dsErr(srcs[i].u.DS, srcs[i].lost)}
		case srcs[i].failed != nil:
			return i, engine.Result{Failure: engine.Failed, Err: srcs[i].failed}
		}
	}
	return 0, engine.Result{Failure: engine.Failed, Err: engine.ShardingError(err)}
}

// sqlError is err as the client reads it.
func sqlError(err error) *wire.SQLError {
	var se *wire.SQLError
	var re *engine.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &re):
		return &wire.SQLError{Code: re.Code, State: re.SQLState, Message: re.Message}
	}
	return &wire.SQLError{Code: 1105, State: "HY000", Message: "shardgate: " + err.Error()}
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
