package proxy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/internal/testenv"
)

// readGreeting reads the server's first packet from a raw connection.
func readGreeting(t *testing.T, nc net.Conn) {
	t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(nc, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if _, err := io.ReadFull(nc, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
}

// closedSoon reports whether the server closes nc within d.
func closedSoon(nc net.Conn, d time.Duration) bool {
	nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// Before login, a header claiming a 16 MB packet is refused at once
// (nothing allocated for it), and a client that never logs in is dropped
// after handshakeTimeout.
func TestPreAuthLimits(t *testing.T) {
	p := startProxy(t, "handshakeTimeout: 300ms")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var conns []net.Conn
	for range 32 {
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		readGreeting(t, nc)
		nc.Write([]byte{0xff, 0xff, 0xff, 1, 'a', 'b', 'c', 'd'})
		conns = append(conns, nc)
	}
	for _, nc := range conns {
		if !closedSoon(nc, 2*time.Second) {
			t.Fatal("a 16 MB pre-auth packet did not end the connection")
		}
	}
	runtime.ReadMemStats(&after)
	if grew := int64(after.TotalAlloc) - int64(before.TotalAlloc); grew > 64<<20 {
		t.Errorf("32 pre-auth 16 MB headers allocated %d MiB", grew>>20)
	}
	nc, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	readGreeting(t, nc)
	start := time.Now()
	if !closedSoon(nc, 3*time.Second) || time.Since(start) > 2*time.Second {
		t.Errorf("a silent client was kept %v (handshakeTimeout 300ms)", time.Since(start))
	}
	// Others are unaffected.
	if id := serverID(t, p.db(t, ""), "SELECT @@server_id"); id == 0 {
		t.Error("no answer")
	}
}

// A packet over maxAllowedPacket gets ERR 1153 and ends that connection;
// other clients are unaffected.
func TestMaxAllowedPacket(t *testing.T) {
	p := startProxy(t, "maxAllowedPacket: 4096")
	db := p.db(t, "")
	var me *mysql.MySQLError
	_, err := db.Exec("SELECT '" + strings.Repeat("x", 8000) + "'")
	if !errors.As(err, &me) || me.Number != 1153 {
		t.Errorf("8000-byte statement: %v, want error 1153", err)
	}
	// That connection is gone (as MariaDB ends it too); another client
	// goes on.
	if _, err := p.db(t, "").Exec("SELECT '" + strings.Repeat("x", 4000) + "'"); err != nil {
		t.Errorf("4000-byte statement: %v", err)
	}
}

// Client connections past maxConnections get ERR 1040; an idle client is
// closed after waitTimeout.
func TestConnectionLimits(t *testing.T) {
	p := startProxy(t, "maxConnections: 3, waitTimeout: 1s")
	db := p.db(t, "")
	ctx := context.Background()
	var held []interface{ Close() error }
	for range 3 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	other := p.db(t, "")
	var me *mysql.MySQLError
	if err := other.PingContext(ctx); !errors.As(err, &me) || me.Number != 1040 {
		t.Errorf("4th connection: %v, want error 1040", err)
	}
	for _, c := range held {
		c.Close()
	}
	db.Close()
	// The proxy ends the sessions of the closed connections shortly.
	c := eventually(t, other)
	defer c.Close()
	time.Sleep(2500 * time.Millisecond)
	if err := c.PingContext(ctx); err == nil {
		t.Error("an idle client outlived waitTimeout 1s")
	}
}

// A client idle inside a transaction past idleTransactionTimeout is
// disconnected, its transaction rolled back and its master connection freed.
func TestIdleTransactionTimeout(t *testing.T) {
	p := startProxy(t, "idleTransactionTimeout: 500ms")
	p.r.Master.Exec(t, "CREATE TABLE IF NOT EXISTS pt.itx (id INT PRIMARY KEY)", "DELETE FROM pt.itx")
	db := p.db(t, "")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{"BEGIN", "INSERT INTO itx VALUES (1)"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := c.ExecContext(ctx, "COMMIT"); err == nil {
		t.Error("COMMIT after idleTransactionTimeout succeeded")
	}
	var n int
	if err := p.r.Master.DB(t, "pt").QueryRow("SELECT COUNT(*) FROM itx").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows of the timed-out transaction: %d %v, want 0", n, err)
	}
	// Outside a transaction the same idleness is fine.
	c2, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1 * time.Second)
	if err := c2.PingContext(ctx); err != nil {
		t.Errorf("an idle client outside a transaction was dropped: %v", err)
	}
}

// Per-session bounds: prepared statements (ERR 1461) and long data
// (ERR 1153 at execute); the session goes on after both.
func TestSessionStatementLimits(t *testing.T) {
	old := maxSessionStmts
	maxSessionStmts = 5
	// Restored after the proxy's own cleanup (cleanups run last first):
	// its sessions read the bound until they end.
	t.Cleanup(func() { maxSessionStmts = old })
	p := startProxy(t, "maxAllowedPacket: 4096")
	db := p.db(t, "")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var me *mysql.MySQLError
	var stmts []interface{ Close() error }
	for i := 0; i < 6; i++ {
		st, err := c.PrepareContext(ctx, fmt.Sprintf("SELECT %d + ?", i))
		if i < 5 && err != nil {
			t.Fatal(err)
		}
		if i == 5 && (!errors.As(err, &me) || me.Number != 1461) {
			t.Errorf("6th prepared statement: %v, want error 1461", err)
		}
		if err == nil {
			stmts = append(stmts, st)
		}
	}
	for _, st := range stmts {
		st.Close()
	}
	long := p.db(t, "maxAllowedPacket=1024") // the client sends big values as long data
	var v string
	err = long.QueryRow("SELECT CONCAT(?, '')", strings.Repeat("x", 8000)).Scan(&v)
	if !errors.As(err, &me) || me.Number != 1153 || !strings.Contains(me.Message, "long data") {
		t.Errorf("8000 bytes of long data: %v, want error 1153 about long data", err)
	}
	if err := long.QueryRow("SELECT CONCAT(?, '')", strings.Repeat("y", 2000)).Scan(&v); err != nil || len(v) != 2000 {
		t.Errorf("2000 bytes of long data: %d %v", len(v), err)
	}
}

// users[].maxConnections: ERR 1226 past it, for that user only.
func TestUserMaxConnections(t *testing.T) {
	r := harness(t)
	p := startProxyYAML(t, r, fmt.Sprintf(`
listen: 127.0.0.1:0
users: [{name: %s, password: %s, maxConnections: 2}, {name: other, allowEmptyPassword: true}]
dataSources:
  master: {url: "%s", username: root, password: %s, database: pt}
masterSlaveRule: {masterDataSourceName: master}
`, user, password, r.Master.Addr(), testenv.RootPassword))
	db := p.db(t, "")
	ctx := context.Background()
	var held []interface{ Close() error }
	for range 2 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	var me *mysql.MySQLError
	if err := p.db(t, "").PingContext(ctx); !errors.As(err, &me) || me.Number != 1226 {
		t.Errorf("3rd connection of %s: %v, want error 1226", user, err)
	}
	other, err := sql.Open("mysql", fmt.Sprintf("other@tcp(%s)/pt", p.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.PingContext(ctx); err != nil {
		t.Errorf("another user: %v", err)
	}
	db.SetMaxIdleConns(0)
	held[0].Close()
	eventually(t, p.db(t, "")).Close()
	held[1].Close()
}

// eventually returns a working connection of db, retrying for 5 s while
// the proxy still counts connections that were just closed.
func eventually(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := db.Conn(ctx)
		if err == nil {
			if err = c.PingContext(ctx); err == nil {
				return c
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection 5 s after others left: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
