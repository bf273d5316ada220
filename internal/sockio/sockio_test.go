package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestNotTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if rw := New(a); rw != io.ReadWriter(a) {
		t.Errorf("New of a pipe: %T, want the pipe itself", rw)
	}
}

// Reads wait for data, return what is there, then io.EOF at the peer's
// close; writes larger than the socket buffers complete in full while
// the peer reads slowly.
func TestReadWrite(t *testing.T) {
	c, s := pair(t)
	rc, rs := New(c), New(s)
	if _, ok := rc.(*Conn); !ok {
		t.Fatalf("New of a TCP connection: %T", rc)
	}
	go func() {
		time.Sleep(20 * time.Millisecond) // the reader waits on the poller first
		rs.Write([]byte("hello"))
	}()
	buf := make([]byte, 64)
	if n, err := rc.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read: %q %v", buf[:n], err)
	}
	if n, err := rc.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty Read: %d %v", n, err)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: past the send buffer
	got := make(chan []byte)
	go func() {
		var all []byte
		b := make([]byte, 7000)
		for len(all) < len(big) {
			n, err := rs.Read(b)
			if err != nil {
				t.Error(err)
				break
			}
			all = append(all, b[:n]...)
		}
		got <- all
	}()
	if n, err := rc.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write: %d of %d, %v", n, len(big), err)
	}
	if !bytes.Equal(<-got, big) {
		t.Fatal("the bytes read differ from the bytes written")
	}

	s.Close()
	if n, err := rc.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer closed: %d %v, want io.EOF", n, err)
	}
}

// Deadlines hold as on net.Conn, and a local Close ends a waiting Read.
func TestDeadlineAndClose(t *testing.T) {
	c, _ := pair(t)
	rc := New(c)
	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	start := time.Now()
	_, err := rc.Read(make([]byte, 8))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("deadline error is no net.Error timeout: %#v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("deadline ended the Read after %v", d)
	}
	c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := rc.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end the waiting Read")
	}
}

// A write to a connection the peer reset fails with the system's error.
func TestWriteAfterReset(t *testing.T) {
	c, s := pair(t)
	s.SetLinger(0)
	s.Close() // RST
	rc := New(c)
	var err error
	for range 100 {
		if _, err = rc.Write([]byte("x")); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
}

// Reads and writes allocate nothing.
func TestNoAllocs(t *testing.T) {
	c, s := pair(t)
	rc, rs := New(c), New(s)
	msg, buf := []byte("ping"), make([]byte, 16)
	if n := testing.AllocsPerRun(200, func() {
		rc.Write(msg)
		rs.Read(buf)
	}); n != 0 {
		t.Errorf("%v allocations per write and read", n)
	}
}
