package zookeeper

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// handshakeDialer bounds the session handshake of every connection d dials
// by limit.
//
// go-zookeeper waits ten times its receive timeout (6.7 × the session
// timeout: 67 s with the default TTL) for a server to answer the connect
// request. A server that takes connections but does not answer — a member
// stuck on its disk, a JVM halfway through starting or stopping — would
// hold the client that long before it tries the next server or the same
// one again. Bounded, the client moves on after limit.
func handshakeDialer(d zk.Dialer, limit time.Duration) zk.Dialer {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		nc, err := d(network, address, timeout)
		if err != nil {
			return nil, err
		}
		hc := &handshakeConn{Conn: nc, until: time.Now().Add(limit)}
		// The bound holds from the start, even if go-zookeeper sets no
		// deadline of its own.
		if err := nc.SetDeadline(hc.until); err != nil {
			nc.Close()
			return nil, err
		}
		return hc, nil
	}
}

// handshakeConn is a connection whose deadlines are pinned to until while
// the connect response (a 4-byte length and that many bytes) has not been
// read in full; after that it is the connection itself, and done spares
// the session's reads and deadlines the lock.
type handshakeConn struct {
	net.Conn
	until time.Time
	done  atomic.Bool

	mu   sync.Mutex // guards head, got and the switch to done
	head [4]byte
	got  int // bytes of the connect response read so far
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n == 0 || c.done.Load() {
		return n, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range p[:n] {
		if c.got < len(c.head) {
			c.head[c.got] = b
		}
		c.got++
	}
	if c.got >= len(c.head) && c.got >= len(c.head)+int(binary.BigEndian.Uint32(c.head[:])) {
		c.done.Store(true)
		// Back to the deadlines go-zookeeper asks for from here on.
		_ = c.Conn.SetDeadline(time.Time{})
	}
	return n, err
}

func (c *handshakeConn) pinned(t time.Time) time.Time {
	if c.done.Load() {
		return t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done.Load() || (!t.IsZero() && t.Before(c.until)) {
		return t
	}
	return c.until
}

func (c *handshakeConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.pinned(t)) }

func (c *handshakeConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.pinned(t))
}

func (c *handshakeConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.pinned(t))
}
