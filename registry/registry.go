package registry

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Version identifies one state of a node for compare-and-set. It is opaque:
// etcd uses the key's mod revision, ZooKeeper the znode's data version.
type Version int64

// MaxValueSize is the largest value any backend accepts. ZooKeeper's default
// jute.maxbuffer (1 MiB) bounds a whole packet, so values stay a little below.
const MaxValueSize = 1000 << 10

// Registry is a client of one registry center.
type Registry interface {
	// Get returns a node's value and version. ErrNotFound if absent.
	Get(ctx context.Context, path string) ([]byte, Version, error)

	// Put writes a persistent node, creating it and its parents as needed.
	Put(ctx context.Context, path string, value []byte) (Version, error)

	// Create writes a persistent node only if it does not exist yet.
	// ErrExists if it does.
	Create(ctx context.Context, path string, value []byte) (Version, error)

	// CompareAndSet replaces a node's value if its version is still v.
	// ErrBadVersion if it changed, ErrNotFound if it is gone.
	CompareAndSet(ctx context.Context, path string, value []byte, v Version) (Version, error)

	// PutEphemeral writes a node owned by this client's session: it vanishes
	// when the session ends and is re-created, with its last value, when the
	// client gets a new session. Parents are created persistent.
	PutEphemeral(ctx context.Context, path string, value []byte) error

	// CreateEphemeral writes a node owned by this client's session only if
	// no node is at the path (ErrExists otherwise): an exclusive claim.
	// Unlike PutEphemeral it is not re-created after a session loss (someone
	// else may hold it by then): the owner watches Session and claims again.
	CreateEphemeral(ctx context.Context, path string, value []byte) error

	// Delete removes a node. Without recursive, ErrNotEmpty if it has
	// children. ErrNotFound if nothing was there. Deleting an ephemeral node
	// also stops the client from re-creating it.
	Delete(ctx context.Context, path string, recursive bool) error

	// Children returns the sorted names of a node's direct children; an
	// absent node has none.
	Children(ctx context.Context, path string) ([]string, error)

	// Watch streams the subtree at path (the node itself and everything
	// below it). The first event is a snapshot. The watch ends when ctx ends
	// or the client closes: the last event then carries the error and the
	// channel closes. An error is returned at once if the first snapshot
	// cannot be read.
	Watch(ctx context.Context, path string) (<-chan Event, error)

	// Session reports the session's state and a channel that is closed at
	// the next change of it.
	Session() (SessionState, <-chan struct{})

	// Close deletes this client's ephemeral nodes, ends its watches and
	// releases its resources.
	Close() error
}

// EventType says what an Event reports.
type EventType int

const (
	// EventSnapshot carries the whole subtree in Nodes; it replaces
	// everything the watcher saw before.
	EventSnapshot EventType = iota
	EventPut
	EventDelete
	// EventError is the last event of a watch.
	EventError
)

func (t EventType) String() string {
	switch t {
	case EventSnapshot:
		return "snapshot"
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	case EventError:
		return "error"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Node is one path with its value.
type Node struct {
	Path    string
	Value   []byte
	Version Version
}

// Event is one item of a watch.
type Event struct {
	Type  EventType
	Node         // for EventPut and EventDelete (Value empty on delete)
	Nodes []Node // for EventSnapshot, sorted by path
	Err   error  // for EventError
}

// SessionState is the health of a client's session.
type SessionState struct {
	// Connected is true while the client reaches the server.
	Connected bool
	// Generation counts sessions: it grows by one each time a new session
	// (etcd lease, ZooKeeper session) replaces a lost one, after the client
	// re-created its ephemeral nodes.
	Generation uint64
	// Err is the last session error, if any.
	Err error
}

// CheckPath returns an ErrInvalid error unless p is a path every backend
// stores the same way: absolute, no empty, "." or ".." segments, no trailing
// slash, valid UTF-8 without control characters.
func CheckPath(p string) error {
	bad := func(why string) error {
		return &Error{Code: Invalid, Path: p, Err: fmt.Errorf("invalid path: %s", why)}
	}
	if p == "/" {
		return nil
	}
	if !strings.HasPrefix(p, "/") {
		return bad("must start with /")
	}
	if !utf8.ValidString(p) {
		return bad("not valid UTF-8")
	}
	for _, seg := range strings.Split(p[1:], "/") {
		switch seg {
		case "":
			return bad("empty segment")
		case ".", "..":
			return bad("relative segment " + seg)
		}
	}
	for _, r := range p {
		if unicode.IsControl(r) || (r >= 0xfff0 && r <= 0xffff) || (r >= 0xe000 && r <= 0xf8ff) {
			return bad(fmt.Sprintf("character %U not allowed", r))
		}
	}
	return nil
}

// CheckValue returns an ErrInvalid error if v is too large to store.
func CheckValue(p string, v []byte) error {
	if len(v) > MaxValueSize {
		return &Error{Code: Invalid, Path: p, Err: fmt.Errorf("value of %d bytes exceeds the limit of %d bytes", len(v), MaxValueSize)}
	}
	return nil
}

// Join joins a root and a path into one path.
func Join(root, p string) string {
	root = strings.TrimSuffix(root, "/")
	if p == "/" {
		if root == "" {
			return "/"
		}
		return root
	}
	return root + p
}

// Parent returns the parent path of p ("/" for top-level nodes).
func Parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
