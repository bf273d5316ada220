package wire

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// packets frames payloads with sequence numbers from seq.
func packets(seq uint8, payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = append(b, byte(len(p)), byte(len(p)>>8), byte(len(p)>>16), seq)
		b = append(b, p...)
		seq++
	}
	return b
}

func conns(in []byte) (dst, src *Conn, out *bytes.Buffer) {
	out = &bytes.Buffer{}
	src = &Conn{R: bufio.NewReaderSize(bytes.NewReader(in), 16<<10)}
	dst = &Conn{W: bufio.NewWriterSize(out, 16<<10), Seq: 1}
	return dst, src, out
}

func lenencStr(s string) []byte { return append(AppendLenenc(nil, uint64(len(s))), s...) }

func TestRelay(t *testing.T) {
	col := lenencStr("def")
	row := func(s string) []byte { return lenencStr(s) }
	longRow := append([]byte{0xfe}, make([]byte, 8)...) // lenenc 0xfe prefix: a row, not EOF
	for _, tc := range []struct {
		name     string
		payloads [][]byte
		status   uint16
		errCode  uint16
	}{
		{"ok", [][]byte{AppendOK(nil, 1, 0, StatusAutocommit, 0)}, StatusAutocommit, 0},
		{"error", [][]byte{AppendError(nil, NewError(1146, "42S02", "no table"))}, 0, 1146},
		{"result set", [][]byte{{2}, col, col, AppendEOF(nil, 0, 0), row("a"), row("b"), longRow, AppendEOF(nil, StatusInTrans, 0)}, StatusInTrans, 0},
		{"multi", [][]byte{
			AppendOK(nil, 0, 0, StatusMoreResults, 0),
			{1}, col, AppendEOF(nil, 0, 0), row("x"), AppendEOF(nil, StatusMoreResults, 0),
			AppendOK(nil, 0, 0, StatusAutocommit, 0),
		}, StatusAutocommit, 0},
		{"error mid result", [][]byte{{1}, col, AppendEOF(nil, 0, 0), row("x"), AppendError(nil, NewError(1317, "70100", "interrupted"))}, 0, 1317},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := packets(1, tc.payloads...)
			// Trailing bytes of a next response must stay unread.
			dst, src, out := conns(append(in, 9, 9, 9))
			res := Relay(dst, src, ResultSet)
			dst.Flush()
			if res.BackendErr != nil || res.ClientErr != nil || !res.Sent {
				t.Fatalf("%+v", res)
			}
			if res.Status != tc.status {
				t.Errorf("status %x, want %x", res.Status, tc.status)
			}
			if (res.Err == nil) != (tc.errCode == 0) || res.Err != nil && res.Err.Code != tc.errCode {
				t.Errorf("err %v, want code %d", res.Err, tc.errCode)
			}
			if !bytes.Equal(out.Bytes(), in) {
				t.Errorf("relayed bytes differ")
			}
			if src.R.Buffered() != 3 {
				t.Errorf("relay read past the response: %d left", src.R.Buffered())
			}
		})
	}
}

func TestRelayLargeRows(t *testing.T) {
	big := lenencStr(strings.Repeat("x", 100<<10)) // larger than the read buffer
	// A 16 MB row: one full packet and its continuation.
	huge := make([]byte, MaxPayload+10)
	huge[0] = 0xfe // first byte of a continuation-split row may look like anything
	first, rest := huge[:MaxPayload], huge[MaxPayload:]
	in := packets(1, []byte{1}, lenencStr("def"), AppendEOF(nil, 0, 0), big, first, rest, AppendEOF(nil, StatusAutocommit, 0))
	dst, src, out := conns(in)
	res := Relay(dst, src, ResultSet)
	dst.Flush()
	if res.BackendErr != nil || res.Status != StatusAutocommit {
		t.Fatalf("%+v", res)
	}
	if !bytes.Equal(out.Bytes(), in) {
		t.Error("relayed bytes differ")
	}
}

