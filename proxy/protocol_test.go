package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/internal/testenv"
)

// rawLogin logs in with mysql_native_password and returns the packet
// connection, for commands database/sql cannot send.
func rawLogin(t testing.TB, addr string) (*wire.Conn, []byte) {
	return rawLoginAs(t, addr, user, password)
}

// rawLoginAs is rawLogin as another user (MariaDB's root, for a direct
// connection).
func rawLoginAs(t testing.TB, addr, user, password string) (*wire.Conn, []byte) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := wire.NewConn(nc, 4096)
	g, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	v := indexNUL(g[1:]) + 2
	salt := append(append([]byte(nil), g[v+4:v+12]...), g[v+31:v+43]...)
	auth := wire.ScrambleNative(salt, password)
	b := binary.LittleEndian.AppendUint32(nil, wire.Capabilities)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 23)...)
	b = append(append(b, user...), 0)
	b = append(wire.AppendLenenc(b, uint64(len(auth))), auth...)
	b = append(append(b, "pt"...), 0)
	b = append(append(b, "mysql_native_password"...), 0)
	c.WritePacket(b)
	c.Flush()
	if r, err := c.ReadPacket(); err != nil || r[0] != 0 {
		t.Fatalf("login: % x %v", r, err)
	}
	return c, salt
}

// cmd sends a command and returns the response packets up to the end of
// a result (OK, ERR, or the second EOF; the first EOF for field lists).
func cmd(t *testing.T, c *wire.Conn, p []byte, fieldList bool) [][]byte {
	t.Helper()
	if err := c.WriteCommand(p); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	eofs := 0
	for {
		r, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), r...))
		if len(out) == 1 && (r[0] == 0 || r[0] == 0xff) && !fieldList {
			return out
		}
		if r[0] == 0xff {
			return out
		}
		if wire.IsEOF(r) {
			eofs++
			if fieldList || eofs == 2 {
				return out
			}
		}
	}
}

