// Package sockio reads and writes TCP sockets with raw system calls made
// from inside the runtime poller's callbacks.
//
// net.Conn's Read and Write enter the scheduler's system-call state around
// every read(2) and write(2), so that the processor can be handed to
// another thread if the call blocks. Entering it also wakes the runtime's
// system monitor when it sleeps (all processors were idle a moment ago,
// which a proxy waiting on its backends is most of the time), and a woken
// monitor polls every 20 µs again until it has found nothing to do for a
// millisecond: under sysbench ~0.27 nanosleep(2) per statement and some 9 %
// of the proxy's CPU, its wake-ups included. On a non-blocking socket
// neither call blocks, so shardgate makes them raw: the monitor sleeps
// (0.007 nanosleep per statement). Waiting is still the poller's: EAGAIN
// parks the goroutine as net.Conn does, and deadlines and Close hold.
package sockio

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Conn is a TCP connection's socket read and written with raw system
// calls. It is not safe for concurrent Reads (or concurrent Writes); a
// Read and a Write may run at once, as on net.Conn.
type Conn struct {
	rc syscall.RawConn

	rp   []byte
	rn   int
	rerr error

	wp   []byte
	wn   int
	werr error

	readFn, writeFn func(uintptr) bool
}

// New returns nc's socket as an io.ReadWriter over raw system calls, or nc
// itself when it is not a plain TCP connection (TLS, pipes in tests).
func New(nc net.Conn) io.ReadWriter {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	c := &Conn{rc: rc}
	c.readFn = c.read
	c.writeFn = c.write
	return c
}

func (c *Conn) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rp[0])), uintptr(len(c.rp)))
		switch {
		case e == syscall.EAGAIN:
			return false // wait on the poller
		case e == syscall.EINTR:
			continue
		case e != 0:
			c.rn, c.rerr = 0, os.NewSyscallError("read", e)
		case n == 0:
			c.rn, c.rerr = 0, io.EOF
		default:
			c.rn, c.rerr = int(n), nil
		}
		return true
	}
}

func (c *Conn) write(fd uintptr) bool {
	for len(c.wp) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.wp[0])), uintptr(len(c.wp)))
		switch {
		case e == syscall.EAGAIN:
			return false // the send buffer is full: wait on the poller
		case e == syscall.EINTR:
			continue
		case e != 0:
			c.werr = os.NewSyscallError("write", e)
			return true
		}
		c.wn += int(n)
		c.wp = c.wp[n:]
	}
	return true
}

// Read reads what the socket holds into p, waiting for something if it
// holds nothing; 0 bytes and io.EOF when the peer closed.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rp, c.rn, c.rerr = p, 0, nil
	err := c.rc.Read(c.readFn)
	c.rp = nil
	if err != nil {
		return 0, err
	}
	return c.rn, c.rerr
}

// Write writes all of p, waiting for room in the send buffer as needed.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wp, c.wn, c.werr = p, 0, nil
	err := c.rc.Write(c.writeFn)
	c.wp = nil
	if err == nil {
		err = c.werr
	}
	return c.wn, err
}
