package engine

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"CREATE USER 'bob'@'%' IDENTIFIED BY 's3cr''et'":               "CREATE USER '***'@'***' IDENTIFIED BY '***'",
		`alter user bob identified by "p\"w"`:                          `alter user bob identified by "***"`,
		"SET PASSWORD FOR bob = PASSWORD('x')":                         "SET PASSWORD FOR bob = PASSWORD('***')",
		"CHANGE MASTER TO MASTER_PASSWORD='replpw', MASTER_HOST='h'":   "CHANGE MASTER TO MASTER_PASSWORD='***', MASTER_HOST='***'",
		"GRANT ALL ON *.* TO x IDENTIFIED VIA ed25519 USING 'unclosed": "GRANT ALL ON *.* TO x IDENTIFIED VIA ed25519 USING '***'",
		"SELECT 'password'":                "SELECT '***'",
		"SELECT * FROM t WHERE v = 'keep'": "SELECT * FROM t WHERE v = 'keep'",
	} {
		if got := Redact([]byte(in)); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
		if strings.Contains(Redact([]byte(in)), "s3cr") {
			t.Errorf("%s: secret left", in)
		}
	}
}
