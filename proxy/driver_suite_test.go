package proxy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/shardgate/shardgate/internal/testenv"
)

// TestGoSQLDriverSuite runs go-sql-driver/mysql's own test suite through the
// proxy (TLS on, master and slave both the harness's master so that the
// suite's read-after-write across pooled connections holds). Everything
// passes as it does against MariaDB directly, except two tests skipped:
// TestConnectorReturnsTimeout panics inside the driver whatever the server,
// and TestTLS checks SHOW STATUS LIKE 'Ssl_cipher', which reports the
// backend connection's (plain) session, not the client's TLS.
func TestGoSQLDriverSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	r := harness(t)
	r.Master.Exec(t, "CREATE DATABASE IF NOT EXISTS gotest")
	dir := t.TempDir()
	writeCert(t, dir)
	y := fmt.Sprintf(`
users: [{name: %s, password: %s}]
tls: {certFile: %s, keyFile: %s}
dataSources:
  master: {url: "%s", username: root, password: %s, database: gotest}
  slave:  {url: "%s", username: root, password: %s, database: gotest}
masterSlaveRule: {masterDataSourceName: master, slaveDataSourceNames: [slave]}
`, user, password, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"),
		r.Master.Addr(), testenv.RootPassword, r.Master.Addr(), testenv.RootPassword)
	p := startProxyYAML(t, r, y)
	cmd := exec.Command(goBin, "test", "-count=1", "-skip", "TestConnectorReturnsTimeout|TestTLS$", "github.com/go-sql-driver/mysql")
	cmd.Env = append(os.Environ(),
		"MYSQL_TEST_USER="+user, "MYSQL_TEST_PASS="+password, "MYSQL_TEST_PROT=tcp",
		"MYSQL_TEST_ADDR="+p.addr, "MYSQL_TEST_DBNAME=gotest")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if len(out) > 8000 {
			out = out[len(out)-8000:]
		}
		t.Fatalf("go-sql-driver suite through the proxy: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
