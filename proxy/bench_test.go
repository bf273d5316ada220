package proxy

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/internal/testenv"
)

// BenchmarkStatementPath runs sysbench's two read shapes over the wire
// protocol, one statement at a time, through the proxy and straight to
// MariaDB: a point select and a 100-row range, as text with a new literal
// per statement (sysbench --db-ps-mode=disable) and as prepared
// statements. The client is a raw packet connection that allocates
// nothing, so allocs/op are the proxy's; cpu-µs/op is this process's user
// and system time per statement (client and proxy; the direct runs give
// the client's share).
//
//	go test ./proxy -run '^$' -bench StatementPath -benchtime 20000x
func BenchmarkStatementPath(b *testing.B) {
	r := harness(b)
	benchOnce(b, r)
	p := benchProxy(b, r)
	targets := []struct {
		name string
		dial func() *wire.Conn
	}{
		{"proxy", func() *wire.Conn { c, _ := rawLogin(b, p.addr); return c }},
		{"direct", func() *wire.Conn {
			c, _ := rawLoginAs(b, r.Slaves[0].Addr(), "root", testenv.RootPassword)
			return c
		}},
	}
	for _, tg := range targets {
		for _, sh := range benchShapes {
			b.Run(tg.name+"/"+sh.name+"/text", func(b *testing.B) {
				runStatements(b, tg.dial(), sh.rows, sh.textOf())
			})
			b.Run(tg.name+"/"+sh.name+"/prepared", func(b *testing.B) {
				c := tg.dial()
				runStatements(b, c, sh.rows, sh.executeOf(prepare(b, c, sh.prepared)))
			})
		}
	}
}

