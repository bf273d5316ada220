package backend

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// checkAfter: a connection idle at least this long is checked by Get before
// it is handed out — a non-blocking read on the socket (about half a
// microsecond, no allocation) that sees whether the server closed it
// meanwhile (restart, wait_timeout, KILL). A read that hits a dead
// connection is retried elsewhere, but a write is not (it may have run), so
// every idle connection is checked: 0.
var checkAfter time.Duration

var errUnexpectedData = errors.New("unexpected data on an idle connection")

// prepareCheck caches what alive needs, so that checks do not allocate.
func (c *Conn) prepareCheck() { c.prepareCheckOn(c.NC) }

func (c *Conn) prepareCheckOn(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.rawConn = rc
	c.checkFn = func(fd uintptr) bool {
		var b [1]byte
		n, err := syscall.Read(int(fd), b[:])
		switch {
		case n == 0 && err == nil:
			c.checkErr = io.EOF
		case n > 0:
			c.checkErr = errUnexpectedData
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			c.checkErr = nil
		default:
			c.checkErr = err
		}
		return true // never wait
	}
}

// alive reports whether an idle connection's socket is still open with
// nothing unread on it.
func (c *Conn) alive() error {
	if c.rawConn == nil {
		return nil
	}
	if err := c.rawConn.Read(c.checkFn); err != nil {
		return err
	}
	return c.checkErr
}

// Alive checks, without blocking, that the server has not closed the
// connection (a transaction's branch before its COMMIT).
func (c *Conn) Alive() error { return c.alive() }

// usable checks a connection taken from the idle list.
func (c *Conn) usable() bool {
	if checkAfter > 0 && time.Since(c.lastUsed) < checkAfter {
		return true
	}
	return c.alive() == nil
}
