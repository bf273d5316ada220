// Package etcd is the registry backend for etcd v3 servers (3.4 and later),
// built on go.etcd.io/etcd/client/v3.
//
// Every node is one key: the namespace followed by the node's path. A
// node's children are the keys below "path/". Ephemeral nodes are bound to
// one lease per client, renewed by keep-alive under the client's own
// context. Two traps are handled here:
//
//   - `etcdctl put KEY VALUE` on a leased key detaches it from the lease.
//     The client watches each of its ephemeral keys and re-attaches a
//     detached key to its lease, keeping the new value, so the node still
//     vanishes when the process dies.
//   - A lease that expired (server unreachable longer than the TTL, or
//     revoked) is replaced by a new one and every ephemeral node is written
//     again with its last value.
//
// An ephemeral node deleted by someone else (an operator undoing a
// DISABLED) is written again, empty: it marks a running instance.
package etcd