func TestRelayBackendLost(t *testing.T) {
	in := packets(1, []byte{1}, lenencStr("def"), AppendEOF(nil, 0, 0), lenencStr("a"))
	dst, src, _ := conns(in)
	res := Relay(dst, src, ResultSet)
	if res.BackendErr == nil || !res.Sent {
		t.Fatalf("%+v", res)
	}
	// Nothing read at all: not sent, so the caller may retry elsewhere.
	dst, src, _ = conns(nil)
	if res := Relay(dst, src, ResultSet); res.BackendErr != io.EOF || res.Sent {
		t.Fatalf("%+v", res)
	}
}

func TestRelayLocalInfile(t *testing.T) {
	backendIn := packets(1, append([]byte{0xfb}, "/tmp/f"...))
	backendIn = append(backendIn, packets(4, AppendOK(nil, 2, 0, StatusAutocommit, 0))...)
	var toBackend, toClient bytes.Buffer
	src := &Conn{R: bufio.NewReader(bytes.NewReader(backendIn)), W: bufio.NewWriter(&toBackend)}
	fromClient := packets(2, []byte("1\ta\n2\tb\n"), nil)
	dst := &Conn{R: bufio.NewReader(bytes.NewReader(fromClient)), W: bufio.NewWriter(&toClient), Seq: 1}
	res := Relay(dst, src, ResultSet)
	dst.Flush()
	if res.BackendErr != nil || res.ClientErr != nil || res.Status != StatusAutocommit {
		t.Fatalf("%+v", res)
	}
	if !bytes.Equal(toBackend.Bytes(), fromClient) {
		t.Errorf("file packets to the backend: % x", toBackend.Bytes())
	}
	// The client saw the request (seq 1) and the OK (seq 4).
	b := toClient.Bytes()
	n := int(b[0]) | int(b[1])<<8
	if b[3] != 1 || b[4] != 0xfb || len(b) < 4+n+5 || b[4+n+3] != 4 || b[4+n+4] != 0 {
		t.Errorf("to the client: % x", b)
	}
}

func TestFieldList(t *testing.T) {
	in := packets(1, lenencStr("def"), lenencStr("def"), AppendEOF(nil, StatusAutocommit, 0))
	dst, src, out := conns(in)
	res := Relay(dst, src, FieldList)
	dst.Flush()
	if res.BackendErr != nil || !bytes.Equal(out.Bytes(), in) {
		t.Fatalf("%+v", res)
	}
}

func TestScrambles(t *testing.T) {
	salt := []byte("12345678901234567890")
	if ScrambleNative(salt, "") != nil || ScrambleSHA2(salt, "") != nil {
		t.Error("empty password must give an empty scramble")
	}
	if len(ScrambleNative(salt, "pw")) != 20 || len(ScrambleSHA2(salt, "pw")) != 32 {
		t.Error("scramble lengths")
	}
	e := ParseError(AppendError(nil, NewError(1045, "28000", "Access denied")))
	if e.Code != 1045 || e.State != "28000" || e.Message != "Access denied" {
		t.Errorf("%+v", e)
	}
}

// trackedOK is an OK as MariaDB sends it to a CLIENT_SESSION_TRACK client
// whose session tracks last_gtid: the info length-encoded, then the state.
func trackedOK(affected uint64, status uint16, info, gtid string) []byte {
	p := AppendOK(nil, affected, 0, status|StatusStateChanged, 0)
	p = append(p, lenencStr(info)...)
	entry := append(lenencStr("last_gtid"), lenencStr(gtid)...)
	state := append([]byte{sessionTrackSystemVariables}, lenencStr(string(entry))...)
	state = append(state, 1) // a schema entry: type 1, its data
	state = append(state, lenencStr(string(lenencStr("db")))...)
	return append(p, lenencStr(string(state))...)
}

