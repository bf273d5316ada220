package backend

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"
	"unsafe"
)

var errUnexpectedData = errors.New("unexpected data on an idle connection")

// prepareCheckOn caches what alive needs for the TCP connection nc, so
// that checks do not allocate.
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
	// Under TLS the socket is only peeked at: a record there (a session
	// ticket, an alert) is for the TLS layer to read (aliveTLS).
	flags := 0
	if c.tls != nil {
		flags = syscall.MSG_PEEK
	}
	c.checkFn = func(fd uintptr) bool {
		// A raw system call: a non-blocking recvfrom cannot block, and
		// entering the scheduler's system-call state would wake the system
		// monitor from its sleep (see internal/sockio).
		var b [1]byte
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, uintptr(flags|syscall.MSG_DONTWAIT), 0, 0)
		switch {
		case e == syscall.EAGAIN || e == syscall.EWOULDBLOCK:
			c.checkErr = nil
		case e != 0:
			c.checkErr = e
		case n == 0:
			c.checkErr = io.EOF
		default:
			c.checkErr = errUnexpectedData
		}
		return true // never wait
	}
	if c.tls == nil {
		c.sendFn = func(uintptr) bool {
			if c.sent {
				return true // readable: the answer is arriving
			}
			c.sent = true
			c.sendErr = c.W.Flush()
			return c.sendErr != nil
		}
	}
}

// Send writes a command whose answer is read next, as WriteCommand does,
// and returns once the socket has something to read. The write is made
// from inside a wait for readability, so the goroutine parks on the
// poller at once instead of first trying a read that must find nothing
// (the server cannot have answered yet): one system call less per
// statement. Waiting is safe from lost wake-ups because the poller's
// readiness is cleared before the write, and the answer can only arrive
// after it. Under TLS, with unread bytes buffered (a protocol error the
// reader reports), or for a command larger than the write buffer (the
// server may answer before the last byte is written), it is WriteCommand.
func (c *Conn) Send(p []byte) error {
	if c.sendFn == nil || c.R.Buffered() > 0 || c.W.Buffered() > 0 || len(p)+4 > c.W.Available() {
		return c.WriteCommand(p)
	}
	c.Seq = 0
	if err := c.WritePacket(p); err != nil {
		return err
	}
	c.sent, c.sendErr = false, nil
	if err := c.rawConn.Read(c.sendFn); err != nil {
		if c.sendErr != nil {
			return c.sendErr
		}
		return err
	}
	return c.sendErr
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
	if c.tls != nil && c.checkErr == errUnexpectedData {
		return c.aliveTLS() // a record waits: let TLS say what it is
	}
	return c.checkErr
}

// Alive checks, without blocking, that the server has not closed the
// connection (a transaction's branch before its COMMIT).
func (c *Conn) Alive() error { return c.alive() }

// usable checks a connection taken from the idle list: a non-blocking read
// on the socket (about half a microsecond, no allocation) that sees whether
// the server closed it meanwhile (restart, wait_timeout, KILL) or left bytes
// of an unfinished answer. A read that hits a dead connection is retried
// elsewhere, but a write is not (it may have run), so every idle connection
// is checked, however briefly it was idle.
func (c *Conn) usable() bool { return c.alive() == nil }

// aliveTLS reads through TLS what waits on the socket, for at most a
// millisecond: records without data (session tickets) are consumed, and a
// timeout leaves the TLS state intact; data or the end of the connection
// mean it is not usable.
func (c *Conn) aliveTLS() error {
	var b [1]byte
	c.tls.SetReadDeadline(time.Now().Add(time.Millisecond))
	n, err := c.tls.Read(b[:])
	c.tls.SetReadDeadline(time.Time{})
	var ne net.Error
	switch {
	case n > 0:
		return errUnexpectedData
	case errors.As(err, &ne) && ne.Timeout():
		return nil
	case err == nil:
		return io.EOF
	}
	return err
}
