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
//   - A statement is admitted (Snapshot.Admit: the circuit breaker), then
//     planned (Snapshot.Plan) into units — group, data source, the SQL to
//     send — and how their results combine; read/write splitting has one
//     unit with the statement unchanged. Runtime.Run runs a plan through
//     the front end's Executor and retries as Attempt allows (a read
//     elsewhere after a connection failure before anything reached the
//     client; never inside a transaction or on a held connection).
//   - Session state is the engine's: front ends report an Outcome, they do
//     not set fields. See docs/engine.md.
package engine