// A tracking connection's OKs reach the client as a connection without
// tracking gets them (state and its flag gone, the info kept), and the
// last_gtid they carry is noted; untracked OKs pass unchanged.
func TestRelayUntracks(t *testing.T) {
	plain := append(AppendOK(nil, 1, 0, StatusAutocommit, 0), lenencStr("Rows matched: 1  Changed: 1  Warnings: 0")...)
	for _, tc := range []struct {
		name    string
		in      [][]byte
		want    [][]byte
		gtid    string
		wantNew bool
	}{
		{"no state", [][]byte{plain}, [][]byte{plain}, "", false},
		{"state, no info", [][]byte{trackedOK(1, StatusAutocommit, "", "0-1-42")}, [][]byte{AppendOK(nil, 1, 0, StatusAutocommit, 0)}, "0-1-42", true},
		{"state and info", [][]byte{trackedOK(1, StatusAutocommit, "Rows matched: 1  Changed: 1  Warnings: 0", "0-1-43")}, [][]byte{plain}, "0-1-43", true},
		{"multi", [][]byte{trackedOK(1, StatusMoreResults, "", "0-1-7"), trackedOK(1, StatusAutocommit, "", "0-1-8")},
			[][]byte{AppendOK(nil, 1, 0, StatusMoreResults, 0), AppendOK(nil, 1, 0, StatusAutocommit, 0)}, "0-1-8", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst, src, out := conns(packets(1, tc.in...))
			src.Track = true
			res := Relay(dst, src, ResultSet)
			dst.Flush()
			if res.BackendErr != nil || res.ClientErr != nil {
				t.Fatalf("%+v", res)
			}
			if want := packets(1, tc.want...); !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("client got\n%x\nwant\n%x", out.Bytes(), want)
			}
			if string(src.GTID) != tc.gtid || src.NewGTID != tc.wantNew {
				t.Fatalf("gtid %q new %v", src.GTID, src.NewGTID)
			}
		})
	}
	// Without Track the bytes pass as they came.
	in := packets(1, trackedOK(1, StatusAutocommit, "", "0-1-42"))
	dst, src, out := conns(in)
	Relay(dst, src, ResultSet)
	dst.Flush()
	if !bytes.Equal(out.Bytes(), in) || src.NewGTID {
		t.Fatal("an untracked connection's OK was changed")
	}
}

// Relaying a 100-row result allocates nothing (a header array that
// escaped once cost one allocation per packet), and buffers that fill up
// mid-header still frame every packet right.
func TestRelayAllocs(t *testing.T) {
	payloads := [][]byte{{1}, lenencStr("def"), AppendEOF(nil, 0, 0)}
	for range 100 {
		payloads = append(payloads, lenencStr(strings.Repeat("x", 120)))
	}
	in := packets(1, append(payloads, AppendEOF(nil, StatusAutocommit, 0))...)
	r := bytes.NewReader(in)
	src := &Conn{R: bufio.NewReaderSize(r, 16<<10)}
	dst := &Conn{W: bufio.NewWriterSize(io.Discard, 16<<10)}
	if n := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		src.R.Reset(r)
		dst.Seq = 1
		if res := Relay(dst, src, ResultSet); res.BackendErr != nil || res.Status != StatusAutocommit {
			t.Fatalf("%+v", res)
		}
		dst.Flush()
	}); n != 0 {
		t.Errorf("relaying 100 rows: %v allocs", n)
	}
	for _, size := range []int{16, 17, 18, 19, 21} { // writer smaller than packets, all offsets
		var out bytes.Buffer
		dst, src := &Conn{W: bufio.NewWriterSize(&out, size), Seq: 1}, &Conn{R: bufio.NewReaderSize(bytes.NewReader(in), 16<<10)}
		if res := Relay(dst, src, ResultSet); res.BackendErr != nil || res.ClientErr != nil {
			t.Fatalf("%+v", res)
		}
		dst.Flush()
		if !bytes.Equal(out.Bytes(), in) {
			t.Errorf("write buffer of %d: relayed bytes differ", size)
		}
	}
}

