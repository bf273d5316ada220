package wire

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"filippo.io/edwards25519"
	"fmt"
	"github.com/shardgate/shardgate/internal/sockio"
	"io"
	"net"
	"slices"
	"strings"
)

// Commands.
const (
	ComQuit             = 0x01
	ComInitDB           = 0x02
	ComQuery            = 0x03
	ComFieldList        = 0x04
	ComStatistics       = 0x09
	ComPing             = 0x0e
	ComChangeUser       = 0x11
	ComStmtPrepare      = 0x16
	ComStmtExecute      = 0x17
	ComStmtSendLongData = 0x18
	ComStmtClose        = 0x19
	ComStmtReset        = 0x1a
	ComSetOption        = 0x1b
	ComStmtFetch        = 0x1c
	ComResetConnection  = 0x1f
)

// Capability flags.
const (
	ClientLongPassword     = 0x00000001
	ClientFoundRows        = 0x00000002
	ClientLongFlag         = 0x00000004
	ClientConnectWithDB    = 0x00000008
	ClientLocalFiles       = 0x00000080
	ClientProtocol41       = 0x00000200
	ClientSSL              = 0x00000800
	ClientTransactions     = 0x00002000
	ClientSecureConnection = 0x00008000
	ClientMultiStatements  = 0x00010000
	ClientMultiResults     = 0x00020000
	ClientPSMultiResults   = 0x00040000
	ClientPluginAuth       = 0x00080000
	ClientConnectAttrs     = 0x00100000
	ClientPluginAuthLenenc = 0x00200000
	ClientSessionTrack     = 0x00800000
	ClientDeprecateEOF     = 0x01000000
)

// Capabilities is what shardgate speaks on both sides.
const Capabilities = ClientLongPassword | ClientLongFlag | ClientConnectWithDB | ClientLocalFiles | ClientProtocol41 |
	ClientTransactions | ClientSecureConnection | ClientMultiStatements | ClientMultiResults |
	ClientPSMultiResults | ClientPluginAuth | ClientPluginAuthLenenc

// Server status flags.
const (
	StatusInTrans      = 0x0001
	StatusAutocommit   = 0x0002
	StatusMoreResults  = 0x0008
	StatusCursorExists = 0x0040
	// StatusStateChanged: the OK carries session state information
	// (CLIENT_SESSION_TRACK only).
	StatusStateChanged = 0x4000
)

// MaxPayload is the largest payload of one physical packet.
const MaxPayload = 1<<24 - 1

// Conn frames packets over a net.Conn with buffered reads and writes.
// Writes are not flushed until Flush.
type Conn struct {
	NC  net.Conn
	rw  io.ReadWriter // NC's socket as R and W use it (sockio)
	R   *bufio.Reader
	W   *bufio.Writer
	Seq uint8
	// Max bounds the length of a packet ReadPacket accepts (0: no bound).
	Max int
	// Track: the connection was opened with CLIENT_SESSION_TRACK, its
	// session reporting last_gtid (causal reads). Relay reads the state
	// an OK carries and strips it, so that the client gets the OK a
	// connection without tracking would have sent; GTID is the last
	// last_gtid so reported, NewGTID set until the taker clears it.
	Track   bool
	NewGTID bool
	GTID    []byte
	buf     []byte
	hdr     [4]byte
	ok      []byte // untracked OK scratch
}

// NewConn wraps nc with buffers of the given size.
func NewConn(nc net.Conn, size int) *Conn {
	rw := sockio.New(nc)
	return &Conn{NC: nc, rw: rw, R: bufio.NewReaderSize(rw, size), W: bufio.NewWriterSize(rw, size)}
}

// Reset rebinds the buffers to a new net.Conn (after a TLS upgrade).
func (c *Conn) Reset(nc net.Conn) {
	c.NC, c.rw = nc, sockio.New(nc)
	c.R.Reset(c.rw)
	c.W.Reset(c.rw)
}

