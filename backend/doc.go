// Package backend holds the connections to MariaDB/MySQL servers: one
// bounded pool per data source, with idle timeout and a health probe.
//
// Rules: a connection that saw an I/O error is marked broken and closed,
// never put back; a connection is put back only clean (no open transaction,
// no session state the next user would inherit without knowing — see
// Conn.StateKey and Conn.Tainted); a pool that failed to connect is marked down, so routing
// skips it until the probe reconnects.
package backend
