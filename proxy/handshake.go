package proxy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/shardgate/shardgate/backend"
	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/config"
)

const (
	nativePlugin = "mysql_native_password"
	sha2Plugin   = "caching_sha2_password"
)

// handshake greets the client, switches to TLS if asked, and checks the
// password. It returns false when the connection must end.
func (s *session) handshake() bool {
	salt := make([]byte, 20)
	rand.Read(salt)
	for i := range salt {
		// Printable, never NUL: some clients treat the salt as a C string.
		salt[i] = salt[i]%94 + 33
	}
	snap := s.srv.rt.Snapshot()
	props := &snap.Config.Props
	if until, blocked := s.srv.logins.blocked(hostOf(s.c.NC.RemoteAddr()), props.MaxLoginFailures, props.LoginFailureWindow); blocked {
		s.c.Seq = 0
		s.fail(wire.NewError(1129, "HY000", "Host '%s' is blocked because of %d failed logins within %v (props.maxLoginFailures); try again in %v",
			hostOf(s.c.NC.RemoteAddr()), props.MaxLoginFailures, props.LoginFailureWindow, time.Until(until).Round(time.Second)))
		return false
	}
	caps := uint32(wire.Capabilities | wire.ClientConnectAttrs | wire.ClientFoundRows)
	if s.srv.tls != nil {
		caps |= wire.ClientSSL
	}
	b := []byte{10}
	b = append(append(b, snap.Config.Props.ServerVersion...), 0)
	b = binary.LittleEndian.AppendUint32(b, s.id)
	b = append(append(b, salt[:8]...), 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps))
	b = append(b, 45) // utf8mb4_general_ci
	b = binary.LittleEndian.AppendUint16(b, wire.StatusAutocommit)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps>>16))
	b = append(b, 21)
	b = append(b, make([]byte, 10)...)
	b = append(append(b, salt[8:]...), 0)
	b = append(append(b, nativePlugin...), 0)
	s.c.Seq = 0
	if s.c.WritePacket(b) != nil || s.c.Flush() != nil {
		return false
	}
	p, err := s.c.ReadPacket()
	if err != nil {
		return false
	}
	if len(p) < 32 {
		s.fail(wire.NewError(1043, "08S01", "Bad handshake"))
		return false
	}
	clientCaps := binary.LittleEndian.Uint32(p)
	if clientCaps&wire.ClientSSL != 0 && s.srv.tls != nil && len(p) == 32 {
		// The client may have sent its TLS hello right behind the SSL
		// request: bytes already in the read buffer belong to TLS.
		pre, _ := s.c.R.Peek(s.c.R.Buffered())
		tc := tls.Server(&prefixConn{Conn: s.c.NC, pre: append([]byte(nil), pre...)}, s.srv.tls)
		if err := tc.Handshake(); err != nil {
			s.srv.log.Info("client TLS handshake failed", "conn", s.id, "err", err)
			return false
		}
		s.c.Reset(tc)
		s.tls = true
		if p, err = s.c.ReadPacket(); err != nil || len(p) < 32 {
			return false
		}
		clientCaps = binary.LittleEndian.Uint32(p)
	}
	if snap.Config.TLS.Required && !s.tls {
		s.fail(wire.NewError(1045, "28000", "Access denied: this server requires TLS"))
		return false
	}
	if clientCaps&wire.ClientProtocol41 == 0 {
		s.fail(wire.NewError(1043, "08S01", "Bad handshake: protocol 4.1 required"))
		return false
	}
	s.caps = clientCaps & caps
	s.collation = p[8]
	r := p[32:]
	i := indexNUL(r)
	if i < 0 {
		s.fail(wire.NewError(1043, "08S01", "Bad handshake"))
		return false
	}
	s.user, r = string(r[:i]), r[i+1:]
	var auth []byte
	switch {
	case clientCaps&wire.ClientPluginAuthLenenc != 0:
		n, rest, ok := wire.ReadLenenc(r)
		if !ok || uint64(len(rest)) < n {
			s.fail(wire.NewError(1043, "08S01", "Bad handshake"))
			return false
		}
		auth, r = rest[:n], rest[n:]
	case clientCaps&wire.ClientSecureConnection != 0:
		if len(r) < 1 || len(r) < 1+int(r[0]) {
			s.fail(wire.NewError(1043, "08S01", "Bad handshake"))
			return false
		}
		auth, r = r[1:1+int(r[0])], r[1+int(r[0]):]
	default:
		j := indexNUL(r)
		if j < 0 {
			j = len(r)
		}
		auth, r = r[:j], r[min(j+1, len(r)):]
	}
	auth = append([]byte(nil), auth...)
	if clientCaps&wire.ClientConnectWithDB != 0 {
		if j := indexNUL(r); j >= 0 {
			s.db, r = string(r[:j]), r[j+1:]
		}
	}
	plugin := nativePlugin
	if clientCaps&wire.ClientPluginAuth != 0 {
		if j := indexNUL(r); j >= 0 {
			plugin = string(r[:j])
		}
	}

	ok, err := s.authenticate(snap.Config, s.user, plugin, salt, auth)
	if err != nil {
		return false
	}
	if !ok {
		using := "NO"
		if len(auth) > 0 {
			using = "YES"
		}
		s.loginFailed(s.user, hostOf(s.c.NC.RemoteAddr()))
		s.fail(wire.NewError(1045, "28000", "Access denied for user '%s'@'%s' (using password: %s)", s.user, hostOf(s.c.NC.RemoteAddr()), using))
		return false
	}
	s.srv.logins.succeeded(hostOf(s.c.NC.RemoteAddr()))
	s.initialDB = s.db
	s.salt = salt
	if names := s.srv.setNames(s.collation); names != "" {
		s.setReplay([]string{names})
	}
	// A circuit-broken instance still accepts logins (each statement then
	// gets the breaker's error), so it cannot check the database now.
	if s.db != "" && !s.srv.rt.Snapshot().State.InstanceDisabled {
		if err := s.checkDB(s.db); err != nil {
			s.fail(err)
			return false
		}
	}
	if !s.countLogin() {
		return false
	}
	s.writeOK(0, 0)
	return s.c.Flush() == nil
}