// The statement path allocates nothing per statement for a point select
// or 100-row range, prepared or as text with a new literal each time (the
// classification cache keys such texts by shape), counted for the whole
// process, background health checks included, over 2000 statements each.
func TestStatementAllocs(t *testing.T) {
	r := harness(t)
	benchOnce(t, r)
	p := benchProxy(t, r)
	for _, sh := range benchShapes {
		for _, mode := range []string{"text", "prepared"} {
			c, _ := rawLogin(t, p.addr)
			next, most := sh.textOf(), 0.2
			if mode == "prepared" {
				next, most = sh.executeOf(prepare(t, c, sh.prepared)), 0.2
			}
			if raceOn {
				most++
			}
			for i := range 100 {
				roundTrip(t, c, next(i))
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			const n = 2000
			for i := range n {
				if got := roundTrip(t, c, next(i)); got != sh.rows {
					t.Fatalf("%s %s: %d rows, want %d", sh.name, mode, got, sh.rows)
				}
			}
			runtime.ReadMemStats(&m1)
			if per := float64(m1.Mallocs-m0.Mallocs) / n; per > most {
				t.Errorf("%s %s: %.2f allocations per statement, want at most %.1f", sh.name, mode, per, most)
			}
		}
	}
}

func benchProxy(t testing.TB, r *testenv.Replication) *proxyEnv {
	return startProxyYAML(t, r, fmt.Sprintf(`
listen: 127.0.0.1:0
users: [{name: %s, password: %s}]
dataSources:
  master: {url: "%s", username: root, password: %s, database: pt}
  slave0: {url: "%s", username: root, password: %s, database: pt}
masterSlaveRule: {masterDataSourceName: master, slaveDataSourceNames: [slave0]}
`, user, password, r.Master.Addr(), testenv.RootPassword, r.Slaves[0].Addr(), testenv.RootPassword))
}

// benchShape is one of sysbench's read shapes.
type benchShape struct {
	name     string
	text     string // up to the first literal
	prepared string
	params   int
	rows     int
}

var benchShapes = []benchShape{
	{"point", "SELECT c FROM bench WHERE id = ", "SELECT c FROM bench WHERE id = ?", 1, 1},
	{"range100", "SELECT c FROM bench WHERE id BETWEEN ", "SELECT c FROM bench WHERE id BETWEEN ? AND ?", 2, 100},
}

// textOf makes the i-th statement as text, with a new literal each time.
func (sh benchShape) textOf() func(int) []byte {
	q := make([]byte, 0, 128)
	return func(i int) []byte {
		id := int64(i%(benchRows-100) + 1)
		// Without fmt, which allocates.
		q = strconv.AppendInt(append(append(q[:0], wire.ComQuery), sh.text...), id, 10)
		if sh.params == 2 {
			q = strconv.AppendInt(append(q, " AND "...), id+99, 10)
		}
		return q
	}
}

// executeOf makes the i-th COM_STMT_EXECUTE of statement id.
func (sh benchShape) executeOf(id uint32) func(int) []byte {
	ex := make([]byte, 0, 64)
	return func(i int) []byte {
		v := uint32(i%(benchRows-100) + 1)
		ex = append(ex[:0], wire.ComStmtExecute)
		ex = binary.LittleEndian.AppendUint32(ex, id)
		ex = append(ex, 0, 1, 0, 0, 0, 0, 1) // no cursor, 1 iteration, null bitmap, types follow
		for range sh.params {
			ex = append(ex, 0x03, 0) // LONG
		}
		ex = binary.LittleEndian.AppendUint32(ex, v)
		if sh.params == 2 {
			ex = binary.LittleEndian.AppendUint32(ex, v+99)
		}
		return ex
	}
}

const benchRows = 100000

var benchSetup bool

// benchOnce creates pt.bench: benchRows rows of 120 characters, like
// sysbench's c column.
func benchOnce(b testing.TB, r *testenv.Replication) {
	if benchSetup {
		return
	}
	r.Master.Exec(b,
		"CREATE TABLE IF NOT EXISTS pt.bench (id INT PRIMARY KEY, c CHAR(120) NOT NULL)",
		"INSERT IGNORE INTO pt.bench SELECT seq, REPEAT('x', 120) FROM pt.seq_1_to_"+strconv.Itoa(benchRows),
	)
	r.Sync(b)
	benchSetup = true
}

// runStatements sends b.N commands made by next and reads each answer,
// checking it has the expected number of rows.
func runStatements(b *testing.B, c *wire.Conn, rows int, next func(i int) []byte) {
	b.Helper()
	for i := range 200 { // warm the pools and caches
		if n := roundTrip(b, c, next(i)); n != rows {
			b.Fatalf("%d rows, want %d", n, rows)
		}
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if n := roundTrip(b, c, next(i)); n != rows {
			b.Fatalf("%d rows, want %d", n, rows)
		}
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()+ru1.Stime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// roundTrip sends one command and reads its result set, returning the
// number of rows.
func roundTrip(b testing.TB, c *wire.Conn, p []byte) int {
	if err := c.WriteCommand(p); err != nil {
		b.Fatal(err)
	}
	r, err := c.ReadPacket()
	if err != nil {
		b.Fatal(err)
	}
	if r[0] == 0xff {
		b.Fatalf("error: %s", r[1:])
	}
	if r[0] == 0 {
		return 0
	}
	rows, eofs := 0, 0
	for eofs < 2 {
		r, err := c.ReadPacket()
		if err != nil {
			b.Fatal(err)
		}
		switch {
		case r[0] == 0xff:
			b.Fatalf("error: %s", r[1:])
		case wire.IsEOF(r):
			eofs++
		case eofs == 1:
			rows++
		}
	}
	return rows
}

// prepare prepares sql on c and returns the statement id.
func prepare(b testing.TB, c *wire.Conn, sql string) uint32 {
	if err := c.WriteCommand(append([]byte{wire.ComStmtPrepare}, sql...)); err != nil {
		b.Fatal(err)
	}
	r, err := c.ReadPacket()
	if err != nil || r[0] != 0 {
		b.Fatalf("prepare: % x %v", r, err)
	}
	id := binary.LittleEndian.Uint32(r[1:])
	cols, params := binary.LittleEndian.Uint16(r[5:]), binary.LittleEndian.Uint16(r[7:])
	for _, n := range []uint16{params, cols} {
		if n == 0 {
			continue
		}
		for range n + 1 { // definitions and their EOF
			if _, err := c.ReadPacket(); err != nil {
				b.Fatal(err)
			}
		}
	}
	return id
}
