// Command driver is a small application that embeds shardgate as its
// database/sql driver: the process registers itself as a shardgate
// instance, reads go to the slaves, writes and transactions to the master,
// and the registry's circuit breaker and disabled data sources apply to
// it. See docs/driver.md.
//
//	go run ./examples/driver -config examples/driver/shardgate.yaml
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/shardgate/shardgate/driver" // registers "shardgate"
)

func main() {
	cfg := flag.String("config", "examples/driver/shardgate.yaml", "shardgate instance file")
	loop := flag.Duration("loop", 0, "keep reading every second for this long (try the operator commands meanwhile)")
	flag.Parse()
	if err := run(*cfg, *loop); err != nil {
		log.Fatal(err)
	}
}

func run(path string, loop time.Duration) error {
	db, err := sql.Open("shardgate", path)
	if err != nil {
		return err
	}
	// Close deregisters the instance and stops its goroutines.
	defer db.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS greeting (id INT PRIMARY KEY, text VARCHAR(64), at DATETIME)"); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	if _, err := db.ExecContext(ctx, "REPLACE INTO greeting VALUES (1, 'hello from the master', NOW())"); err != nil {
		return fmt.Errorf("write: %w", err)
	}

	// Plain reads go to the slaves, round robin.
	for range 4 {
		fmt.Printf("read served by server_id %d\n", serverID(ctx, db))
	}

	// A sql.Conn is one session: after its write, its reads go to the
	// master (props.readYourWrites: session), so it sees its own write.
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "UPDATE greeting SET text = 'updated', at = NOW() WHERE id = 1"); err != nil {
		return err
	}
	var text string
	var at time.Time // parseTime=true in the data source URL
	if err := conn.QueryRowContext(ctx, "SELECT text, at FROM greeting WHERE id = 1").Scan(&text, &at); err != nil {
		return err
	}
	fmt.Printf("session reads its own write: %q at %s (server_id %d)\n", text, at.Format(time.TimeOnly), serverID(ctx, conn))
	conn.Close()

	// Transactions stay on the master connection they started on.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Printf("transaction served by server_id %d\n", serverID(ctx, tx))
	if err := tx.Commit(); err != nil {
		return err
	}

	// A read-only transaction may run on a slave
	// (props.readOnlyTransactionsOnSlave).
	ro, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	fmt.Printf("read-only transaction served by server_id %d\n", serverID(ctx, ro))
	ro.Rollback()

	deadline := time.Now().Add(loop)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var id int
		err := db.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id)
		switch {
		case errors.Is(err, driver.ErrInstanceDisabled):
			// The operator wrote DISABLED to this instance's node.
			fmt.Println("circuit breaker open:", err)
		case err != nil:
			fmt.Println("read failed:", err)
		default:
			fmt.Printf("read served by server_id %d\n", id)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func serverID(ctx context.Context, q queryer) int {
	var id int
	if err := q.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err != nil {
		log.Fatal(err)
	}
	return id
}
