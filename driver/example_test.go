package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"log"

	"github.com/shardgate/shardgate/driver"
)

// The application opens shardgate like any database/sql driver; the
// process becomes a registered shardgate instance until db.Close.
func Example() {
	db, err := sql.Open("shardgate", "/etc/app/shardgate.yaml")
	if err != nil {
		log.Fatal(err) // config or registry problem, naming the key
	}
	defer db.Close() // deregisters the instance

	ctx := context.Background()
	var name string
	err = db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = ?", 42).Scan(&name) // a slave
	switch {
	case errors.Is(err, driver.ErrInstanceDisabled):
		// The operator opened the circuit breaker on this instance.
	case errors.Is(err, driver.ErrMasterDisabled):
		// Only reads work for now.
	case err != nil:
		log.Print(err)
	}

	// Read-your-writes and SET state live in a session: a *sql.Conn.
	conn, err := db.Conn(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.ExecContext(ctx, "UPDATE users SET name = ? WHERE id = ?", "ada", 42)       // the master
	conn.QueryRowContext(ctx, "SELECT name FROM users WHERE id = ?", 42).Scan(&name) // the master too
}
