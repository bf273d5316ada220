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
	bc, text, r, ok := s.take(u)
	if ok {
		r, ok = s.send(bc, u, text)
	}
	if !ok {
		return engine.Answer{}, r
	}
	return s.receive(bc, u, cls, maxRows)
}

// GatherMany runs units of a merged write, each on its own connection, at
// once (engine.Batcher): every connection is taken (branches begun), then
// every statement sent, then every answer read.
func (s *session) GatherMany(us []*engine.Unit, cls engine.Class, out []engine.Answer, res []engine.Result) int {
	conns := make([]*backend.Conn, len(us))
	texts := make([][]byte, len(us))
	for i, u := range us {
		bc, text, r, ok := s.take(u)
		if !ok {
			for _, c := range conns[:i] {
				s.release(c, true) // nothing sent
			}
			res[i] = r
			return i
		}
		conns[i], texts[i] = bc, text
	}
	for i, bc := range conns {
		if r, ok := s.send(bc, us[i], texts[i]); !ok {
			res[i], conns[i] = r, nil
		}
	}
	for i, bc := range conns {
		if bc != nil {
			out[i], res[i] = s.receive(bc, us[i], cls, 0)
		}
	}
	return -1
}

// take gets u's connection and text (ok), or says why not.
func (s *session) take(u *engine.Unit) (*backend.Conn, []byte, engine.Result, bool) {
	ds := u.DS
	text, err := s.textOf(u)
	if err != nil {
		return nil, nil, engine.Result{Failure: engine.Failed, Err: err}, false
	}
	s.lastDS = ds.Name
	bc, err := s.acquire(ds, ds.IsMaster())
	if err != nil {
		return nil, nil, failure(ds, err, false), false
	}
	if err := s.savepointFor(bc); err != nil {
		if isConnErr(err) {
			bc.Broken = true
		}
		s.release(bc, ds.IsMaster())
		return nil, nil, failure(ds, err, false), false
	}
	if u.Wait != nil {
		if r, ok := s.await(bc, u); !ok {
			return nil, nil, r, false
		}
	}
	return bc, text, engine.Result{}, true
}

// send sends u's statement text on bc; when it cannot, bc is given back.
func (s *session) send(bc *backend.Conn, u *engine.Unit, text []byte) (engine.Result, bool) {
	ds := u.DS
	if s.srv.showSQL() {
		s.srv.log.Info("actual sql", "conn", s.id, "dataSource", ds.Name, "sql", engine.Redact(text))
	}
	s.cmd = append(append(s.cmd[:0], wire.ComQuery), text...)
	if err := bc.WriteCommand(s.cmd); err != nil {
		bc.Broken = true
		s.release(bc, ds.IsMaster())
		return engine.Result{Failure: engine.ConnLost, Err: dsErr(ds, err)}, false
	}
	return engine.Result{}, true
}

// receive reads the answer of u's statement sent on bc and gives bc back.
func (s *session) receive(bc *backend.Conn, u *engine.Unit, cls engine.Class, maxRows int) (engine.Answer, engine.Result) {
	ds := u.DS
	a, res := readAnswer(bc, maxRows)
	if res.Failure == engine.ConnLost {
		bc.Broken = true
		res.Err = dsErr(ds, res.Err)
	}
	if res.Err != nil && bc.ReadOnly && cls&engine.Read != 0 && isRefusedWrite(res.Err) {
		res.Failure = engine.Refused
	}
	s.release(bc, ds.IsMaster())
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
