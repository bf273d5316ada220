// Package proxy is the MySQL-protocol front end: it accepts client
// connections, authenticates them against the configured users, and hands
// every statement to the engine, then relays the backend's answer.
//
// Rules:
//   - One goroutine per client connection; its commands never overlap, so a
//     session's state needs no lock. A panic ends that connection only.
//   - Responses are relayed packet by packet (wire.Relay): rows are never
//     decoded, large results stream through a fixed buffer.
//   - Prepared statements are classified once at prepare and executed
//     natively on the backend (COM_STMT_EXECUTE), prepared lazily on
//     whichever backend connection the execution lands on.
//   - A read that fails on a slave before any byte reached the client is
//     retried on another slave, then on the master. Nothing else is retried.
//   - A connection stays usable after any error the server reports.
//
// Why not vitess go/mysql's server: its Handler receives decoded results
// (sqltypes.Result) and re-encodes every row, splits multi-statements with
// its own parser, decodes COM_STMT_EXECUTE into bind variables, and its
// client has no binary protocol; every one of those is a cost or a
// behaviour change the issue asks us to avoid. See docs/proxy.md.
package proxy
