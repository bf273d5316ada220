package proxy

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// With props.readOnlyTransactionsOnSlave a read-only transaction
// (database/sql's BeginTx ReadOnly: START TRANSACTION READ ONLY) runs on
// one slave connection from its first statement to its COMMIT; a write in
// it gets the slave's own refusal; without the prop it runs on the master.
func TestReadOnlyTransactionsOnSlave(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, "readYourWrites: off, readOnlyTransactionsOnSlave: true")
	for _, params := range []string{"", "interpolateParams=true"} {
		db := p.db(t, params)
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		id, conn := serverID(t, tx, "SELECT @@server_id"), serverID(t, tx, "SELECT CONNECTION_ID()")
		if id == 1 {
			t.Fatalf("%s: a read-only transaction on the master (server 1)", params)
		}
		for range 4 {
			if got := serverID(t, tx, "SELECT @@server_id + 0 * ?", 1); got != id {
				t.Fatalf("%s: the transaction moved from server %d to %d", params, id, got)
			}
			if got := serverID(t, tx, "SELECT CONNECTION_ID()"); got != conn {
				t.Fatalf("%s: the transaction moved from connection %d to %d", params, conn, got)
			}
		}
		var me *mysql.MySQLError
		if _, err := tx.Exec("REPLACE INTO pt.t VALUES (900, 'ro')"); !errors.As(err, &me) || me.Number != 1792 {
			t.Fatalf("%s: a write in the read-only transaction: %v, want the slave's 1792", params, err)
		}
		// The refused write left the transaction open, on its connection.
		if got := serverID(t, tx, "SELECT COUNT(*) * 0 + CONNECTION_ID() FROM pt.t"); got != conn {
			t.Fatalf("%s: after a refused write the transaction moved to connection %d (was %d)", params, got, conn)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		// And no slave connection is left with a transaction open.
		for _, sl := range p.r.Slaves {
			db := sl.DB(t, "")
			var open int
			if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.INNODB_TRX").Scan(&open); err != nil || open != 0 {
				t.Fatalf("%s: %d transactions open on slave %d after COMMIT (%v)", params, open, sl.ServerID, err)
			}
		}
		// After it, the session routes again: writes to the master.
		if _, err := db.Exec("REPLACE INTO pt.t VALUES (900, 'after')"); err != nil {
			t.Fatal(err)
		}
	}
	// Inside one, what would leave the slave's connection is refused.
	c, err := p.db(t, "").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "START TRANSACTION READ ONLY"); err != nil {
		t.Fatal(err)
	}
	var me *mysql.MySQLError
	for _, q := range []string{"BEGIN", "SET autocommit = 0", "SELECT GET_LOCK('x', 0)"} {
		if _, err := c.ExecContext(ctx, q); !errors.As(err, &me) || me.Number != 1235 {
			t.Errorf("%s in a read-only transaction on a slave: %v, want 1235", q, err)
		}
	}
	if id := serverID(t, c, "SELECT @@server_id"); id == 1 {
		t.Fatal("the transaction left its slave")
	}
	if _, err := c.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if id := serverID(t, c, "SELECT @@server_id FOR UPDATE"); id != 1 {
		t.Fatalf("a locking read after the transaction ran on server %d", id)
	}

	// Without the prop a read-only transaction is the master's.
	q := startProxy(t, "readYourWrites: off")
	tx, err := q.db(t, "").BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if id := serverID(t, tx, "SELECT @@server_id"); id != 1 {
		t.Fatalf("without readOnlyTransactionsOnSlave: server %d, want the master", id)
	}
}
