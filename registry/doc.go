// Package registry defines shardgate's registry center: one small,
// path-based interface over etcd, ZooKeeper and an embedded etcd server.
//
// Paths are absolute and slash-separated ("/state/instances/10.0.0.5@-@42"),
// relative to the client's namespace (its root). Every node holds a value;
// on ZooKeeper parents are nodes too and are created, empty, as needed.
//
// Rules every backend follows (and registrytest checks against the real
// servers):
//   - Errors are *Error values matchable with errors.Is against ErrNotFound,
//     ErrExists, ErrBadVersion, ErrNotEmpty, ErrUnavailable, ErrTimeout,
//     ErrSessionLost, ErrInvalid and ErrClosed.
//   - Every call is bounded by the context and by Config.OperationTimeout,
//     so an unreachable server yields ErrUnavailable or ErrTimeout, never
//     a hang.
//   - Ephemeral nodes belong to the client's session. The client remembers
//     each one with its last value (including values other clients write)
//     and re-creates it after the session was lost; a graceful Close deletes
//     them at once.
//   - A watch starts with a full snapshot of the subtree and then streams
//     put and delete events. Whenever the backend cannot guarantee that no
//     event was missed (etcd compaction, a new ZooKeeper session, a
//     reconnect), it sends a new full snapshot that replaces the old view.
package registry
