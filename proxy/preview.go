package proxy

import (
	"github.com/shardgate/shardgate/backend/wire"
)

// preview answers PREVIEW <statement> (ShardingSphere's DistSQL): one row
// per unit the statement would run as, with its data source and SQL, in
// the session's state (a transaction's statements preview on its master).
// Nothing is sent to a backend.
func (s *session) preview(stmt []byte) bool {
	units, err := s.srv.rt.Preview(stmt, &s.eng)
	if err != nil {
		s.writeErr(err)
		return true
	}
	w := rowWriter{c: s.c, status: s.status(), buf: s.buf, maxPacket: s.srv.rt.Snapshot().Config.Props.MaxAllowedPacket}
	w.columns([]wire.Column{
		{Name: "data_source_name", Type: wire.TypeVarString, Charset: 45, Length: 256},
		{Name: "actual_sql", Type: wire.TypeVarString, Charset: 45, Length: 1 << 24},
	})
	for _, u := range units {
		w.row([][]byte{[]byte(u.DataSource), []byte(u.SQL)})
	}
	err = w.end(0)
	s.buf = w.buf
	if err != nil && err != errRowTooLarge {
		return false
	}
	return true
}
