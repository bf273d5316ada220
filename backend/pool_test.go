package backend

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/internal/testenv"
)

var shared = &testenv.Shared{Slaves: 1}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			code = 1
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
		}
	}
	os.Exit(code)
}

func dsFor(t *testing.T, m *testenv.MariaDB, max int) *config.DataSource {
	ds := &config.DataSource{URL: m.Addr(), Username: "root", Password: testenv.RootPassword, MaxPoolSize: max,
		HealthCheckInterval: 100 * time.Millisecond}
	c := &config.Config{Users: []config.User{{Name: "u", Password: "x"}}, DataSources: map[string]*config.DataSource{"m": ds},
		MasterSlaveRule: config.MasterSlaveRule{MasterDataSourceName: "m"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestDialAndCommands(t *testing.T) {
	r := shared.Get(t)
	ds := dsFor(t, r.Master, 2)
	c, err := Dial(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Version == "" || c.ThreadID == 0 {
		t.Errorf("handshake: version %q thread %d", c.Version, c.ThreadID)
	}
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec("CREATE DATABASE IF NOT EXISTS bt"); err != nil {
		t.Fatal(err)
	}
	if err := c.InitDB("bt"); err != nil || c.DB != "bt" {
		t.Fatal(err)
	}
	// Server errors come back with code and SQLSTATE, and the connection stays usable.
	_, err = c.Exec("SELECT * FROM no_such_table")
	var se *wire.SQLError
	if !errors.As(err, &se) || se.Code != 1146 || se.State != "42S02" || c.Broken {
		t.Fatalf("error: %#v broken %v", err, c.Broken)
	}
	st, err := c.Exec("BEGIN")
	if err != nil || st&wire.StatusInTrans == 0 {
		t.Fatalf("BEGIN: status %x %v", st, err)
	}
	if err := c.ResetSession(); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Exec("SELECT 1"); err != nil || st&wire.StatusInTrans != 0 {
		t.Fatalf("after reset: status %x %v", st, err)
	}
	bad := *ds
	bad.Password = "wrong"
	if _, err := Dial(context.Background(), &bad); !errors.As(err, &se) || se.Code != 1045 {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestPool(t *testing.T) {
	r := shared.Get(t)
	p := NewPool("m", dsFor(t, r.Master, 2), false, nil)
	defer p.Close()
	ctx := context.Background()
	a, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Full: a third Get waits for a Put.
	go func() { time.Sleep(50 * time.Millisecond); p.Put(a) }()
	c, err := p.Get(ctx)
	if err != nil || c != a {
		t.Fatalf("waiting Get: %v", err)
	}
	// A broken connection is closed, not reused.
	b.Broken = true
	p.Put(b)
	if open, _, _ := p.Stats(); open != 1 {
		t.Fatalf("after broken put: %d open", open)
	}
	p.Put(c)
	d, _ := p.Get(ctx)
	if d == b {
		t.Fatal("broken connection reused")
	}
	p.Put(d)
}

// The sweep closes the connections idle for longer than idleTimeout and
// keeps the others.
func TestPoolSweepsIdle(t *testing.T) {
	r := shared.Get(t)
	ds := dsFor(t, r.Master, 2)
	ds.IdleTimeout = 200 * time.Millisecond
	// Only the test's sweep: the background one, every interval, holds a
	// connection out of the idle list while it looks at it, which the
	// counts below would see (a CI run did: 2 open, 1 idle).
	ds.HealthCheckInterval = time.Hour
	p := NewPool("m", ds, false, nil)
	defer p.Close()
	ctx := context.Background()
	a, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Put(a)
	time.Sleep(300 * time.Millisecond)
	p.Put(b)
	p.sweep()
	if open, idle, _ := p.Stats(); open != 1 || idle != 1 {
		t.Fatalf("after the sweep: %d open, %d idle; want the recent one only", open, idle)
	}
	if c, err := p.Get(ctx); err != nil || c != b {
		t.Fatalf("Get after the sweep: %v (the recent connection: %v)", err, c == b)
	}
}

// A failed dial is reported to the pool's owner; the monitor's connection
// fails while nothing listens and, once the server is there, answers the
// health queries (NULL as nil) without taking a pool slot.
func TestPoolDownAndMonitor(t *testing.T) {
	r := shared.Get(t)
	ds := dsFor(t, r.Master, 2)
	port := testenv.FreePort(t)
	ds.Addr = "127.0.0.1:" + testenv.Itoa(port)
	ds.ConnectTimeout = 200 * time.Millisecond
	var reported error
	p := NewPool("x", ds, false, func(err error) { reported = err })
	defer p.Close()
	ctx := context.Background()
	if _, err := p.Get(ctx); err == nil || reported == nil {
		t.Fatalf("dial to nothing: %v, reported %v", err, reported)
	}
	if _, err := p.Monitor(ctx); err == nil {
		t.Fatal("monitor connection to nothing succeeded")
	}
	// Point it at a live server through a relay on that port.
	stopRelay := relay(t, port, r.Master.Addr())
	defer stopRelay()
	mc, err := p.Monitor(ctx)
	if err != nil {
		t.Fatalf("monitor through the relay: %v", err)
	}
	defer mc.Close()
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	cols, rows, err := mc.Query(qctx, "SELECT @@read_only AS ro, NULL AS n")
	if err != nil || len(cols) != 2 || cols[0] != "ro" || len(rows) != 1 || rows[0][0] == nil || *rows[0][0] != "0" || rows[0][1] != nil {
		t.Fatalf("query: %v %v %v", cols, rows, err)
	}
	if open, _, _ := p.Stats(); open != 0 {
		t.Fatalf("the monitor's connection took a pool slot: %d open", open)
	}
}

// A connection the server closed while it sat idle is not handed out.
func TestPoolDropsConnectionsClosedByServer(t *testing.T) {
	r := shared.Get(t)
	p := NewPool("m", dsFor(t, r.Master, 2), false, nil)
	defer p.Close()
	ctx := context.Background()
	c, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := c.ThreadID
	p.Put(c)
	r.Master.Exec(t, "KILL "+strconv.Itoa(int(id)))
	time.Sleep(50 * time.Millisecond)
	c2, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Put(c2)
	if c2 == c {
		t.Fatal("killed connection handed out")
	}
	if err := c2.Ping(); err != nil {
		t.Fatal(err)
	}
}

// A slave's pool opens read-only sessions that no replayed SET and no reset
// makes writable, and no connection runs several statements per command
// unless its flags ask for it.
func TestReadOnlyAndMultiStatements(t *testing.T) {
	r := shared.Get(t)
	r.Master.Exec(t, "CREATE DATABASE IF NOT EXISTS bt", "CREATE TABLE IF NOT EXISTS bt.ro (id INT)")
	ctx := context.Background()
	ro := NewPool("slave", dsFor(t, r.Master, 4), true, nil)
	defer ro.Close()
	rw := NewPool("master", dsFor(t, r.Master, 4), false, nil)
	defer rw.Close()

	wantCode := func(c *Conn, sql string, code uint16) {
		t.Helper()
		_, err := c.Exec(sql)
		var se *wire.SQLError
		if code == 0 && err != nil || code != 0 && (!errors.As(err, &se) || se.Code != code) {
			t.Errorf("%q: %v, want code %d", sql, err, code)
		}
	}
	c, err := ro.GetFor(ctx, MultiStatements)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(c, "INSERT INTO bt.ro VALUES (1)", 1792)          // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	wantCode(c, "CREATE TEMPORARY TABLE bt.tmp (a INT)", 1792) // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	wantCode(c, "SELECT 1; SELECT 2", 1064)                    // MultiStatements ignored on a slave
	if err := c.Replay([]string{"SET SESSION TRANSACTION READ WRITE", "SET tx_read_only = 0"}); err != nil {
		t.Fatal(err)
	}
	wantCode(c, "INSERT INTO bt.ro VALUES (1)", 1792) // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	if err := c.ResetSession(); err != nil {
		t.Fatal(err)
	}
	wantCode(c, "INSERT INTO bt.ro VALUES (1)", 1792) // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	wantCode(c, "SELECT 1", 0)
	ro.Put(c)

	single, err := rw.GetFor(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(single, "SELECT 1; SELECT 2", 1064)
	wantCode(single, "INSERT INTO bt.ro VALUES (1)", 0)
	multi, err := rw.GetFor(ctx, MultiStatements|FoundRows)
	if err != nil {
		t.Fatal(err)
	}
	if multi == single || multi.Flags != MultiStatements|FoundRows {
		t.Fatalf("flags %v", multi.Flags)
	}
	wantCode(multi, "SELECT 1; SELECT 2", 0)
	rw.Put(single)
	rw.Put(multi)
	if again, _ := rw.GetFor(ctx, 0); again != single {
		t.Error("a connection came back to the wrong flavour's queue")
	} else {
		rw.Put(again)
	}
}
