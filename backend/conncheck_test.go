package backend

import (
	"net"
	"testing"
)

func BenchmarkAlive(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			var buf [1]byte
			c.Read(buf[:])
		}
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c := &Conn{}
	c.prepareCheckOn(nc)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.alive(); err != nil {
			b.Fatal(err)
		}
	}
}
