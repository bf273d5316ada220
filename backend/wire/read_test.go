package wire

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

func reader(b []byte, max int) *Conn {
	return &Conn{R: bufio.NewReaderSize(bytes.NewReader(b), 4096), Max: max}
}

// A header that claims a 16 MB packet and then 4 bytes costs a few KiB,
// not 16 MB; a packet over Max fails before anything is read.
func TestReadPacketBounds(t *testing.T) {
	claim := []byte{0xff, 0xff, 0xfe, 0, 1, 2, 3, 4}
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			reader(claim, 0).ReadPacket()
		}
	})
	if per := allocs.AllocedBytesPerOp(); per > 64<<10 {
		t.Errorf("a 4-byte packet claiming 16 MB allocated %d bytes", per)
	}
	if _, err := reader(claim, 1024).ReadPacket(); !errors.Is(err, ErrPacketTooLarge) {
		t.Errorf("over Max: %v", err)
	}
	// Two 16 MB parts and a tail join into one packet.
	var b bytes.Buffer
	for i, n := range []int{MaxPayload, MaxPayload, 10} {
		b.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(i)})
		b.Write(bytes.Repeat([]byte{byte('a' + i)}, n))
	}
	p, err := reader(b.Bytes(), 0).ReadPacket()
	if err != nil || len(p) != 2*MaxPayload+10 || p[0] != 'a' || p[MaxPayload] != 'b' || p[len(p)-1] != 'c' {
		t.Fatalf("joined packet: %d bytes, %v", len(p), err)
	}
	if _, err := reader(b.Bytes(), MaxPayload+5).ReadPacket(); !errors.Is(err, ErrPacketTooLarge) {
		t.Errorf("joined packet over Max: %v", err)
	}
}

// FuzzReadPacket: any byte stream gives packets or an error, never a panic,
// and never a packet over Max.
func FuzzReadPacket(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0, 1, 2})
	f.Add([]byte{0, 0, 0, 0})
	f.Add(append([]byte{byte(len(trackedOK(1, 2, "x", "0-1-2"))), 0, 0, 0}, trackedOK(1, 2, "x", "0-1-2")...))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := reader(b, 1<<16)
		for range 100 {
			p, err := c.ReadPacket()
			if err != nil {
				return
			}
			if len(p) > 1<<16 {
				t.Fatalf("packet of %d bytes over Max", len(p))
			}
			// An OK of a tracking backend (causal reads) is rewritten
			// from untrusted bytes too: never longer, never a panic.
			if len(p) > 0 && p[0] == 0x00 {
				c.Track = true
				if out := c.untrack(p); len(out) > len(p) {
					t.Fatalf("untracked OK of %d bytes from %d", len(out), len(p))
				}
			}
		}
	})
}
