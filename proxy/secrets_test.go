package proxy

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/internal/testenv"
)

// Front-end users stored as a native hash or by reference, and a backend
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
  - {name: filed, passwordFile: %s}
dataSources:
  master: {url: "%s", username: root, passwordEnv: SG_BACKEND_PW, database: pt}
masterSlaveRule: {masterDataSourceName: master}
props: {readYourWrites: off}
`, config.NativeHash("hash-secret"), pwFile, r.Master.Addr())
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
		{"filed", "file-secret", "", true},
		{"filed", "file-secret\n", "", false},
		{"nobody", "hash-secret", "", false},
	} {
		if err := login(c.user, c.pw, c.params); (err == nil) != c.ok {
			t.Errorf("%s / %q: %v, want ok=%v", c.user, c.pw, err, c.ok)
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
