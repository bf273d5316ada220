package proxy

import (
	"context"
	"encoding/binary"
	"net"
	"testing"

	"github.com/shardgate/shardgate/backend"
	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/internal/testenv"
)

// readResult reads one text result set (column count, definitions, EOF,
// rows, EOF) and returns its packets.
func readResult(t *testing.T, c *wire.Conn) [][]byte {
	t.Helper()
	var out [][]byte
	eofs := 0
	for eofs < 2 {
		p, err := c.ReadPacket()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if p[0] == 0xff {
			t.Fatalf("error packet: %v", wire.ParseError(p))
		}
		out = append(out, append([]byte(nil), p...))
		if wire.IsEOF(p) {
			eofs++
		}
	}
	return out
}

func lenencString(t *testing.T, b []byte) (string, []byte) {
	t.Helper()
	n, rest, ok := wire.ReadLenenc(b)
	if !ok || uint64(len(rest)) < n {
		t.Fatalf("bad length-encoded string in %q", b)
	}
	return string(rest[:n]), rest[n:]
}

// parseColumn decodes a column definition packet.
func parseColumn(t *testing.T, p []byte) wire.Column {
	t.Helper()
	var c wire.Column
	_, p = lenencString(t, p) // catalog
	c.Schema, p = lenencString(t, p)
	c.Table, p = lenencString(t, p)
	c.OrgTable, p = lenencString(t, p)
	c.Name, p = lenencString(t, p)
	c.OrgName, p = lenencString(t, p)
	if len(p) < 13 || p[0] != 0x0c {
		t.Fatalf("fixed fields: %x", p)
	}
	c.Charset = binary.LittleEndian.Uint16(p[1:])
	c.Length = binary.LittleEndian.Uint32(p[3:])
	c.Type = p[7]
	c.Flags = binary.LittleEndian.Uint16(p[8:])
	c.Decimals = p[10]
	return c
}

// A result the proxy builds is byte for byte what MariaDB sends for the
// same columns and rows.
func TestRowWriterMatchesServer(t *testing.T) {
	r := harness(t)
	cfg, err := config.Parse([]byte(`
users: [{name: u, password: x}]
dataSources: {m: {url: "` + r.Master.Addr() + `", username: root, password: ` + testenv.RootPassword + `}}
masterSlaveRule: {masterDataSourceName: m}
`))
	if err != nil {
		t.Fatal(err)
	}
	bc, err := backend.Dial(context.Background(), cfg.DataSources["m"])
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	const q = "SELECT 42 AS n, 'héllo' AS s, NULL AS z, 1.5 AS d UNION ALL SELECT -7, '', 'x', NULL"
	if err := bc.WriteCommand(append([]byte{wire.ComQuery}, q...)); err != nil {
		t.Fatal(err)
	}
	server := readResult(t, bc.Conn)
	ncols := int(server[0][0])
	cols := make([]wire.Column, ncols)
	for i := range cols {
		cols[i] = parseColumn(t, server[1+i])
	}
	rows := [][][]byte{
		{[]byte("42"), []byte("héllo"), nil, []byte("1.5")},
		{[]byte("-7"), []byte(""), []byte("x"), nil},
	}
	status := wire.EOFStatus(server[len(server)-1])

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		w := &rowWriter{c: wire.NewConn(a, 4096), status: status, maxPacket: 1 << 20}
		w.columns(cols)
		for _, r := range rows {
			w.row(r)
		}
		if err := w.end(0); err != nil {
			t.Error(err)
		}
		w.c.Flush()
	}()
	built := readResult(t, wire.NewConn(b, 4096))
	if len(built) != len(server) {
		t.Fatalf("%d packets built, the server sent %d", len(built), len(server))
	}
	for i := range server {
		if string(built[i]) != string(server[i]) {
			t.Errorf("packet %d:\n built  %x\n server %x", i, built[i], server[i])
		}
	}
}

// A row that does not fit one packet, or has the wrong number of values,
// is an error, not a broken stream.
func TestRowWriterBounds(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		c := wire.NewConn(b, 4096)
		for {
			if _, err := c.ReadPacket(); err != nil {
				return
			}
		}
	}()
	w := &rowWriter{c: wire.NewConn(a, 4096), maxPacket: 64}
	w.columns([]wire.Column{{Name: "a", Type: wire.TypeVarString, Charset: 33}})
	w.row([][]byte{make([]byte, 100)})
	if err := w.end(0); err != errRowTooLarge {
		t.Fatalf("row over the packet limit: %v", err)
	}
	w = &rowWriter{c: wire.NewConn(a, 4096), maxPacket: 64}
	w.columns([]wire.Column{{Name: "a"}})
	w.row([][]byte{nil, nil})
	if err := w.end(0); err == nil {
		t.Fatal("a row with two values for one column was written")
	}
}