// ErrPacketTooLarge is returned by ReadPacket for a packet over Conn.Max.
var ErrPacketTooLarge = errors.New("packet larger than the allowed maximum")

// ReadPacket reads one logical packet (joining 16 MB parts). The payload is
// valid until the next read. A packet longer than c.Max (when set) fails
// with ErrPacketTooLarge before its payload is read; the buffer grows as
// bytes arrive, so a header claiming 16 MB costs nothing until they do.
func (c *Conn) ReadPacket() ([]byte, error) {
	c.buf = c.buf[:0]
	for {
		if _, err := io.ReadFull(c.R, c.hdr[:]); err != nil {
			return nil, err
		}
		n := payloadLen(c.hdr[:])
		c.Seq = c.hdr[3] + 1
		if c.Max > 0 && len(c.buf)+n > c.Max {
			return nil, fmt.Errorf("%w (%d bytes)", ErrPacketTooLarge, c.Max)
		}
		for left := n; left > 0; {
			if cap(c.buf) == len(c.buf) {
				// Grow by what has arrived, at most doubling: linear in
				// the bytes received, never in the bytes announced.
				c.buf = slices.Grow(c.buf, min(left, max(4<<10, len(c.buf))))
			}
			chunk := min(left, cap(c.buf)-len(c.buf))
			start := len(c.buf)
			c.buf = c.buf[:start+chunk]
			if _, err := io.ReadFull(c.R, c.buf[start:]); err != nil {
				return nil, err
			}
			left -= chunk
		}
		if n < MaxPayload {
			// Do not pin a huge buffer for the life of the connection.
			out := c.buf
			if cap(c.buf) > 1<<20 {
				c.buf = nil
			}
			return out, nil
		}
	}
}

// WritePacket writes one logical packet, splitting at 16 MB.
func (c *Conn) WritePacket(p []byte) error {
	for {
		n := min(len(p), MaxPayload)
		if err := c.WriteHeader(n); err != nil {
			return err
		}
		if _, err := c.W.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
		if n < MaxPayload {
			return nil
		}
	}
}

// WriteHeader writes a packet header with the next sequence number.
func (c *Conn) WriteHeader(n int) error {
	// Built in the writer's own buffer: a local array passed to Write
	// escapes (bufio may hand it to the net.Conn), one allocation per
	// packet relayed.
	if c.W.Available() < 4 {
		if err := c.W.Flush(); err != nil {
			return err
		}
	}
	h := append(c.W.AvailableBuffer(), byte(n), byte(n>>8), byte(n>>16), c.Seq)
	c.Seq++
	_, err := c.W.Write(h)
	return err
}

// Flush sends buffered writes.
func (c *Conn) Flush() error { return c.W.Flush() }

// WriteCommand starts a command (sequence 0), writes it and flushes.
func (c *Conn) WriteCommand(p []byte) error {
	c.Seq = 0
	if err := c.WritePacket(p); err != nil {
		return err
	}
	return c.W.Flush()
}

// SQLError is an error packet: the server's code, SQLSTATE and message.
type SQLError struct {
	Code    uint16
	State   string
	Message string
}

func (e *SQLError) Error() string {
	return fmt.Sprintf("Error %d (%s): %s", e.Code, e.State, e.Message)
}

// NewError builds an SQLError.
func NewError(code uint16, state, format string, a ...any) *SQLError {
	return &SQLError{Code: code, State: state, Message: fmt.Sprintf(format, a...)}
}

// ParseError decodes an ERR packet.
func ParseError(p []byte) *SQLError {
	e := &SQLError{Code: 1105, State: "HY000"}
	if len(p) < 3 || p[0] != 0xff {
		e.Message = "malformed error packet"
		return e
	}
	e.Code = binary.LittleEndian.Uint16(p[1:])
	rest := p[3:]
	if len(rest) >= 6 && rest[0] == '#' {
		e.State, rest = string(rest[1:6]), rest[6:]
	}
	e.Message = string(rest)
	return e
}

