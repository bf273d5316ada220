package proxy

import (
	"github.com/shardgate/shardgate/backend"
	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/sharding"
)

// Gather runs one unit of a merged plan and reads its whole answer
// (engine.Executor): nothing goes to the client; the connection goes back
// to its pool at once, unless it is the session's transaction's (or an
// atomic write's) on that group.
func (s *session) Gather(u *engine.Unit, cls engine.Class, maxRows int) (engine.Answer, engine.Result) {
	ds := u.DS
	text, err := s.textOf(u)
	if err != nil {
		return engine.Answer{}, engine.Result{Failure: engine.Failed, Err: err}
	}
	s.lastDS = ds.Name
	onMaster := ds.IsMaster()
	bc, err := s.acquire(ds, onMaster)
	if err != nil {
		return engine.Answer{}, failure(ds, err, false)
	}
	if u.Wait != nil {
		if r, ok := s.await(bc, u); !ok {
			return engine.Answer{}, r
		}
	}
	if s.srv.showSQL() {
		s.srv.log.Info("actual sql", "conn", s.id, "dataSource", ds.Name, "sql", engine.Redact(text))
	}
	s.cmd = append(append(s.cmd[:0], wire.ComQuery), text...)
	if err := bc.WriteCommand(s.cmd); err != nil {
		bc.Broken = true
		s.release(bc, onMaster)
		return engine.Answer{}, engine.Result{Failure: engine.ConnLost, Err: dsErr(ds, err)}
	}
	a, res := readAnswer(bc, maxRows)
	if res.Failure == engine.ConnLost {
		bc.Broken = true
		res.Err = dsErr(ds, res.Err)
	}
	if res.Err != nil && bc.ReadOnly && cls&engine.Read != 0 && isRefusedWrite(res.Err) {
		res.Failure = engine.Refused
	}
	s.release(bc, onMaster)
	return a, res
}

// textOf is the text a merged plan's unit runs as: its SQL, with a
// prepared statement's parameters bound into it (merged units are read
// in the text protocol; Write and Stream answer the client in the binary
// one).
func (s *session) textOf(u *engine.Unit) ([]byte, error) {
	if s.cur.st == nil || !u.Args || len(s.cur.args) == 0 {
		return u.SQL, nil
	}
	text, err := sharding.BindText(string(u.SQL), s.cur.args)
	if err != nil {
		return nil, &engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000", Message: err.Error()}
	}
	return []byte(text), nil
}

// readAnswer reads a text-protocol answer: an OK, an error, or a result set
// (copied: the connection's buffer is reused).
func readAnswer(bc *backend.Conn, maxRows int) (engine.Answer, engine.Result) {
	var a engine.Answer
	lost := func(err error) (engine.Answer, engine.Result) {
		return engine.Answer{}, engine.Result{Failure: engine.ConnLost, Err: err}
	}
	p, err := bc.ReadPacket()
	if err != nil {
		return lost(err)
	}
	switch {
	case len(p) == 0:
		return lost(wire.ErrMalformed)
	case p[0] == 0xff:
		return a, engine.Result{Failure: engine.Failed, Err: wire.ParseError(p)}
	case p[0] == 0x00:
		bc.NoteOK(p)
		affected, _, ok := wire.ReadLenenc(p[1:])
		if !ok {
			return lost(wire.ErrMalformed)
		}
		a.Affected = affected
		a.InsertID = wire.OKLastInsertID(p)
		a.Warnings = wire.OKWarnings(p)
		a.Outcome = outcome(wire.OKStatus(p), true)
		if wire.OKStatus(p)&wire.StatusMoreResults != 0 {
			return a, engine.Result{Failure: engine.Failed, Err: wire.NewError(1235, "42000", "shardgate: several results from one statement on sharded tables")}
		}
		return a, engine.Result{Failure: engine.Ran}
	}
	var err2 error
	if a.Defs, a.Cols, err2 = readDefs(bc, p, true); err2 != nil {
		return lost(err2)
	}
	n := len(a.Cols)
	var tooMany bool
	for {
		p, err := bc.ReadPacket()
		if err != nil {
			return lost(err)
		}
		if wire.IsEOF(p) {
			a.Warnings = wire.EOFWarnings(p)
			a.Outcome = outcome(wire.EOFStatus(p), true)
			break
		}
		if p[0] == 0xff {
			return engine.Answer{}, engine.Result{Failure: engine.Failed, Err: wire.ParseError(p)}
		}
		if tooMany {
			continue // drained: the connection stays usable
		}
		if maxRows > 0 && len(a.Rows) >= maxRows {
			tooMany = true
			a.Rows = nil
			continue
		}
		row, ok := parseRow(p, int(n))
		if !ok {
			return lost(wire.ErrMalformed)
		}
		a.Rows = append(a.Rows, row)
	}
	if tooMany {
		m := sharding.Merge{MaxRows: maxRows}
		return engine.Answer{}, engine.Result{Failure: engine.Failed, Err: m.TooMany()}
	}
	return a, engine.Result{Failure: engine.Ran}
}

