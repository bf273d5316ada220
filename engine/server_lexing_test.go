package engine_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/internal/sqlgen"
	"github.com/shardgate/shardgate/internal/testenv"
)

// TestClassifyAgreesWithServer runs generated texts that try to hide a
// write on a real MariaDB, under every sql_mode and character set that
// changes lexing, and checks that none that wrote is classified as a read:
// the server is the reference lexer.
func TestClassifyAgreesWithServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB")
	}
	r := testenv.StartReplication(t, 0)
	r.Master.Exec(t, "CREATE DATABASE lex", "CREATE TABLE lex.m (id INT AUTO_INCREMENT PRIMARY KEY)")
	db := r.Master.DB(t, "lex")
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 4000
	var count, wrote, reads int
	for i := 0; i < n; i++ {
		text := sqlgen.Hiding(rng, "INSERT INTO m VALUES ()")
		mode := sqlgen.Modes[rng.IntN(len(sqlgen.Modes))]
		cs := sqlgen.Charsets[rng.IntN(len(sqlgen.Charsets))]
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = '"+mode+"', NAMES "+cs); err != nil {
			t.Fatal(err)
		}
		conn.ExecContext(ctx, text) // most fail to parse; what ran, ran
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = '', NAMES utf8mb4"); err != nil {
			t.Fatal(err)
		}
		var now int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM m").Scan(&now); err != nil {
			t.Fatal(err)
		}
		c := engine.Classify(text)
		if c&engine.Read != 0 {
			reads++
		}
		if now != count {
			wrote++
			if c&engine.Read != 0 {
				t.Errorf("sql_mode %q, charset %s: %q wrote on the server but is classified %s", mode, cs, text, c)
			}
		}
		count = now
	}
	t.Logf("%d texts: %d wrote on the server, %d classified as reads", n, wrote, reads)
	if wrote < n/10 || reads < n/20 {
		t.Errorf("generator too weak: %d of %d wrote, %d reads", wrote, n, reads)
	}
}
