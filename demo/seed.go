package demo

import (
	"context"
	"database/sql"
	"fmt"

	_ "github.com/go-sql-driver/mysql" // the demo seeds its data through the proxy
)

// seed creates the demo table through the proxy, as a user would.
func seed(ctx context.Context, proxyAddr string) error {
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/demo", User, Password, proxyAddr))
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS items (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64))",
		"INSERT INTO items (name) VALUES ('apple'), ('pear')",
		// Sharded: the DDL runs on every actual table of both groups.
		"CREATE TABLE IF NOT EXISTS t_order (order_id BIGINT PRIMARY KEY, user_id INT NOT NULL, amount DECIMAL(10,2))",
		"INSERT INTO t_order (user_id, amount) VALUES (1, 12.00), (2, 7.50), (3, 1.25), (4, 30.00)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("demo: seed through the proxy: %s: %w", q, err)
		}
	}
	return nil
}
