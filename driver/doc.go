// Package driver is shardgate as a database/sql driver: the application
// process itself is the shardgate instance. It routes every statement with
// the same engine as the proxy (read/write splitting, read-your-writes,
// the /* shardgate:master */ hint, transactions pinned to the master) and
// obeys the same registry: it registers state/instances/{ip}@-@{pid},
// honours the circuit breaker and disabled data sources, and applies
// config changes live.
//
//	db, err := sql.Open("shardgate", "/etc/app/shardgate.yaml")
//
// or, with a config built in code:
//
//	c, err := driver.NewConnector(file) // *orchestration.File
//	db := sql.OpenDB(c)
//
// Rules:
//   - Every routing decision reads one engine snapshot (an atomic load);
//     each data source in it carries its pool, so a statement never sees a
//     pool of one config and a rule of another.
//   - Backends are reached through github.com/go-sql-driver/mysql: one
//     pool per data source, opened by the engine through this package's
//     PoolFactory before a config swap and closed after it (connections in
//     use finish first). A failed dial marks the data source down in the
//     engine, whose probe reconnects with this pool (so with its TLS and
//     DSN parameters), not with the proxy's.
//   - A driver connection is one shardgate session. Its backend
//     connections are taken per statement and given back when the
//     statement (or its rows) ends, except while it is pinned: in a
//     transaction, with autocommit off, after a statement that ties it to
//     one server (temporary tables, user locks, SQL PREPARE), or while it
//     carries SET/USE state, which is replayed on every backend connection
//     it takes and which such a connection keeps until the session ends.
//   - A circuit-broken instance fails every statement with an *Error
//     matching ErrInstanceDisabled; no backend is touched and no empty
//     result is ever returned. Rollback always works; Commit fails with
//     the same error after rolling the transaction back.
//   - Connector.Close (called by sql.DB.Close) stops the orchestration,
//     deletes the instance node, closes every pool and the registry
//     client: no goroutine is left.
package driver
