package driver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry/memory"
)

// The driver's connections to a data source follow its tls settings
// (go-sql-driver's TLS with the same verification as the proxy's).
func TestDriverBackendTLS(t *testing.T) {
	r := replication(t)
	srv := memory.NewServer()
	defer srv.Close()
	for _, c := range []struct {
		tls       string
		encrypted bool
		wantErr   string
	}{
		{"{mode: disabled}", false, ""},
		{fmt.Sprintf("{mode: verify-full, ca: %q}", r.TLS.CA), true, ""},
		{fmt.Sprintf("{mode: verify-full, ca: %q, serverName: db.example}", r.TLS.CA), false, "db.example"},
	} {
		t.Run(c.tls, func(t *testing.T) {
			y := fmt.Sprintf(`
users: [{name: app, password: app-secret}]
dataSources:
  m: {url: "%s", username: root, password: %s, database: drv, connectTimeout: 2s, tls: %s}
masterSlaveRule: {masterDataSourceName: m}
orchestration:
  name: drvtls%d
  overwrite: true
  instanceIP: 127.0.0.1
  registry: {type: memory, serverLists: [%s]}
`, r.Master.Addr(), testenv.RootPassword, c.tls, len(c.tls), srv.Name())
			p := filepath.Join(t.TempDir(), "shardgate.yaml")
			if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
				t.Fatal(err)
			}
			db := open(t, p)
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
		})
	}
}
