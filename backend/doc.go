// Package backend holds the proxy's connections to MariaDB/MySQL servers:
// one bounded pool per data source, with idle timeout, opened by the
// engine through proxy.OpenPool (Pool is an engine.Pool).
//
// Rules: a connection that saw an I/O error is marked broken and closed,
// never put back; a connection is put back only clean (no open transaction,
// no session state the next user would inherit without knowing — see
// Conn.StateKey and Conn.Tainted); a failed dial is reported to the
// engine, which marks the data source down, so routing skips it until the
// engine's probe (Pool.Probe) reconnects.
package backend
