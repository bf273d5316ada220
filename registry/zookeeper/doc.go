// Package zookeeper is the registry.Registry backend on Apache ZooKeeper
// (3.5 or later; tested against Debian's 3.8), built on
// github.com/go-zookeeper/zk.
//
// Layout. Every path is relative to Config.Namespace, which is a znode path
// ("/shardgate/app"); without a namespace the paths are the tree's own and
// ZooKeeper's /zookeeper subtree is hidden. Parents are znodes: Put, Create
// and PutEphemeral create missing ones, persistent and empty, and they show
// up in Children and watch snapshots with empty values. A Version is the
// znode's data version. An ephemeral znode cannot have children
// (ErrInvalid).
//
// Errors. Every error goes through convertError (error.go) into a
// *registry.Error: NoNode → NotFound, NodeExists → Exists, BadVersion →
// BadVersion, NotEmpty → NotEmpty, no server / connection closed →
// Unavailable, deadline or cancel → Timeout (the context's error stays in
// the chain), session expired → SessionLost, client closed → Closed, an
// ACL refusal or failed authentication → Denied, an invalid ACL → Invalid.
//
// Timeouts. go-zookeeper's calls take no context, so each runs in a
// goroutine bounded by the caller's context and Config.OperationTimeout; a
// dead server yields ErrUnavailable (no session) or ErrTimeout (a session,
// but no answer) within that time. Open waits the same time for the first
// session. The session timeout is Config.TimeToLive; the server clamps it
// to its [minSessionTimeout, maxSessionTimeout] (by default 2 and 20
// ticks). go-zookeeper pauses a second before each pass over the servers;
// the client's host provider skips that pause for the first pass after a
// session dropped or expired, so it is back as soon as a server answers.
// A server must answer the connect request within half the operation
// timeout (at least 500ms; handshake.go): go-zookeeper alone waits 6.7 × the
// session timeout for it, so a member that takes connections but does not
// answer (stuck on its disk, starting, stopping) would hold the client a
// minute before it tries another.
//
// Auth. With Config.Username and Password the client authenticates with the
// digest scheme, and every znode it creates at or below the namespace gets
// the ACL digest:username:password with all permissions and nothing for
// anyone else, not even read: config nodes hold data-source passwords.
// Operators use zkCli's "addauth digest user:password" first. Ancestors of
// the namespace are shared by namespaces and get the open ACL
// (world:anyone). Without credentials all znodes get the open ACL.
//
// Sessions and ephemerals. The client remembers each ephemeral znode it
// owns with its last value and keeps a data watch on it, so a value written
// by someone else ("set /ns/state/instances/x DISABLED") becomes the last
// value. When the session expires (StateExpired, then StateHasSession with
// a new session id) a keeper goroutine re-creates every owned ephemeral
// with its last value, then increments SessionState.Generation (0 for the
// first session, as on etcd) and closes the Session channel. An owned
// ephemeral that another client replaces is taken back with its value; one
// that another client deletes while the session lives is written again,
// empty: it stands for this process being alive, and deleting a DISABLED
// node undoes the DISABLED (DESIGN §3), as on etcd. While a repair fails
// (say an ACL now refuses it) the keeper retries with backoff and
// SessionState.Err holds the error, with Connected still true. For the same
// reason a recursive Delete that races live owners gives up with
// ErrNotEmpty after a few rounds. Close ends the session, which makes the server delete
// the client's ephemerals at once, and returns after every goroutine of the
// client has ended.
//
// Watches. A watch mirrors its subtree: every znode has a data watch and a
// child watch (an absent root an exists watch). ZooKeeper watches fire
// once; each event is handled by re-reading the znode, which re-arms the
// watch, and comparing with the mirror. After a reconnect or a new session,
// or when a read fails, the watch re-reads the whole subtree and sends a
// new EventSnapshot. A watch that ends leaves its one-shot watches on the
// server until they fire (ZooKeeper 3.8 can remove them, go-zookeeper
// cannot); events for them are dropped. go-zookeeper's single event
// callback feeds one dispatcher goroutine that routes events by path; each
// watch then does its reads in its own goroutine. A watch's channel holds
// 64 events, so a consumer that stops reading briefly does not lose the
// final EventError; one that never reads again is given up on after
// OperationTimeout.
package zookeeper
