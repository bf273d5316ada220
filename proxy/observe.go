package proxy

import (
	"time"

	"github.com/shardgate/shardgate/engine"
)

// Observer is told about every statement the proxy routed, through the
// SessionObserver it gives each client session.
type Observer interface {
	// Session returns the observer of a new client session.
	Session() SessionObserver
}

// SessionObserver is told about each statement of one session: the data
// source that ran it ("" when none did), its class, how long it took
// including the relay of the answer, and the MySQL error code it ended
// with (0 for success). It is called on the session's goroutine only, so
// it can keep its numbers unshared; it must be cheap and must not block.
// End is called once, when the session ends.
type SessionObserver interface {
	Statement(dataSource string, cls engine.Class, d time.Duration, errCode uint16)
	End()
}

// SetObserver installs o; call it before Serve.
func (s *Server) SetObserver(o Observer) { s.obs = o }
