package backend

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/config"
)

// Collation of backend connections (utf8mb4_general_ci).
const Collation = 45

// Conn is one authenticated backend connection. It is used by one session
// at a time.
type Conn struct {
	*wire.Conn
	pool     *Pool
	ThreadID uint32
	Version  string
	// Broken connections are closed when put back.
	Broken bool
	// Flags are the client options the connection was opened with; a
	// session uses only connections opened with its own.
	Flags Flags
	// ReadOnly: a slave's connection, whose session runs every
	// transaction READ ONLY, so a write that reaches it fails there.
	ReadOnly bool
	// DB is the current default database.
	DB string
	// StateKey is the session state the connection carries: the replayed
	// SET statements, joined. Sessions with the same key (most often the
	// empty one) share connections without any reset or replay.
	StateKey string
	// Tainted says the connection has session state StateKey does not
	// describe (temporary tables, locks, SET inside a multi-statement): it
	// is reset before anyone else uses it.
	Tainted bool
	// Stmts are this connection's server-side prepared statements by
	// default database and text (a statement prepared in one database
	// names that database's tables), shared by every session that uses the
	// connection; session state that changes their meaning (sql_mode,
	// charset) resets the connection, which clears them.
	Stmts map[StmtKey]*Stmt
	// lastUsed is when the connection last came back to its pool, on
	// the monotonic clock (see monoNow).
	lastUsed time.Duration
	scratch  []byte

	rawConn  syscall.RawConn
	checkFn  func(fd uintptr) bool
	checkErr error
	// sendFn, sent and sendErr are Send's (see there), built once.
	sendFn  func(fd uintptr) bool
	sent    bool
	sendErr error
	// tls is the connection's TLS layer (nil: plain text); alive checks
	// through it, since records (session tickets) may wait on the socket.
	tls *tls.Conn
}

// StmtKey names a prepared statement on a connection.
type StmtKey struct{ DB, SQL string }

// Stmt is a statement prepared on one backend connection.
type Stmt struct {
	ID      uint32
	Params  uint16
	Columns uint16
}

// Flags are client options that change what a connection does, so that
// connections are shared only between sessions that asked for the same.
type Flags uint8

const (
	// FoundRows: CLIENT_FOUND_ROWS (affected rows count matched rows).
	FoundRows Flags = 1 << iota
	// MultiStatements: CLIENT_MULTI_STATEMENTS. Without it the server
	// runs one statement per command, so a text that hides a second
	// statement fails instead of running it.
	MultiStatements
	// TrackGTID: CLIENT_SESSION_TRACK with last_gtid tracked, so that each
	// commit's OK says its GTID (readYourWrites: causal, master
	// connections); see wire.Conn.Track.
	TrackGTID
	numFlavours = 1 << iota
)

// readOnlySQL makes every later transaction of the session read-only,
// autocommitted statements included (MariaDB error 1792 on a write).
const readOnlySQL = "SET SESSION TRANSACTION READ ONLY"

// trackSQL makes the session report the GTID of each commit in its OK.
const trackSQL = "SET SESSION session_track_system_variables = 'last_gtid'"

// ErrNoTracking: readYourWrites causal, and the server cannot report the
// GTIDs of commits.
var ErrNoTracking = errors.New("readYourWrites: causal needs session tracking of last_gtid (MariaDB 10.3 or later)")

// Dial connects and authenticates to a data source.
func Dial(ctx context.Context, ds *config.DataSource) (*Conn, error) {
	return dial(ctx, ds, 0, false)
}