// AppendError encodes an ERR packet payload.
func AppendError(b []byte, e *SQLError) []byte {
	b = append(b, 0xff, byte(e.Code), byte(e.Code>>8), '#')
	st := e.State
	if len(st) != 5 {
		st = "HY000"
	}
	b = append(b, st...)
	return append(b, e.Message...)
}

// AppendOK encodes an OK packet payload.
func AppendOK(b []byte, affected, lastID uint64, status, warnings uint16) []byte {
	b = append(b, 0)
	b = AppendLenenc(b, affected)
	b = AppendLenenc(b, lastID)
	return append(b, byte(status), byte(status>>8), byte(warnings), byte(warnings>>8))
}

// AppendEOF encodes an EOF packet payload.
func AppendEOF(b []byte, status, warnings uint16) []byte {
	return append(b, 0xfe, byte(warnings), byte(warnings>>8), byte(status), byte(status>>8))
}

// AppendLenenc appends a length-encoded integer.
func AppendLenenc(b []byte, v uint64) []byte {
	switch {
	case v < 251:
		return append(b, byte(v))
	case v < 1<<16:
		return append(b, 0xfc, byte(v), byte(v>>8))
	case v < 1<<24:
		return append(b, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	}
	return append(b, 0xfe, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}

// ReadLenenc decodes a length-encoded integer, returning the rest.
func ReadLenenc(b []byte) (uint64, []byte, bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	switch b[0] {
	case 0xfc:
		if len(b) < 3 {
			return 0, nil, false
		}
		return uint64(b[1]) | uint64(b[2])<<8, b[3:], true
	case 0xfd:
		if len(b) < 4 {
			return 0, nil, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, b[4:], true
	case 0xfe:
		if len(b) < 9 {
			return 0, nil, false
		}
		return binary.LittleEndian.Uint64(b[1:]), b[9:], true
	case 0xfb, 0xff:
		return 0, b[1:], false
	}
	return uint64(b[0]), b[1:], true
}

// OKStatus returns the status flags of an OK packet.
func OKStatus(p []byte) uint16 {
	_, rest, ok := ReadLenenc(p[1:])
	if !ok {
		return 0
	}
	_, rest, ok = ReadLenenc(rest)
	if !ok || len(rest) < 2 {
		return 0
	}
	return binary.LittleEndian.Uint16(rest)
}

// OKLastInsertID returns the last insert id of an OK packet.
func OKLastInsertID(p []byte) uint64 {
	_, rest, ok := ReadLenenc(p[1:])
	if !ok {
		return 0
	}
	id, _, ok := ReadLenenc(rest)
	if !ok {
		return 0
	}
	return id
}

// OKWarnings returns the warning count of an OK packet.
func OKWarnings(p []byte) uint16 {
	_, rest, ok := ReadLenenc(p[1:])
	if !ok {
		return 0
	}
	_, rest, ok = ReadLenenc(rest)
	if !ok || len(rest) < 4 {
		return 0
	}
	return binary.LittleEndian.Uint16(rest[2:])
}

// IsEOF reports whether a payload is an EOF packet (a row may start with
// 0xfe only when it is at least 9 bytes long).
func IsEOF(p []byte) bool { return len(p) > 0 && p[0] == 0xfe && len(p) < 9 }

// EOFWarnings returns the warning count of an EOF packet.
func EOFWarnings(p []byte) uint16 {
	if len(p) < 3 {
		return 0
	}
	return binary.LittleEndian.Uint16(p[1:])
}

// EOFStatus returns the status flags of an EOF packet.
func EOFStatus(p []byte) uint16 {
	if len(p) < 5 {
		return 0
	}
	return binary.LittleEndian.Uint16(p[3:])
}

// ScrambleNative is mysql_native_password:
// SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))).
func ScrambleNative(salt []byte, password string) []byte {
	if password == "" {
		return nil
	}
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	h := sha1.New()
	h.Write(salt)
	h.Write(h2[:])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= h1[i]
	}
	return out
}

// CheckNativeHash checks a mysql_native_password response against the
// stored hash ("*" and 40 hex digits: SHA1(SHA1(pw)), MySQL's PASSWORD()):
// SHA1(pw) = auth XOR SHA1(salt + hash), and SHA1 of that must be hash.
func CheckNativeHash(salt, auth []byte, hash string) bool {
	h2, err := hex.DecodeString(strings.TrimPrefix(hash, "*"))
	if err != nil || len(h2) != sha1.Size || len(auth) != sha1.Size {
		return false
	}
	h := sha1.New()
	h.Write(salt)
	h.Write(h2)
	h1 := h.Sum(nil)
	for i := range h1 {
		h1[i] ^= auth[i]
	}
	got := sha1.Sum(h1)
	return subtle.ConstantTimeCompare(got[:], h2) == 1
}

// CheckSHA2Hash checks a caching_sha2_password fast-auth scramble
// against h2 = SHA256(SHA256(password)): the scramble XOR
// SHA256(h2 + salt) is SHA256(password), whose SHA-256 must be h2.
func CheckSHA2Hash(salt, auth, h2 []byte) bool {
	if len(h2) != sha256.Size || len(auth) != sha256.Size {
		return false
	}
	h := sha256.New()
	h.Write(h2)
	h.Write(salt)
	m := h.Sum(nil)
	for i := range m {
		m[i] ^= auth[i]
	}
	got := sha256.Sum256(m)
	return subtle.ConstantTimeCompare(got[:], h2) == 1
}

// SignEd25519 answers MariaDB's ed25519 authentication: an Ed25519
// signature of the server's nonce whose secret is expanded from the
// password itself (SHA-512(password): the lower half, clamped, is the
// scalar; the upper half seeds the signature's nonce).
func SignEd25519(nonce []byte, password string) ([]byte, error) {
	h := sha512.Sum512([]byte(password))
	s, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		return nil, err
	}
	pub := new(edwards25519.Point).ScalarBaseMult(s).Bytes()
	rh := sha512.New()
	rh.Write(h[32:])
	rh.Write(nonce)
	r, err := edwards25519.NewScalar().SetUniformBytes(rh.Sum(nil))
	if err != nil {
		return nil, err
	}
	R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
	kh := sha512.New()
	kh.Write(R)
	kh.Write(pub)
	kh.Write(nonce)
	k, err := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	if err != nil {
		return nil, err
	}
	S := edwards25519.NewScalar().MultiplyAdd(k, s, r)
	return append(R, S.Bytes()...), nil
}

// EncryptSHA2 is caching_sha2_password's full authentication without TLS:
// the password and a NUL, XORed with the salt, encrypted with the server's
// RSA key (OAEP, SHA-1, as the server decrypts it).
func EncryptSHA2(salt []byte, password string, key *rsa.PublicKey) ([]byte, error) {
	if len(salt) == 0 {
		return nil, ErrMalformed
	}
	plain := append([]byte(password), 0)
	for i := range plain {
		plain[i] ^= salt[i%len(salt)]
	}
	return rsa.EncryptOAEP(sha1.New(), rand.Reader, key, plain, nil)
}

// ScrambleSHA2 is caching_sha2_password's fast-auth scramble:
// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + salt).
func ScrambleSHA2(salt []byte, password string) []byte {
	if password == "" {
		return nil
	}
	h1 := sha256.Sum256([]byte(password))
	h2 := sha256.Sum256(h1[:])
	h := sha256.New()
	h.Write(h2[:])
	h.Write(salt)
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= h1[i]
	}
	return out
}

// ErrMalformed is returned for packets that do not parse.
var ErrMalformed = errors.New("malformed packet")
