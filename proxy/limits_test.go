package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
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
	if _, err := db.Exec("SELECT '" + strings.Repeat("x", 4000) + "'"); err != nil {
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
	time.Sleep(200 * time.Millisecond)
	c, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.PingContext(ctx); err != nil {
		t.Fatalf("after the others left: %v", err)
	}
	time.Sleep(2500 * time.Millisecond)
	if err := c.PingContext(ctx); err == nil {
		t.Error("an idle client outlived waitTimeout 1s")
	}
}