func dial(ctx context.Context, ds *config.DataSource, flags Flags, readOnly bool) (*Conn, error) {
	d := net.Dialer{Timeout: ds.ConnectTimeout}
	nc, err := d.DialContext(ctx, "tcp", ds.Addr)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(ds.ConnectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	c := &Conn{Conn: wire.NewConn(nc, 16<<10), DB: ds.Database, Stmts: map[StmtKey]*Stmt{}, Flags: flags, ReadOnly: readOnly}
	if err := c.handshake(ds); err != nil {
		nc.Close()
		return nil, err
	}
	if readOnly {
		if _, err := c.Exec(readOnlySQL); err != nil {
			nc.Close()
			return nil, fmt.Errorf("making the slave session read-only: %w", err)
		}
	}
	if err := c.track(); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	c.prepareCheckOn(nc) // the TCP connection, also under TLS
	return c, nil
}

func (c *Conn) handshake(ds *config.DataSource) error {
	p, err := c.ReadPacket()
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if len(p) > 0 && p[0] == 0xff {
		return wire.ParseError(p)
	}
	if len(p) < 1 || p[0] != 10 {
		return fmt.Errorf("handshake: unsupported protocol version")
	}
	r := p[1:]
	i := indexNUL(r)
	if i < 0 {
		return wire.ErrMalformed
	}
	c.Version, r = string(r[:i]), r[i+1:]
	if len(r) < 4+8+1+2 {
		return wire.ErrMalformed
	}
	c.ThreadID = binary.LittleEndian.Uint32(r)
	salt := append([]byte(nil), r[4:12]...)
	r = r[13:]
	caps := uint32(binary.LittleEndian.Uint16(r))
	r = r[2:]
	plugin := "mysql_native_password"
	if len(r) >= 16 {
		caps |= uint32(binary.LittleEndian.Uint16(r[3:])) << 16
		authLen := int(r[5])
		r = r[16:]
		if caps&wire.ClientSecureConnection != 0 {
			n := max(13, authLen-8)
			if len(r) < n {
				return wire.ErrMalformed
			}
			salt = append(salt, r[:n-1]...) // the last byte is a NUL
			r = r[n:]
		}
		if caps&wire.ClientPluginAuth != 0 {
			if j := indexNUL(r); j >= 0 {
				plugin = string(r[:j])
			} else {
				plugin = string(r)
			}
		}
	}
	need := uint32(wire.ClientProtocol41 | wire.ClientSecureConnection | wire.ClientPluginAuth)
	if caps&need != need {
		return fmt.Errorf("handshake: server lacks protocol 4.1 / plugin auth")
	}
	tlsCfg, err := ds.ClientTLS(ds.Addr)
	if err != nil {
		return err
	}
	if tlsCfg != nil && caps&wire.ClientSSL == 0 {
		if ds.TLSMode() != config.TLSPreferred {
			return fmt.Errorf("handshake: tls.mode %s, and the server does not offer TLS", ds.TLSMode())
		}
		tlsCfg = nil // preferred: plain text with a server without TLS
	}
	flags := uint32(wire.Capabilities&^(wire.ClientMultiStatements|wire.ClientSSL)) & caps
	if c.Flags&FoundRows != 0 {
		flags |= wire.ClientFoundRows
	}
	if c.Flags&MultiStatements != 0 {
		flags |= wire.ClientMultiStatements & caps
	}
	if c.Flags&TrackGTID != 0 {
		if caps&wire.ClientSessionTrack == 0 {
			return fmt.Errorf("handshake: %w: the server (%s) does not offer CLIENT_SESSION_TRACK", ErrNoTracking, c.Version)
		}
		flags |= wire.ClientSessionTrack
	}
	if ds.Database == "" {
		flags &^= wire.ClientConnectWithDB
	}
	password, err := ds.Secret()
	if err != nil {
		return err
	}
	auth, err := scramble(plugin, salt, password)
	if err != nil {
		return err
	}
	if tlsCfg != nil {
		flags |= wire.ClientSSL
	}
	b := binary.LittleEndian.AppendUint32(nil, flags)
	b = binary.LittleEndian.AppendUint32(b, wire.MaxPayload)
	b = append(b, Collation)
	b = append(b, make([]byte, 23)...)
	if tlsCfg != nil {
		// SSLRequest (the response's first 32 bytes), then TLS; the
		// response follows encrypted.
		if err := c.WritePacket(b); err != nil {
			return err
		}
		if err := c.Flush(); err != nil {
			return err
		}
		tc := tls.Client(c.NC, tlsCfg)
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("handshake: TLS (tls.mode %s): %w", ds.TLSMode(), err)
		}
		c.Conn.Reset(tc)
		c.tls = tc
	}
	b = append(append(b, ds.Username...), 0)
	if flags&wire.ClientPluginAuthLenenc != 0 {
		b = wire.AppendLenenc(b, uint64(len(auth)))
	} else {
		b = append(b, byte(len(auth)))
	}
	b = append(b, auth...)
	if flags&wire.ClientConnectWithDB != 0 {
		b = append(append(b, ds.Database...), 0)
	}
	b = append(append(b, plugin...), 0)
	if err := c.WritePacket(b); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return err
	}
	for {
		p, err := c.ReadPacket()
		if err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		switch {
		case len(p) == 0:
			return wire.ErrMalformed
		case p[0] == 0x00:
			return nil
		case p[0] == 0xff:
			return wire.ParseError(p)
		case p[0] == 0xfe: // auth switch
			r := p[1:]
			j := indexNUL(r)
			if j < 0 {
				return wire.ErrMalformed
			}
			plugin = string(r[:j])
			salt = r[j+1:]
			if len(salt) > 0 && salt[len(salt)-1] == 0 {
				salt = salt[:len(salt)-1]
			}
			auth, err := scramble(plugin, append([]byte(nil), salt...), password)
			if err != nil {
				return err
			}
			if err := c.WritePacket(auth); err != nil {
				return err
			}
			if err := c.Flush(); err != nil {
				return err
			}
		case p[0] == 0x01 && len(p) == 2 && p[1] == 3:
			// caching_sha2_password fast auth succeeded; OK follows.
		case p[0] == 0x01 && len(p) == 2 && p[1] == 4:
			// caching_sha2_password full authentication: over TLS the
			// password goes as it is, else encrypted with the server's
			// RSA key.
			if err := c.fullAuth(ds, salt, password); err != nil {
				return err
			}
		default:
			return fmt.Errorf("handshake: unexpected packet 0x%02x", p[0])
		}
	}
}