func orMalformed(err error) error {
	if err != nil {
		return err
	}
	return wire.ErrMalformed
}

// parseRow copies a text row's values (nil for NULL) into one buffer.
func parseRow(p []byte, n int) ([][]byte, bool) {
	return splitRow(make([][]byte, 0, n), append([]byte(nil), p...), n)
}

// columnOf reads what a merge needs from a column definition packet.
func columnOf(p []byte) sharding.Column {
	var c sharding.Column
	r := p
	for i := 0; i < 6; i++ { // catalog, schema, table, org_table, name, org_name
		l, rest, ok := wire.ReadLenenc(r)
		if !ok || uint64(len(rest)) < l {
			return c
		}
		if i == 4 {
			c.Name = string(rest[:l])
		}
		r = rest[l:]
	}
	if len(r) < 10 {
		return c
	}
	charset := uint16(r[1]) | uint16(r[2])<<8
	typ := r[7]
	flags := uint16(r[8]) | uint16(r[9])<<8
	switch typ {
	case 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0d, 0xf6:
		c.Numeric = true
	}
	// Binary strings and collations, and dates (their text sorts as
	// they do), compare byte by byte.
	c.Binary = charset == 63 || flags&0x80 != 0
	// _bin collations pad trailing spaces. MariaDB numbers a NO PAD one
	// 1024 above its PAD one, but reports a column's character set's
	// collation: NO PAD _bin columns are compared as PAD ones.
	c.Pad = c.Binary && charset != 63 && charset < 1024
	// Not the BINARY flag: _bin collations pad trailing spaces, which
	// byte order does not.
	c.Exact = c.Numeric || charset == 63
	c.Enum = flags&(0x100|0x800) != 0 // ENUM_FLAG, SET_FLAG
	return c
}

// Write sends a merged answer to the client (engine.Executor).
func (s *session) Write(a *engine.Answer) {
	if a.Cols == nil {
		if a.InsertID != 0 {
			s.lastInsertID = a.InsertID
		}
		s.buf = wire.AppendOK(s.buf[:0], a.Affected, a.InsertID, s.status(), a.Warnings)
		s.cur.clientOK = s.c.WritePacket(s.buf) == nil
		return
	}
	if s.cur.st != nil {
		if err := binaryLossy(a.Defs[:a.Visible]); err != nil {
			s.writeErr(err)
			s.cur.clientOK = true
			return
		}
	}
	w := rowWriter{c: s.c, status: s.status(), buf: s.buf, maxPacket: s.srv.rt.Snapshot().Config.Props.MaxAllowedPacket, binary: s.cur.st != nil}
	w.rawColumns(a.Defs[:a.Visible])
	for _, r := range a.Rows {
		w.row(r)
	}
	err := w.end(a.Warnings)
	s.buf = w.buf
	s.cur.clientOK = err == nil
}
