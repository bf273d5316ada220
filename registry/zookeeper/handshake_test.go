package zookeeper

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry"
)

// mute is a server that takes connections and never answers; reply, when
// set, is written to each connection at once (the connect response) and
// again after pause.
func mute(t *testing.T, reply []byte, pause time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if reply != nil {
				go func() {
					c.Write(reply)
					time.Sleep(pause)
					c.Write(reply)
				}()
			}
		}
	}()
	return ln.Addr().String()
}

// A server that does not answer the connect request fails the read at the
// bound, whatever deadline the client asked for.
func TestHandshakeBounded(t *testing.T) {
	dial := handshakeDialer(net.DialTimeout, 200*time.Millisecond)
	c, err := dial("tcp", mute(t, nil, 0), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(20 * time.Second)) // go-zookeeper: 10 × recvTimeout
	_, err = io.ReadFull(c, make([]byte, 4))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from a mute server: %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("read from a mute server took %s, bound is 200ms", d)
	}
}

// Once the connect response is read the connection keeps the deadlines the
// client sets, none included: the bound does not cut a session short.
func TestHandshakeReleased(t *testing.T) {
	resp := make([]byte, 4+36)
	binary.BigEndian.PutUint32(resp, 36)
	dial := handshakeDialer(net.DialTimeout, 200*time.Millisecond)
	c, err := dial("tcp", mute(t, resp, 500*time.Millisecond), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, len(resp))
	// As go-zookeeper's authenticate: the length under a deadline, the rest
	// without one.
	c.SetReadDeadline(time.Now().Add(time.Hour))
	if _, err := io.ReadFull(c, buf[:4]); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Time{})
	if _, err := io.ReadFull(c, buf[4:]); err != nil {
		t.Fatal(err)
	}
	// The second write comes after the bound has passed.
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read after the handshake, past the bound: %v", err)
	}
}

// A client whose first server takes the connection and never answers gets
// its session from the next one within the operation timeout (go-zookeeper
// alone would wait 6.7 × the session timeout: 67 s here).
func TestHandshakeMuteServer(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	silent := mute(t, nil, 0)
	var dials atomic.Int32
	dialer := func(network, addr string, timeout time.Duration) (net.Conn, error) {
		if dials.Add(1) == 1 {
			addr = silent // whichever server go-zookeeper picked first
		}
		return net.DialTimeout(network, addr, timeout)
	}
	cfg := registry.Config{
		Type:             registry.TypeZooKeeper,
		ServerLists:      []string{z.Addr()},
		TimeToLive:       10 * time.Second,
		OperationTimeout: 6 * time.Second,
	}
	start := time.Now()
	c, err := open(context.Background(), cfg, dialer)
	if err != nil {
		t.Fatalf("open with a mute first server: %v", err)
	}
	defer c.Close()
	if n := dials.Load(); n < 2 {
		t.Fatalf("%d dials, want the mute server then the real one", n)
	}
	t.Logf("session after %s and %d dials", time.Since(start), dials.Load())
	if _, err := c.Put(context.Background(), "/h", []byte("1")); err != nil {
		t.Fatal(err)
	}
}