// prefixConn reads pre before the connection itself.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// changeUser serves COM_CHANGE_USER: authenticate anew with the greeting's
// salt, then start over as a fresh session. A failure ends the connection,
// as in MariaDB.
func (s *session) changeUser(p []byte) bool {
	bad := func() bool {
		s.writeErr(wire.NewError(1043, "08S01", "Bad handshake"))
		return false
	}
	r := p[1:]
	i := indexNUL(r)
	if i < 0 {
		return bad()
	}
	user, r := string(r[:i]), r[i+1:]
	var auth []byte
	if s.caps&wire.ClientSecureConnection != 0 {
		if len(r) < 1 || len(r) < 1+int(r[0]) {
			return bad()
		}
		auth, r = append([]byte(nil), r[1:1+int(r[0])]...), r[1+int(r[0]):]
	} else {
		j := indexNUL(r)
		if j < 0 {
			return bad()
		}
		auth, r = append([]byte(nil), r[:j]...), r[j+1:]
	}
	db := ""
	if j := indexNUL(r); j >= 0 {
		db, r = string(r[:j]), r[j+1:]
	}
	collation := s.collation
	if len(r) >= 2 {
		collation, r = r[0], r[2:]
	}
	plugin := nativePlugin
	if s.caps&wire.ClientPluginAuth != 0 {
		if j := indexNUL(r); j > 0 {
			plugin = string(r[:j])
		}
	}
	ok, err := s.authenticate(s.srv.rt.Snapshot().Config, user, plugin, s.salt, auth)
	if err != nil {
		return false
	}
	if !ok {
		using := "NO"
		if len(auth) > 0 {
			using = "YES"
		}
		s.loginFailed(user, hostOf(s.raw.RemoteAddr()))
		s.writeErr(wire.NewError(1045, "28000", "Access denied for user '%s'@'%s' (using password: %s)", user, hostOf(s.raw.RemoteAddr()), using))
		return false
	}
	s.user, s.collation, s.initialDB = user, collation, db
	s.resetConnection()
	if db != "" && !s.srv.rt.Snapshot().State.InstanceDisabled {
		if err := s.checkDB(db); err != nil {
			s.writeErr(err)
			return false
		}
	}
	s.writeOK(0, 0)
	return true
}

func equal(a, b []byte) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// loginFailed logs a failed login and counts it against the address.
func (s *session) loginFailed(user, addr string) {
	window := s.srv.rt.Snapshot().Config.Props.LoginFailureWindow
	n := s.srv.logins.failed(addr, window)
	s.srv.log.Warn("login failed", "user", user, "address", addr, "conn", s.id, "failuresInWindow", n)
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	return fmt.Sprint(a)
}

