package wire

import (
	"bufio"
	"fmt"
	"io"
)

// Response kinds for Relay.
type Response uint8

const (
	// ResultSet: OK, ERR, or column count, columns, EOF, rows, EOF; repeated
	// while the server says more results exist (COM_QUERY, COM_STMT_EXECUTE).
	ResultSet Response = iota
	// FieldList: column definitions up to EOF, or ERR (COM_FIELD_LIST).
	FieldList
)

// RelayResult says how a relayed response ended.
type RelayResult struct {
	// Sent: something was written to the client; the command can no longer
	// be retried elsewhere.
	Sent bool
	// Status and Warnings are the server status and warning count of the
	// final OK/EOF.
	Status   uint16
	Warnings uint16
	// LastInsertID is the last non-zero insert id of the OK packets.
	LastInsertID uint64
	// Err is the backend's ERR packet (already relayed to the client).
	Err *SQLError
	// BackendErr and ClientErr are I/O failures on either side.
	BackendErr, ClientErr error
	// Unflushed: everything relayed is still in the client's write buffer,
	// which was empty before, so Discard can take it back.
	Unflushed bool
	written   int
}

// Discard drops what Relay buffered for the client, when res.Unflushed,
// so that the command can run elsewhere; seq is the client's sequence
// number before Relay.
func (c *Conn) Discard(seq uint8) {
	c.W.Reset(c.rw)
	c.Seq = seq
}

// Relay copies one command's response from a backend to a client, packet by
// packet; rows are copied as bytes, never decoded. Only sequence numbers are
// rewritten (the client's count continues from dst.Seq).
func Relay(dst, src *Conn, kind Response) (res RelayResult) {
	empty := dst.W.Buffered() == 0
	defer func() {
		res.Unflushed = empty && res.ClientErr == nil && dst.W.Buffered() == res.written
	}()
	const (
		stFirst = iota
		stCols
		stColsEOF
		stRows
	)
	state, cols := stFirst, uint64(0)
	if kind == FieldList {
		state = stRows
	}
	cont := false // the previous physical packet was 16 MB: this one continues it
	bulk := true  // try copyRows; not again right after it copied (it stopped at a packet to read here)
	for {
		if bulk && state == stRows && !cont && res.ClientErr == nil && copyRows(dst, src, &res) {
			bulk = false
			continue
		}
		bulk = true
		if _, err := io.ReadFull(src.R, src.hdr[:]); err != nil {
			res.BackendErr = err
			return res
		}
		n := payloadLen(src.hdr[:])
		var p []byte
		if n <= src.R.Size() {
			var err error
			if p, err = src.R.Peek(n); err != nil {
				res.BackendErr = err
				return res
			}
		}
		out, on := p, n // what the client gets
		if src.Track && p != nil && state == stFirst && !cont && n > 0 && p[0] == 0x00 {
			out = src.untrack(p)
			on = len(out)
		}
		if res.ClientErr == nil {
			res.Sent = true
			res.written += 4 + on
			if err := dst.WriteHeader(on); err != nil {
				res.ClientErr = err
			}
		}
		if p != nil {
			if res.ClientErr == nil {
				if _, err := dst.W.Write(out); err != nil {
					res.ClientErr = err
				}
			}
			src.R.Discard(n)
		} else if err := copyN(dst, src, n, &res); err != nil {
			return res
		}
		wasCont := cont
		cont = n == MaxPayload
		if wasCont {
			continue
		}
		if p == nil {
			// A packet larger than the read buffer is a row or a column
			// definition, never a marker.
			if state == stCols {
				cols--
				if cols == 0 {
					state = stColsEOF
				}
			}
			continue
		}
		switch state {
		case stFirst:
			switch {
			case n > 0 && p[0] == 0x00:
				res.Status, res.Warnings = OKStatus(p), OKWarnings(p)
				if id := OKLastInsertID(p); id != 0 {
					res.LastInsertID = id
				}
				if res.Status&StatusMoreResults == 0 {
					return res
				}
			case n > 0 && p[0] == 0xff:
				res.Err = ParseError(p)
				return res
			case n > 0 && p[0] == 0xfb:
				// LOAD DATA LOCAL INFILE: the request went to the client;
				// its file comes back as packets up to an empty one, then
				// the server answers.
				src.Seq = src.hdr[3] + 1
				if err := sendFile(dst, src, &res); err != nil {
					return res
				}
			default:
				c, _, ok := ReadLenenc(p)
				if !ok || c == 0 {
					res.BackendErr = ErrMalformed
					return res
				}
				state, cols = stCols, c
			}
		case stCols:
			cols--
			if cols == 0 {
				state = stColsEOF
			}
		case stColsEOF:
			if !IsEOF(p) {
				res.BackendErr = fmt.Errorf("%w: want EOF after columns", ErrMalformed)
				return res
			}
			state = stRows
		case stRows:
			if IsEOF(p) {
				res.Status, res.Warnings = EOFStatus(p), EOFWarnings(p)
				if kind == FieldList || res.Status&StatusMoreResults == 0 {
					return res
				}
				state = stFirst
			} else if n > 0 && p[0] == 0xff {
				res.Err = ParseError(p)
				return res
			}
		}
	}
}