// go test ./backend/wire -run '^$' -bench Relay -benchmem
func BenchmarkRelay(b *testing.B) {
	for _, rows := range []int{1, 100} {
		payloads := [][]byte{{1}, lenencStr("def"), AppendEOF(nil, 0, 0)}
		for range rows {
			payloads = append(payloads, lenencStr(strings.Repeat("x", 120)))
		}
		in := packets(1, append(payloads, AppendEOF(nil, StatusAutocommit, 0))...)
		b.Run(strconv.Itoa(rows)+"rows", func(b *testing.B) {
			r := bytes.NewReader(in)
			src := &Conn{R: bufio.NewReaderSize(r, 16<<10)}
			dst := &Conn{W: bufio.NewWriterSize(io.Discard, 16<<10)}
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				r.Reset(in)
				src.R.Reset(r)
				dst.Seq = 1
				if res := Relay(dst, src, ResultSet); res.BackendErr != nil {
					b.Fatal(res.BackendErr)
				}
				dst.Flush()
			}
		})
	}
}

// Rows copied in bulk are renumbered for the client, whatever the reads
// deliver at a time and however small the client's buffer.
func TestRelayBulkRows(t *testing.T) {
	payloads := [][]byte{{1}, lenencStr("def"), AppendEOF(nil, 0, 0)}
	for i := range 300 {
		payloads = append(payloads, lenencStr(strings.Repeat("y", i%200)))
	}
	payloads = append(payloads, append([]byte{0xfe}, make([]byte, 20)...)) // a row starting 0xfe
	payloads = append(payloads, AppendEOF(nil, StatusAutocommit, 0))
	in := packets(1, payloads...)
	want := packets(5, payloads...)
	for _, rd := range []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r }, iotest.HalfReader, iotest.OneByteReader, iotest.DataErrReader,
	} {
		for _, wsize := range []int{16, 300, 4096, 16 << 10} {
			var out bytes.Buffer
			src := &Conn{R: bufio.NewReaderSize(rd(bytes.NewReader(in)), 4096)}
			dst := &Conn{W: bufio.NewWriterSize(&out, wsize), Seq: 5}
			res := Relay(dst, src, ResultSet)
			dst.Flush()
			if res.BackendErr != nil || res.ClientErr != nil || res.Status != StatusAutocommit {
				t.Fatalf("write buffer %d: %+v", wsize, res)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("write buffer %d: relayed bytes differ", wsize)
			}
			if dst.Seq != 5+uint8(len(payloads)) {
				t.Fatalf("client sequence %d", dst.Seq)
			}
		}
	}
}

// FuzzRelay: any backend byte stream is relayed without a panic, and the
// bulk row copy gives the client exactly what the packet-by-packet path
// gives (one-byte reads leave it nothing whole to copy).
func FuzzRelay(f *testing.F) {
	rows := [][]byte{{1}, lenencStr("def"), AppendEOF(nil, 0, 0), lenencStr("a"), lenencStr("bc"), AppendEOF(nil, StatusAutocommit, 0)}
	f.Add(packets(1, rows...), uint8(1))
	f.Add(packets(1, append(rows[:4:4], AppendError(nil, NewError(1317, "70100", "x")))...), uint8(7))
	f.Add(packets(1, AppendOK(nil, 1, 0, StatusMoreResults, 0), rows[0], rows[1], rows[2], rows[3], rows[5]), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, seq uint8) {
		relay := func(r io.Reader) ([]byte, RelayResult) {
			var out bytes.Buffer
			dst := &Conn{W: bufio.NewWriterSize(&out, 64), Seq: seq}
			src := &Conn{R: bufio.NewReaderSize(r, 256)}
			res := Relay(dst, src, ResultSet)
			dst.Flush()
			return out.Bytes(), res
		}
		bulk, r1 := relay(bytes.NewReader(in))
		single, r2 := relay(iotest.OneByteReader(bytes.NewReader(in)))
		if !bytes.Equal(bulk, single) || r1.Status != r2.Status || (r1.BackendErr == nil) != (r2.BackendErr == nil) {
			t.Fatalf("bulk and packet-by-packet relays differ:\n%x %+v\n%x %+v", bulk, r1, single, r2)
		}
	})
}