// ErrFullAuth: caching_sha2_password full authentication is not possible
// with the data source's settings.
var ErrFullAuth = errors.New("caching_sha2_password full authentication needs TLS (dataSources.*.tls), the server's RSA key (serverPublicKey), or allowPublicKeyRetrieval: true")

// fullAuth sends the password for caching_sha2_password full
// authentication (the server has no cached hash of it yet).
func (c *Conn) fullAuth(ds *config.DataSource, salt []byte, password string) error {
	send := func(b []byte) error {
		if err := c.WritePacket(b); err != nil {
			return err
		}
		return c.Flush()
	}
	if c.tls != nil {
		return send(append([]byte(password), 0))
	}
	key, err := ds.PublicKey()
	if err != nil {
		return err
	}
	if key == nil {
		if !ds.AllowPublicKeyRetrieval {
			return ErrFullAuth
		}
		if err := send([]byte{2}); err != nil { // request the public key
			return err
		}
		p, err := c.ReadPacket()
		if err != nil {
			return fmt.Errorf("handshake: reading the server's public key: %w", err)
		}
		if len(p) > 0 && p[0] == 0xff {
			return wire.ParseError(p)
		}
		if len(p) < 2 || p[0] != 0x01 {
			return fmt.Errorf("handshake: %w: want the server's public key", wire.ErrMalformed)
		}
		if key, err = config.ParsePublicKey(p[1:]); err != nil {
			return fmt.Errorf("handshake: the server's public key: %w", err)
		}
	}
	enc, err := wire.EncryptSHA2(salt, password, key)
	if err != nil {
		return fmt.Errorf("handshake: encrypting the password: %w", err)
	}
	return send(enc)
}