// copyRows copies the rows that wait whole in src's read buffer to dst's
// write buffer in one piece, renumbering their sequence there, and reports
// whether it copied any: the packet-by-packet path of Relay costs about
// 30 ns a row. It stops before anything Relay must look at (EOF, ERR, a
// 16 MB packet, a packet not read in full yet) and where dst's buffer is
// full.
func copyRows(dst, src *Conn, res *RelayResult) bool {
	buf, _ := src.R.Peek(src.R.Buffered())
	room := dst.W.Available()
	if room < 512 && dst.W.Buffered() > 0 {
		if err := dst.W.Flush(); err != nil {
			res.ClientErr = err
			return false
		}
		room = dst.W.Available()
	}
	buf = buf[:min(len(buf), room)]
	end := 0
	for end+4 <= len(buf) {
		n := payloadLen(buf[end:])
		if n >= MaxPayload || end+4+n > len(buf) {
			break
		}
		if p := buf[end+4 : end+4+n]; n == 0 || p[0] == 0xff || IsEOF(p) {
			break
		}
		end += 4 + n
	}
	if end == 0 {
		return false
	}
	out := append(dst.W.AvailableBuffer(), buf[:end]...)
	for i := 0; i < end; {
		out[i+3] = dst.Seq
		dst.Seq++
		i += 4 + payloadLen(out[i:])
	}
	dst.W.Write(out) // fits: no I/O, no error
	src.R.Discard(end)
	res.Sent = true
	res.written += end
	return true
}

// payloadLen is the payload length in packet header h.
func payloadLen(h []byte) int { return int(h[0]) | int(h[1])<<8 | int(h[2])<<16 }

// NoteOK reads the session state of an OK packet p of a tracking
// connection (see Conn.Track) that the caller read itself.
func (c *Conn) NoteOK(p []byte) {
	if c.Track && len(p) > 0 && p[0] == 0x00 {
		c.untrack(p)
	}
}

// untrack is OK packet p without its session state information: the
// bytes a connection without CLIENT_SESSION_TRACK gets (MariaDB writes the
// info string length-encoded either way, and with tracking off only when
// it is not empty). A last_gtid in the state goes to c.GTID. p is
// returned when it carries no state; a malformed OK is passed on as it is.
func (c *Conn) untrack(p []byte) []byte {
	_, rest, ok := ReadLenenc(p[1:])
	if !ok {
		return p
	}
	if _, rest, ok = ReadLenenc(rest); !ok || len(rest) < 4 {
		return p
	}
	head := len(p) - len(rest) + 4 // through status and warnings
	status := uint16(rest[0]) | uint16(rest[1])<<8
	if status&StatusStateChanged == 0 {
		return p
	}
	rest = rest[4:]
	l, after, ok := ReadLenenc(rest)
	if !ok || uint64(len(after)) < l {
		return p
	}
	info := rest[:len(rest)-len(after)+int(l)]
	c.noteState(after[l:])
	out := append(c.ok[:0], p[:head]...)
	status &^= StatusStateChanged
	out[head-4], out[head-3] = byte(status), byte(status>>8)
	if l > 0 {
		out = append(out, info...)
	}
	c.ok = out
	return out
}

