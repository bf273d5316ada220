package proxy

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/internal/testenv"
)

// Front-end users stored as a native or caching_sha2_password hash or by
// reference, and a backend
// password from the environment: logins with the right password pass,
// wrong ones fail, and statements reach the backend.
func TestPasswordHashesAndReferences(t *testing.T) {
	r := harness(t)
	pwFile := filepath.Join(t.TempDir(), "app2.pw")
	if err := os.WriteFile(pwFile, []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SG_BACKEND_PW", testenv.RootPassword)
	y := fmt.Sprintf(`
listen: 127.0.0.1:0
users:
  - {name: hashed, passwordHash: '%s'}
  - {name: sha2hashed, passwordHash: '%s'}
  - {name: filed, passwordFile: %s}
dataSources:
  master: {url: "%s", username: root, passwordEnv: SG_BACKEND_PW, database: pt}
masterSlaveRule: {masterDataSourceName: master}
props: {readYourWrites: off}
`, config.NativeHash("hash-secret"), config.SHA2Hash("sha2-secret"), pwFile, r.Master.Addr())
	p := startProxyYAML(t, r, y)
	login := func(user, pw, params string) error {
		db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/pt?%s", user, pw, p.addr, params))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var one int
		return db.QueryRow("SELECT 1").Scan(&one)
	}
	for _, c := range []struct {
		user, pw, params string
		ok               bool
	}{
		{"hashed", "hash-secret", "", true},
		{"hashed", "wrong", "", false},
		// A caching_sha2_password hash: go-sql-driver answers the
		// greeting with a native scramble and is switched to sha2.
		{"sha2hashed", "sha2-secret", "", true},
		{"sha2hashed", "wrong", "", false},
		{"sha2hashed", "", "", false},
		{"hashed", "sha2-secret", "", false},
		{"filed", "file-secret", "", true},
		{"filed", "file-secret\n", "", false},
		{"nobody", "hash-secret", "", false},
	} {
		if err := login(c.user, c.pw, c.params); (err == nil) != c.ok {
			t.Errorf("%s / %q: %v, want ok=%v", c.user, c.pw, err, c.ok)
		}
	}
	// MariaDB's own client (libmariadb's plugins) logs in to both hashes.
	if cli, err := exec.LookPath("mariadb"); err == nil {
		host, port, _ := net.SplitHostPort(p.addr)
		for _, c := range []struct {
			user, pw string
			ok       bool
		}{{"sha2hashed", "sha2-secret", true}, {"sha2hashed", "wrong", false}, {"hashed", "hash-secret", true}} {
			out, err := exec.Command(cli, "--no-defaults", "-h", host, "-P", port, "-u", c.user, "-p"+c.pw, "-N", "-e", "SELECT 1", "pt").CombinedOutput()
			if (err == nil) != c.ok {
				t.Errorf("mariadb client %s / %q: %v %s, want ok=%v", c.user, c.pw, err, out, c.ok)
			}
		}
	}
	// The password file gone: its user can no longer log in at all.
	os.Remove(pwFile)
	if err := login("filed", "file-secret", ""); err == nil {
		t.Error("login with a password file that cannot be read")
	}
	if err := login("filed", "", ""); err == nil {
		t.Error("empty password accepted for a user whose password cannot be read")
	}
}

// Backend connections use TLS per data source: every mode against MariaDB
// with TLS (its certificate names 127.0.0.1), the cipher seen by the
// server's own session status; a name the certificate lacks fails with
// the TLS error, and so does required against a plain-text-only setup.
func TestBackendTLS(t *testing.T) {
	r := harness(t)
	for _, c := range []struct {
		tls, wantErr string
		encrypted    bool
	}{
		{"", "", false},
		{"{mode: disabled}", "", false},
		{"{mode: preferred}", "", true},
		{"{mode: required}", "", true},
		{fmt.Sprintf("{mode: verify-ca, ca: %q}", r.TLS.CA), "", true},
		{fmt.Sprintf("{mode: verify-full, ca: %q}", r.TLS.CA), "", true},
		{fmt.Sprintf("{mode: verify-full, ca: %q, serverName: db.example}", r.TLS.CA), "db.example", false},
		{"{mode: verify-full}", "certificate", false}, // the system's roots do not know the test CA
	} {
		t.Run(c.tls, func(t *testing.T) {
			tlsKey := ""
			if c.tls != "" {
				tlsKey = ", tls: " + c.tls
			}
			y := fmt.Sprintf(`
listen: 127.0.0.1:0
users: [{name: %s, password: %s}]
dataSources:
  master: {url: "%s", username: root, password: %s, database: pt, connectTimeout: 2s%s}
masterSlaveRule: {masterDataSourceName: master}
props: {readYourWrites: off}
`, user, password, r.Master.Addr(), testenv.RootPassword, tlsKey)
			p := startProxyYAML(t, r, y)
			db := p.db(t, "")
			var name, cipher string
			err := db.QueryRow("SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher)
			switch {
			case c.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, c.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case (cipher != "") != c.encrypted:
				t.Fatalf("Ssl_cipher %q, want encrypted=%v", cipher, c.encrypted)
			}
			if !c.encrypted {
				return
			}
			// A pooled TLS connection the server closed is found dead
			// before use: a write on it runs on a fresh one.
			root := r.Master.DB(t, "pt")
			rows, err := root.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'root' AND DB = 'pt' AND ID <> CONNECTION_ID()")
			if err != nil {
				t.Fatal(err)
			}
			var ids []int
			for rows.Next() {
				var id int
				rows.Scan(&id)
				ids = append(ids, id)
			}
			rows.Close()
			for _, id := range ids {
				root.Exec(fmt.Sprintf("KILL %d", id))
			}
			time.Sleep(100 * time.Millisecond)
			if _, err := db.Exec("DO 1"); err != nil {
				t.Fatalf("a statement after the server closed the pooled TLS connections: %v", err)
			}
		})
	}
}

// A backend account of MariaDB's ed25519 plugin: the proxy answers the
// plugin's challenge (created without the binary log, so the slaves,
// which have no such plugin loaded, are not asked to replicate it).
func TestBackendEd25519(t *testing.T) {
	r := harness(t)
	root := r.Master.DB(t, "pt")
	c, err := root.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{
		"SET SESSION sql_log_bin = 0",
		"INSTALL SONAME 'auth_ed25519'",
		"DROP USER IF EXISTS 'edsg'@'127.0.0.1'",
		"CREATE USER 'edsg'@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('ed-secret')",
		"GRANT ALL ON pt.* TO 'edsg'@'127.0.0.1'",
	} {
		if _, err := c.ExecContext(t.Context(), q); err != nil && !strings.Contains(err.Error(), "already installed") {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, pw := range []string{"ed-secret", "wrong"} {
		y := fmt.Sprintf(`
listen: 127.0.0.1:0
users: [{name: %s, password: %s}]
dataSources:
  master: {url: "%s", username: edsg, password: %s, database: pt, connectTimeout: 2s}
masterSlaveRule: {masterDataSourceName: master}
props: {readYourWrites: off}
`, user, password, r.Master.Addr(), pw)
		p := startProxyYAML(t, r, y)
		var who string
		err := p.db(t, "").QueryRow("SELECT CURRENT_USER()").Scan(&who)
		switch {
		case pw == "wrong" && err == nil:
			t.Fatal("a wrong ed25519 password connected")
		case pw != "wrong" && (err != nil || !strings.HasPrefix(who, "edsg@")):
			t.Fatalf("ed25519 account: %q %v", who, err)
		}
	}
}
