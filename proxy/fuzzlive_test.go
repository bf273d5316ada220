package proxy

import (
	"database/sql"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/internal/testenv"
)

// One proxy over the real replication harness serves every input of
// FuzzSessionLive in a process (fuzz workers are processes of their own);
// TestMain closes it.
var live struct {
	once  sync.Once
	addr  string
	err   error
	close func()
}

func liveProxy(t *testing.T) string {
	t.Helper()
	r := harness(t)
	live.once.Do(func() {
		y := fmt.Sprintf(`
users: [{name: nopw, allowEmptyPassword: true}]
dataSources:
  master: {url: "%s", username: root, password: %s, database: pt, healthCheckInterval: 100ms, connectTimeout: 1s}
  slave0: {url: "%s", username: root, password: %s, database: pt, healthCheckInterval: 100ms, connectTimeout: 1s}
masterSlaveRule: {masterDataSourceName: master, slaveDataSourceNames: [slave0]}
props: {maxAllowedPacket: 65536, handshakeTimeout: 1s, maxConnections: 64}
`, r.Master.Addr(), testenv.RootPassword, r.Slaves[0].Addr(), testenv.RootPassword)
		cfg, err := config.Parse([]byte(y))
		if err != nil {
			live.err = err
			return
		}
		rt, err := engine.NewRuntime(cfg, OpenPool)
		if err != nil {
			live.err = err
			return
		}
		srv, err := New(rt)
		if err != nil {
			rt.Close()
			live.err = err
			return
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			rt.Close()
			live.err = err
			return
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		live.addr = ln.Addr().String()
		live.close = func() { srv.Close(); <-done; rt.Close() }
	})
	if live.err != nil {
		t.Fatal(live.err)
	}
	return live.addr
}

// FuzzSessionLive is FuzzSession against real MariaDB replication over
// TCP: the fuzzed bytes are a client's whole conversation after login, so
// the command handlers run on live backend connections. No input may
// crash the proxy or keep its session from ending once the client hangs
// up, and after each one a new client is served (nothing was poisoned:
// no pool left short, no backend connection left in a foreign state).
func FuzzSessionLive(f *testing.F) {
	id := []byte{1, 0, 0, 0}
	q := func(s string) []byte { return packet(0, append([]byte{wire.ComQuery}, s...)...) }
	for _, cmds := range [][]byte{
		q("SELECT 1"),
		q("SELECT * FROM pt.t LIMIT 3"),
		append(q("BEGIN"), append(q("SELECT id FROM pt.t FOR UPDATE"), q("ROLLBACK")...)...),
		append(q("SET @a := 1"), q("SELECT @a")...),
		q("SELECT 1; SELECT 2"),
		q("CREATE TEMPORARY TABLE tmp (x INT)"),
		q("LOCK TABLES pt.t READ"),
		q("SELECT GET_LOCK('fuzz', 0)"),
		q("HANDLER pt.t OPEN"),
		append(packet(0, append([]byte{wire.ComStmtPrepare}, "SELECT ?"...)...),
			packet(0, append(append([]byte{wire.ComStmtExecute}, id...), 0, 1, 0, 0, 0, 0, 1, 3, 0, 1, 0, 0, 0)...)...),
		packet(0, append([]byte{wire.ComFieldList}, "t\x00"...)...),
		packet(0, append([]byte{wire.ComInitDB}, "pt2"...)...),
		packet(0, wire.ComResetConnection),
		packet(0, wire.ComSetOption, 0, 0),
		packet(0, append([]byte{wire.ComChangeUser}, "nopw\x00\x00pt\x00\x2d\x00mysql_native_password\x00"...)...),
	} {
		f.Add(cmds)
	}
	login := loginNoPassword()
	f.Fuzz(func(t *testing.T, cmds []byte) {
		addr := liveProxy(t)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(append(append([]byte(nil), login...), cmds...)); err == nil {
			c.(*net.TCPConn).CloseWrite()
		}
		// The session ends (and hangs up) once it has read all the input.
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("session did not end after its client hung up: %v (input %q)", err, cmds)
		}
		db, err := sql.Open("mysql", "nopw@tcp("+addr+")/pt?timeout=5s&readTimeout=5s")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// On the master: a pooled connection there is what a session can
		// leave locks or variables on.
		var noVar, noLock bool
		var dbName string
		if err := db.QueryRow("SELECT @a IS NULL, DATABASE(), IS_USED_LOCK('fuzz') IS NULL FOR UPDATE").Scan(&noVar, &dbName, &noLock); err != nil {
			t.Fatalf("a new client after input %q: %v", cmds, err)
		}
		if !noVar || dbName != "pt" || !noLock {
			t.Fatalf("a new client after input %q saw @a set %v, database %q, lock held %v", cmds, !noVar, dbName, !noLock)
		}
	})
}
