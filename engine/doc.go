// Package engine classifies and routes statements. It is the one core that
// every front end (the MySQL proxy and the database/sql driver) hands
// statements to.
//
// Rules:
//   - Routing reads one immutable *Snapshot per statement from
//     Runtime.Snapshot (an atomic.Pointer load); nothing on the statement
//     path locks except the classification cache's shard read lock.
//   - Runtime.Apply and Runtime.SetState build a whole new Snapshot and swap
//     it: pools for added or changed data sources are opened before the swap,
//     pools that left are drained and closed after it.
//   - The engine owns each data source's health (Health: down after a
//     failed dial, probed back every healthCheckInterval) and reaches its
//     pool only through the Pool interface: the front end opens pools with
//     its own PoolFactory (the proxy's wire pools, the driver's
//     go-sql-driver pools), one pool set per data source in either mode.
//     The engine imports no backend or wire code.
//   - A write is never routed to a slave: Classify sets Read only on
//     statements it positively knows to be plain reads, and Route sends
//     anything else to the master or fails. The lexer (lex.go) reads text
//     as MariaDB's does, under every sql_mode, client charset and server
//     version that could split it differently; a text is a read only when
//     every reading says so, and never when it holds several statements.
//     Slave connections (backend) also run read-only, one statement per
//     command, so a misreading fails there instead of writing.
//   - A route is a list of execution units (data source, statement); for
//     read/write splitting it has one unit with the statement unchanged, so
//     sharding can add units and rewrites later without a new shape.
package engine