// setNames returns the SET NAMES statement that gives a backend connection
// the client's handshake collation, or "" for the backends' own
// (utf8mb4_general_ci) and for collations the master does not know. Names
// are looked up on the master once per collation id.
func (srv *Server) setNames(collation byte) string {
	if collation == backend.Collation || collation == 0 {
		return ""
	}
	srv.collMu.Lock()
	defer srv.collMu.Unlock()
	if v, ok := srv.collations[collation]; ok {
		return v
	}
	bc, err := poolOf(srv.rt.Snapshot().Default.Master).Get(context.Background())
	if err != nil {
		return "" // not cached: try again with the next login
	}
	defer bc.Pool().Put(bc)
	rows, err := bc.Query(fmt.Sprintf("SELECT CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLLATIONS WHERE ID = %d", collation))
	if err != nil {
		return ""
	}
	v := ""
	if len(rows) == 1 && len(rows[0]) == 2 {
		v = fmt.Sprintf("SET NAMES %s COLLATE %s", rows[0][0], rows[0][1])
	}
	srv.collations[collation] = v
	return v
}

// authenticate checks a login's response auth, made with plugin, for
// user against salt. A client whose plugin cannot be checked (unknown, or
// caching_sha2_password for a user stored as a native hash) is asked to
// switch to mysql_native_password. err: the client connection failed.
func (s *session) authenticate(cfg *config.Config, user, plugin string, salt, auth []byte) (bool, error) {
	cred := s.credentialOf(cfg, user)
	// A stored hash checks its own plugin only: other clients switch.
	want := ""
	switch {
	case cred.sha2 != nil:
		want = sha2Plugin
	case cred.hash != "":
		want = nativePlugin
	}
	if want != "" && plugin != want {
		plugin = ""
	}
	switch plugin {
	case nativePlugin:
		return cred.native(salt, auth), nil
	case sha2Plugin:
		return s.sha2(cred, salt, auth)
	}
	if want == "" {
		want = nativePlugin
	}
	sw := append([]byte{0xfe}, want...)
	sw = append(append(append(sw, 0), salt...), 0)
	if err := s.c.WritePacket(sw); err != nil {
		return false, err
	}
	if err := s.c.Flush(); err != nil {
		return false, err
	}
	resp, err := s.c.ReadPacket()
	if err != nil {
		return false, err
	}
	if want == sha2Plugin {
		return s.sha2(cred, salt, append([]byte(nil), resp...))
	}
	return cred.native(salt, resp), nil
}

// sha2 checks a caching_sha2_password fast-auth response; on success the
// client is told so (0x01 0x03), and waits for the OK.
func (s *session) sha2(cred credential, salt, auth []byte) (bool, error) {
	var ok bool
	switch {
	case !cred.known:
	case cred.sha2 != nil:
		ok = wire.CheckSHA2Hash(salt, auth, cred.sha2)
	default:
		ok = equal(auth, wire.ScrambleSHA2(salt, cred.pw))
	}
	if ok && (cred.pw != "" || cred.sha2 != nil) {
		if err := s.c.WritePacket([]byte{0x01, 0x03}); err != nil {
			return false, err
		}
	}
	return ok, nil
}

// credential is what a login is checked against: the user's password, or
// its stored native hash. known false (no such user, or its password
// reference cannot be read): every login fails.
type credential struct {
	known    bool
	pw, hash string
	// sha2 is a stored caching_sha2_password hash, SHA256(SHA256(pw)).
	sha2 []byte
}

func (s *session) credentialOf(cfg *config.Config, user string) credential {
	u := cfg.User(user)
	if u == nil {
		return credential{}
	}
	pw, err := u.Secret()
	if err != nil {
		s.srv.log.Warn("login refused: the user's password cannot be read", "user", user, "err", err)
		return credential{}
	}
	if h, ok := strings.CutPrefix(u.PasswordHash, config.SHA2HashPrefix); ok {
		b, err := hex.DecodeString(h)
		if err != nil {
			return credential{} // validated: not reached
		}
		return credential{known: true, sha2: b}
	}
	return credential{known: true, pw: pw, hash: u.PasswordHash}
}

// native checks a mysql_native_password response.
func (c credential) native(salt, auth []byte) bool {
	switch {
	case !c.known, c.sha2 != nil:
		return false
	case c.hash != "":
		return wire.CheckNativeHash(salt, auth, c.hash)
	}
	return equal(auth, wire.ScrambleNative(salt, c.pw))
}
