package backend

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/shardgate/shardgate/backend/wire"
)

// loopbackConn is a Conn over a real TCP connection to serve, which gets
// the other end.
func loopbackConn(t *testing.T, serve func(net.Conn)) *Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &Conn{Conn: wire.NewConn(nc, 1024)}
	c.prepareCheckOn(nc)
	if c.sendFn == nil {
		t.Fatal("no Send fast path on a TCP connection")
	}
	return c
}

// echoPackets answers each packet with its payload, after delay.
func echoPackets(delay time.Duration) func(net.Conn) {
	return func(nc net.Conn) {
		w := wire.NewConn(nc, 1024)
		for {
			p, err := w.ReadPacket()
			if err != nil {
				return
			}
			time.Sleep(delay)
			w.Seq = 1
			if w.WritePacket(p) != nil || w.Flush() != nil {
				return
			}
		}
	}
}

// Send returns once the answer arrives, whether the server answers at
// once or later, and the answer reads whole; commands that take the
// plain path (larger than the write buffer) read the same.
func TestSendThenRead(t *testing.T) {
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		c := loopbackConn(t, echoPackets(delay))
		for i, n := range []int{1, 100, 1019, 1020, 1021, 5000, 3} {
			cmd := bytes.Repeat([]byte{byte('a' + i)}, n)
			c.sent = false
			if err := c.Send(cmd); err != nil {
				t.Fatalf("delay %v, %d bytes: Send: %v", delay, n, err)
			}
			if fast := n+4 <= 1024; c.sent != fast {
				t.Fatalf("delay %v, %d bytes: waited for the answer in Send: %v, want %v", delay, n, c.sent, fast)
			}
			got, err := c.ReadPacket()
			if err != nil || !bytes.Equal(got, cmd) {
				t.Fatalf("delay %v, %d bytes: read %d bytes, %v", delay, n, len(got), err)
			}
		}
	}
}

// A server that closes instead of answering wakes Send; the read then
// fails.
func TestSendServerCloses(t *testing.T) {
	c := loopbackConn(t, func(nc net.Conn) {
		var b [16]byte
		nc.Read(b[:])
		time.Sleep(10 * time.Millisecond)
	})
	done := make(chan error, 1)
	go func() {
		if err := c.Send([]byte{wire.ComQuery, 'x'}); err != nil {
			done <- err
			return
		}
		_, err := c.ReadPacket()
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			var ne net.Error
			if !errors.As(err, &ne) {
				t.Fatalf("got %v, want the end of the connection", err)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send or the read after it hangs on a closed connection")
	}
}

// Closing the connection from elsewhere (a session killed) ends a Send
// that waits for an answer.
func TestSendLocalClose(t *testing.T) {
	c := loopbackConn(t, func(nc net.Conn) { io.Copy(io.Discard, nc) })
	done := make(chan error, 1)
	go func() { done <- c.Send([]byte{wire.ComQuery, 'x'}) }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("got %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send does not return when its connection is closed")
	}
}

// A read deadline (the health monitor sets one on its connections) ends a
// Send whose answer does not come, with an error errors.Is matches; a
// deadline already past does not send at all.
func TestSendDeadline(t *testing.T) {
	got := make(chan int, 4)
	c := loopbackConn(t, func(nc net.Conn) {
		b := make([]byte, 64)
		for {
			n, err := nc.Read(b)
			if err != nil {
				return
			}
			got <- n
		}
	})
	c.NC.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	start := time.Now()
	err := c.Send([]byte{wire.ComQuery, 'x'})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Send returned after %v", d)
	}
	if n := <-got; n != 6 {
		t.Fatalf("server read %d bytes, want the 6-byte command", n)
	}
	c.W.Reset(c.NC) // the caller marks the connection broken; here, reuse it
	c.NC.SetReadDeadline(time.Now().Add(-time.Second))
	if err := c.Send([]byte{wire.ComQuery, 'y'}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send with a past deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	select {
	case n := <-got:
		t.Fatalf("a Send past its deadline wrote %d bytes", n)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSendAllocs(t *testing.T) {
	c := loopbackConn(t, echoPackets(0))
	cmd := []byte{wire.ComQuery, 'S', 'E', 'L'}
	n := testing.AllocsPerRun(200, func() {
		if err := c.Send(cmd); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadPacket(); err != nil {
			t.Fatal(err)
		}
	})
	if n > 0 {
		t.Fatalf("Send and read: %v allocations, want 0", n)
	}
}