func TestRawCommands(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	c, salt := rawLogin(t, p.addr)
	// COM_PING
	if r := cmd(t, c, []byte{wire.ComPing}, false); r[0][0] != 0 {
		t.Errorf("ping: % x", r[0])
	}
	// COM_FIELD_LIST: two column definitions then EOF.
	if r := cmd(t, c, append([]byte{wire.ComFieldList}, "t\x00"...), true); len(r) != 3 || !wire.IsEOF(r[2]) {
		t.Errorf("field list: %d packets", len(r))
	}
	// COM_INIT_DB, good and bad.
	if r := cmd(t, c, append([]byte{wire.ComInitDB}, "pt2"...), false); r[0][0] != 0 {
		t.Errorf("init db: % x", r[0])
	}
	if r := cmd(t, c, append([]byte{wire.ComInitDB}, "nope"...), false); r[0][0] != 0xff || wire.ParseError(r[0]).Code != 1049 {
		t.Errorf("init db nope: % x", r[0])
	}
	q := func(sql string) string {
		r := cmd(t, c, append([]byte{wire.ComQuery}, sql...), false)
		if r[0][0] == 0xff {
			t.Fatalf("%s: %v", sql, wire.ParseError(r[0]))
		}
		if len(r) == 1 {
			return "" // OK
		}
		// column count, column def, EOF, row, EOF
		v, rest, ok := wire.ReadLenenc(r[3])
		if !ok {
			return "NULL"
		}
		return string(rest[:v])
	}
	if db := q("SELECT DATABASE()"); db != "pt2" {
		t.Errorf("after COM_INIT_DB: %q", db)
	}
	q("SET @x = 7")
	if x := q("SELECT @x"); x != "7" {
		t.Errorf("@x = %q", x)
	}
	// COM_RESET_CONNECTION forgets variables and the database change.
	if r := cmd(t, c, []byte{wire.ComResetConnection}, false); r[0][0] != 0 {
		t.Errorf("reset: % x", r[0])
	}
	if x := q("SELECT @x"); x != "NULL" {
		t.Errorf("after reset @x = %q", x)
	}
	if db := q("SELECT DATABASE()"); db != "pt" {
		t.Errorf("after reset db = %q", db)
	}
	// COM_STATISTICS answers with one string packet.
	if err := c.WriteCommand([]byte{wire.ComStatistics}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.ReadPacket(); err != nil || !strings.Contains(string(r), "Uptime") {
		t.Errorf("statistics: %q %v", r, err)
	}
	// COM_CHANGE_USER: a fresh session as another user, with its database.
	q("SET @x = 8")
	change := func(user, pw, db string) []byte {
		b := append(append([]byte{wire.ComChangeUser}, user...), 0)
		a := wire.ScrambleNative(salt, pw)
		b = append(append(b, byte(len(a))), a...)
		b = append(append(b, db...), 0)
		b = append(b, 45, 0)
		return append(append(b, "mysql_native_password"...), 0)
	}
	if r := cmd(t, c, change("nopw", "", "pt2"), false); r[0][0] != 0 {
		t.Fatalf("change user: %v", wire.ParseError(r[0]))
	}
	if x := q("SELECT @x"); x != "NULL" {
		t.Errorf("after change user @x = %q", x)
	}
	if u := q("SELECT DATABASE()"); u != "pt2" {
		t.Errorf("after change user db = %q", u)
	}
	if r := cmd(t, c, change(user, password, "pt"), false); r[0][0] != 0 {
		t.Fatalf("change user back: %v", wire.ParseError(r[0]))
	}
	// Unknown command: an error, and the connection lives on.
	if r := cmd(t, c, []byte{0x7f}, false); r[0][0] != 0xff || wire.ParseError(r[0]).Code != 1047 {
		t.Errorf("unknown command: % x", r[0])
	}
	if r := cmd(t, c, []byte{wire.ComPing}, false); r[0][0] != 0 {
		t.Errorf("ping after error: % x", r[0])
	}
	// A wrong password in COM_CHANGE_USER: 1045, and the server hangs up.
	if r := cmd(t, c, change(user, "wrong", ""), false); r[0][0] != 0xff || wire.ParseError(r[0]).Code != 1045 {
		t.Errorf("change user, wrong password: % x", r[0])
	}
	if _, err := c.ReadPacket(); err == nil {
		t.Error("connection still open after a failed change user")
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir)
	tlsYAML := fmt.Sprintf("tls: {certFile: %s, keyFile: %s, required: true}", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	p := startProxy(t, "", tlsYAML)
	db, _ := sql.Open("mysql", p.dsn("tls=skip-verify"))
	defer db.Close()
	if id := serverID(t, db, "SELECT @@server_id"); id == 0 {
		t.Error("no result over TLS")
	}
	plain, _ := sql.Open("mysql", p.dsn(""))
	defer plain.Close()
	var me *mysql.MySQLError
	if err := plain.Ping(); !errors.As(err, &me) || me.Number != 1045 {
		t.Errorf("plain client with tls.required: %v", err)
	}
}

func writeCert(t *testing.T, dir string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shardgate-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// A 100 MB result goes through with the proxy's allocations far below it:
// rows are relayed, not buffered.
func TestLargeResultStreams(t *testing.T) {
	cli := testenv.Require(t, "mariadb", "mysql")
	p := startProxy(t, "")
	host, port, _ := net.SplitHostPort(p.addr)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := exec.Command("sh", "-c", fmt.Sprintf(
		"%s --no-defaults --quick --batch --skip-column-names -h %s -P %s -u %s -p%s pt -e \"SELECT seq, REPEAT('x', 1000) FROM seq_1_to_100000\" | wc -c",
		cli, host, port, user, password)).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	runtime.ReadMemStats(&after)
	var n int
	fmt.Sscan(string(out), &n)
	if n < 100_000_000 {
		t.Fatalf("result of %d bytes", n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10<<20 {
		t.Errorf("proxy allocated %d MB relaying a %d MB result", alloc>>20, n>>20)
	}
}

func TestFoundRowsAndLocalInfile(t *testing.T) {
	p := startProxy(t, "")
	p.r.Master.Exec(t, "REPLACE INTO pt.t VALUES (50, 'same')")
	for _, tc := range []struct {
		params string
		want   int64
	}{{"", 0}, {"clientFoundRows=true", 1}} {
		db := p.db(t, tc.params)
		res, err := db.Exec("UPDATE t SET v = 'same' WHERE id = 50")
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != tc.want {
			t.Errorf("%q: rows affected %d, want %d", tc.params, n, tc.want)
		}
	}
	f := filepath.Join(t.TempDir(), "rows.tsv")
	os.WriteFile(f, []byte("60\tsixty\n61\tsixty-one\n"), 0o600)
	mysql.RegisterLocalFile(f)
	defer mysql.DeregisterLocalFile(f)
	db := p.db(t, "")
	res, err := db.Exec("LOAD DATA LOCAL INFILE '" + f + "' REPLACE INTO TABLE t")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Errorf("LOAD DATA LOCAL: %d rows", n)
	}
	var v string
	if err := db.QueryRow("/* shardgate:master */ SELECT v FROM t WHERE id = 61").Scan(&v); err != nil || v != "sixty-one" {
		t.Errorf("loaded row: %q %v", v, err)
	}
	// The connection is usable afterwards.
	if serverID(t, db, "SELECT @@server_id") == 0 {
		t.Error("unusable after LOAD DATA")
	}
}
