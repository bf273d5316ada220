package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/shardgate/shardgate/registry"
)

// errNotConnected reports that an operation ran out of time while the client
// had no session with any server: the registry is unavailable, not slow.
type errNotConnected struct {
	servers []string
	cause   error
	last    string // go-zookeeper's last message, as " (last: ...)", or ""
}

func (e *errNotConnected) Error() string {
	return fmt.Sprintf("no ZooKeeper server reachable at %s: %v%s", strings.Join(e.servers, ","), e.cause, e.last)
}

func (e *errNotConnected) Unwrap() error { return e.cause }

// errPermission marks a refusal by the server's ACLs; it maps to Invalid
// until registry has a code of its own for it.
var errPermission = errors.New("permission denied by the node's ACL (digest auth with registry username/password required)")

// convertError turns any error of the ZooKeeper client (or of the context
// bounding the call) into a *registry.Error with the matching code. path is
// the path relative to the namespace, as the caller knows it. Every error
// this package returns goes through here.
func convertError(err error, path string) error {
	if err == nil {
		return nil
	}
	var re *registry.Error
	if errors.As(err, &re) {
		return err
	}
	var nc *errNotConnected
	code := registry.Unavailable
	switch {
	case errors.Is(err, zk.ErrNoNode):
		code = registry.NotFound
	case errors.Is(err, zk.ErrNodeExists):
		code = registry.Exists
	case errors.Is(err, zk.ErrBadVersion):
		code = registry.BadVersion
	case errors.Is(err, zk.ErrNotEmpty):
		code = registry.NotEmpty
	case errors.Is(err, zk.ErrSessionExpired):
		code = registry.SessionLost
	case errors.Is(err, zk.ErrClosing):
		code = registry.Closed
	case errors.As(err, &nc):
		code = registry.Unavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// The error keeps the context's own error, so errors.Is against
		// context.Canceled still tells a cancellation from a timeout.
		code = registry.Timeout
	case errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrAuthFailed):
		code = registry.Denied
		err = fmt.Errorf("%w: %w (check registry.digest, or username/password)", errPermission, err)
	case errors.Is(err, zk.ErrInvalidACL):
		code = registry.Invalid
		err = fmt.Errorf("%w: %w", errPermission, err)
	case errors.Is(err, zk.ErrNoChildrenForEphemerals):
		code = registry.Invalid
		err = fmt.Errorf("parent is an ephemeral node, which cannot have children: %w", err)
	case errors.Is(err, zk.ErrInvalidPath), errors.Is(err, zk.ErrBadArguments), errors.Is(err, zk.ErrInvalidFlags):
		code = registry.Invalid
	case errors.Is(err, zk.ErrConnectionClosed), errors.Is(err, zk.ErrNoServer), errors.Is(err, zk.ErrSessionMoved):
		code = registry.Unavailable
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			code = registry.Timeout
		}
	}
	return registry.NewError(code, path, err)
}