func scramble(plugin string, salt []byte, pw string) ([]byte, error) {
	switch plugin {
	case "mysql_native_password":
		return wire.ScrambleNative(salt, pw), nil
	case "caching_sha2_password":
		return wire.ScrambleSHA2(salt, pw), nil
	case "client_ed25519":
		return wire.SignEd25519(salt, pw)
	}
	return nil, fmt.Errorf("backend asks for auth plugin %q; shardgate supports mysql_native_password, caching_sha2_password and client_ed25519", plugin)
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// Close closes the network connection.
func (c *Conn) Close() error { return c.NC.Close() }

// Exec runs a statement whose result nobody reads (replays, USE, resets)
// and returns the server status.
func (c *Conn) Exec(sql string) (uint16, error) {
	c.scratch = append(append(c.scratch[:0], wire.ComQuery), sql...)
	return c.command(c.scratch)
}

func (c *Conn) command(p []byte) (uint16, error) {
	if err := c.Send(p); err != nil {
		c.Broken = true
		return 0, err
	}
	st, err := wire.Drain(c.Conn, wire.ResultSet)
	if _, ok := err.(*wire.SQLError); err != nil && !ok {
		c.Broken = true
	}
	return st, err
}

// InitDB changes the default database.
func (c *Conn) InitDB(db string) error {
	c.scratch = append(append(c.scratch[:0], wire.ComInitDB), db...)
	if _, err := c.command(c.scratch); err != nil {
		return err
	}
	c.DB = db
	return nil
}

// Ping checks the connection.
func (c *Conn) Ping() error {
	_, err := c.command([]byte{wire.ComPing})
	return err
}

// ResetSession drops all session state (rolls back, drops temporary
// tables, releases locks, frees prepared statements) keeping the database;
// a slave's connection is made read-only again.
func (c *Conn) ResetSession() error {
	if _, err := c.command([]byte{wire.ComResetConnection}); err != nil {
		c.Broken = true // never hand out a connection in an unknown state
		return err
	}
	clear(c.Stmts)
	c.StateKey, c.Tainted = "", false
	if c.ReadOnly {
		if _, err := c.Exec(readOnlySQL); err != nil {
			c.Broken = true
			return err
		}
	}
	if err := c.track(); err != nil {
		c.Broken = true
		return err
	}
	return nil
}

// track turns on the session's last_gtid tracking (TrackGTID), after
// connecting and after a reset (which puts the variable back to the
// server's default).
func (c *Conn) track() error {
	if c.Flags&TrackGTID == 0 {
		return nil
	}
	if _, err := c.Exec(trackSQL); err != nil {
		return fmt.Errorf("%w: %w", ErrNoTracking, err)
	}
	c.Conn.Track = true
	return nil
}

// Replay runs a session's SET statements on the connection. On a slave's
// connection the session is made read-only again afterwards: a replayed
// SET SESSION TRANSACTION READ WRITE or tx_read_only = 0 must not undo it.
func (c *Conn) Replay(stmts []string) error {
	for _, q := range stmts {
		if _, err := c.Exec(q); err != nil {
			c.Tainted = true
			return err
		}
	}
	if c.ReadOnly && len(stmts) > 0 {
		if _, err := c.Exec(readOnlySQL); err != nil {
			c.Broken = true
			return err
		}
	}
	if len(stmts) > 0 {
		// A replayed SET of session_track_system_variables must not
		// silence the commits' GTIDs.
		if err := c.track(); err != nil {
			c.Broken = true
			return err
		}
	}
	return nil
}

// Query runs a statement and returns its rows as strings (NULL as ""),
// for the proxy's own small look-ups.
func (c *Conn) Query(sql string) ([][]string, error) {
	_, rows, err := c.QueryNull(sql)
	if err != nil {
		return nil, err
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, v := range r {
			if v != nil {
				out[i][j] = *v
			}
		}
	}
	return out, nil
}

// QueryNull runs a statement and returns its column names and rows (nil:
// NULL), for the health monitor's and the proxy's own look-ups.
func (c *Conn) QueryNull(sql string) ([]string, [][]*string, error) {
	c.scratch = append(append(c.scratch[:0], wire.ComQuery), sql...)
	if err := c.Send(c.scratch); err != nil {
		c.Broken = true
		return nil, nil, err
	}
	fail := func(err error) ([]string, [][]*string, error) {
		c.Broken = true
		return nil, nil, err
	}
	p, err := c.ReadPacket()
	if err != nil {
		return fail(err)
	}
	switch {
	case len(p) == 0:
		return fail(wire.ErrMalformed)
	case p[0] == 0xff:
		return nil, nil, wire.ParseError(p)
	case p[0] == 0x00:
		return nil, nil, nil
	}
	n, _, ok := wire.ReadLenenc(p)
	if !ok || n > 4096 {
		return fail(wire.ErrMalformed)
	}
	cols := make([]string, 0, n)
	for i := uint64(0); i <= n; i++ { // definitions and EOF
		p, err := c.ReadPacket()
		if err != nil {
			return fail(err)
		}
		if i < n {
			cols = append(cols, columnName(p))
		}
	}
	var rows [][]*string
	for {
		p, err := c.ReadPacket()
		if err != nil {
			return fail(err)
		}
		if wire.IsEOF(p) {
			return cols, rows, nil
		}
		if len(p) > 0 && p[0] == 0xff {
			return nil, nil, wire.ParseError(p)
		}
		row := make([]*string, 0, n)
		for r := p; len(r) > 0; {
			if r[0] == 0xfb {
				row, r = append(row, nil), r[1:]
				continue
			}
			l, rest, ok := wire.ReadLenenc(r)
			if !ok || uint64(len(rest)) < l {
				return fail(wire.ErrMalformed)
			}
			v := string(rest[:l])
			row, r = append(row, &v), rest[l:]
		}
		rows = append(rows, row)
	}
}

// columnName is the name in a column definition packet (its fifth
// length-encoded string), "" if the packet is short.
func columnName(p []byte) string {
	for i := 0; i < 5; i++ {
		l, rest, ok := wire.ReadLenenc(p)
		if !ok || uint64(len(rest)) < l {
			return ""
		}
		if i == 4 {
			return string(rest[:l])
		}
		p = rest[l:]
	}
	return ""
}

// Pool returns the connection's pool.
func (c *Conn) Pool() *Pool { return c.pool }