// noteState reads a session state information block (a length-encoded
// list of entries: type, length-encoded data) for the last_gtid system
// variable.
func (c *Conn) noteState(b []byte) {
	l, b, ok := ReadLenenc(b)
	if !ok || uint64(len(b)) < l {
		return
	}
	for b = b[:l]; len(b) > 0; {
		typ := b[0]
		n, data, ok := ReadLenenc(b[1:])
		if !ok || uint64(len(data)) < n {
			return
		}
		b = data[n:]
		if typ != sessionTrackSystemVariables {
			continue
		}
		name, v, ok := lenencString(data[:n])
		if !ok || string(name) != "last_gtid" {
			continue
		}
		if val, _, ok := lenencString(v); ok && len(val) > 0 {
			c.GTID = append(c.GTID[:0], val...)
			c.NewGTID = true
		}
	}
}

// sessionTrackSystemVariables is SESSION_TRACK_SYSTEM_VARIABLES.
const sessionTrackSystemVariables = 0

func lenencString(b []byte) (s, rest []byte, ok bool) {
	l, b, ok := ReadLenenc(b)
	if !ok || uint64(len(b)) < l {
		return nil, nil, false
	}
	return b[:l], b[l:], true
}

// sendFile copies the client's LOCAL INFILE packets to the backend.
func sendFile(client, backend *Conn, res *RelayResult) error {
	if client.R == nil {
		res.BackendErr = fmt.Errorf("LOCAL INFILE request with no client")
		return res.BackendErr
	}
	if res.ClientErr != nil {
		res.BackendErr = res.ClientErr // cannot finish the exchange
		return res.ClientErr
	}
	if err := client.Flush(); err != nil {
		res.ClientErr, res.BackendErr = err, err
		return err
	}
	for {
		var h [4]byte
		if _, err := io.ReadFull(client.R, h[:]); err != nil {
			res.ClientErr, res.BackendErr = err, err
			return err
		}
		n := payloadLen(h[:])
		client.Seq = h[3] + 1
		if err := backend.WriteHeader(n); err != nil {
			res.BackendErr = err
			return err
		}
		for left := n; left > 0; {
			b, err := client.R.Peek(min(left, client.R.Size()))
			if len(b) == 0 && err != nil {
				res.ClientErr, res.BackendErr = err, err
				return err
			}
			if _, err := backend.W.Write(b); err != nil {
				res.BackendErr = err
				return err
			}
			client.R.Discard(len(b))
			left -= len(b)
		}
		if n == 0 {
			if err := backend.Flush(); err != nil {
				res.BackendErr = err
				return err
			}
			return nil
		}
	}
}

func copyN(dst, src *Conn, n int, res *RelayResult) error {
	for n > 0 {
		b, err := src.R.Peek(min(n, src.R.Size()))
		if len(b) == 0 && err != nil {
			res.BackendErr = err
			return err
		}
		if res.ClientErr == nil {
			if _, err := dst.W.Write(b); err != nil {
				res.ClientErr = err
			}
		}
		src.R.Discard(len(b))
		n -= len(b)
	}
	return nil
}

// Drain reads and discards one response of the given kind (used for
// replayed statements, whose results the client never sees). It returns the
// server's error, if any, or an I/O error.
func Drain(src *Conn, kind Response) (uint16, error) {
	sink := Conn{W: bufio.NewWriterSize(io.Discard, 64)}
	res := Relay(&sink, src, kind)
	if res.BackendErr != nil {
		return 0, res.BackendErr
	}
	if res.Err != nil {
		return 0, res.Err
	}
	return res.Status, nil
}
